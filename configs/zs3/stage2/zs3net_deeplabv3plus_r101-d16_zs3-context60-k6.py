# ZS3Net stage 2, Pascal-Context-60, K = 6 unseen classes (split 'zs3_context',
# k=6), strict layout: the recipe of
# zs3net_deeplabv3plus_r101-d16_zs3-context60-k2.py (which lists the
# hyper-parameters and every deviation from the official code) with the split
# and the stage-1 checkpoint of K = 6.
_base_ = ['./zs3net_deeplabv3plus_r101-d16_zs3-context60-k2.py']
load_from = ('work_dirs/deeplabv3plus_r101-d16_zs3-context60-k6_seen-only/'
             'epoch_200.pth')
zs3_split = dict(name='zs3_context', k=6)
model = dict(decode_head=dict(split=zs3_split))
train_dataloader = dict(dataset=dict(split=zs3_split))
val_evaluator = dict(split=zs3_split)
test_evaluator = val_evaluator
