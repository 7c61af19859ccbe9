# ZS3Net + GC stage 2, Pascal-Context-60, K = 10, strict: ZS3Net's stage 2
# (zs3net_deeplabv3plus_r101-d16-mg248_1xb8-20e_context60-zs3k10-312x312.py,
# seen-only images) plus the graph-context generator of
# _base_/models/zs3net_gc.py. No unseen ground truth is read: unseen nodes
# enter the graphs by substitution (an unseen class in the place of a node of
# its nearest seen class). The graphs come from label maps, which the feature
# cache does not keep: the frozen network runs at every step
# (EpochBasedTrainLoop). Published (ZS3Net + GC, K = 10, paper layout):
# not published (ZS3Net: 20.8 / 12.7 / 15.8).
_base_ = [
    './zs3net_deeplabv3plus_r101-d16-mg248_1xb8-20e_'
    'context60-zs3k10-312x312.py', './_base_/models/zs3net_gc.py'
]
model = dict(generative_head=_base_.zs3net_gc_head)
train_cfg = dict(
    _delete_=True,
    type='EpochBasedTrainLoop',
    max_epochs={{_base_.max_epochs}},
    val_interval={{_base_.max_epochs}})
