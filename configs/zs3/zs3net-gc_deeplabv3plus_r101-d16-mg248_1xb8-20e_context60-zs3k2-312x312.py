_base_ = [
    './zs3net_deeplabv3plus_r101-d16-mg248_1xb8-20e_'
    'context60-zs3k2-312x312.py', './_base_/models/zs3net_gc.py'
]
model = dict(generative_head=_base_.zs3net_gc_head)
train_cfg = dict(
    _delete_=True,
    type='EpochBasedTrainLoop',
    max_epochs={{_base_.max_epochs}},
    val_interval={{_base_.max_epochs}})
