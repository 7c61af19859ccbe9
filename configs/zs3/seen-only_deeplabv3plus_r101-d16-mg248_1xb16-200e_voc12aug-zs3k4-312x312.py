_base_ = [
    './_base_/models/deeplabv3plus_r101-d16-mg248.py',
    './_base_/datasets/zs3_voc12aug.py',
    './_base_/schedules/zs3_stage1_200e.py', './_base_/zs3_runtime.py'
]
zs3_split = dict(name='zs3_voc', k=4)
model = dict(
    data_preprocessor=dict(size=_base_.crop_size),
    decode_head=dict(num_classes=21))
train_dataloader = dict(dataset=dict(split=zs3_split))
val_evaluator = dict(split=zs3_split)
test_evaluator = val_evaluator
log_processor = dict(by_epoch=True)
