# ZS3Net stage 2, Pascal-Context-60, K = 4 unseen classes (split 'zs3_context',
# k=4), strict layout: the recipe of
# zs3net_deeplabv3plus_r101-d16-mg248_1xb8-20e_context60-zs3k2-312x312.py (which lists the
# hyper-parameters and every deviation from the official code) with the split
# and the stage-1 checkpoint of K = 4.
_base_ = [
    './zs3net_deeplabv3plus_r101-d16-mg248_1xb8-20e_context60-zs3k2-312x312.py'
]
load_from = (
    'work_dirs/seen-only_deeplabv3plus_r101-d16-mg248_1xb10-200e_context60-zs3k4-312x312/'
    'epoch_200.pth')
zs3_split = dict(name='zs3_context', k=4)
model = dict(decode_head=dict(split=zs3_split))
train_dataloader = dict(dataset=dict(split=zs3_split))
val_evaluator = dict(split=zs3_split)
test_evaluator = val_evaluator
