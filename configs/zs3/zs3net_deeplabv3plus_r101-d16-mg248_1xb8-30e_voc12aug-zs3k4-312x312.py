# ZS3Net stage 2, VOC12aug, K = 4 unseen classes (split 'zs3_voc', k=4), strict
# layout: the recipe of zs3net_deeplabv3plus_r101-d16-mg248_1xb8-30e_voc12aug-zs3k2-312x312.py (which
# lists the hyper-parameters and every deviation from the official code) with
# the split and the stage-1 checkpoint of K = 4.
_base_ = [
    './zs3net_deeplabv3plus_r101-d16-mg248_1xb8-30e_voc12aug-zs3k2-312x312.py'
]
load_from = (
    'work_dirs/seen-only_deeplabv3plus_r101-d16-mg248_1xb16-200e_voc12aug-zs3k4-312x312/'
    'epoch_200.pth')
zs3_split = dict(name='zs3_voc', k=4)
model = dict(decode_head=dict(split=zs3_split))
train_dataloader = dict(dataset=dict(split=zs3_split))
val_evaluator = dict(split=zs3_split)
test_evaluator = val_evaluator
