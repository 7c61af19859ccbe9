_base_ = [
    'mmseg::deeplabv3plus/'
    'deeplabv3plus_r101-d8_4xb4-80k_pascal-context-480x480.py',
    './_base_/zs3_runtime_hooks.py',
]
zs3_split = dict(name='zs3_context', k=6)
val_evaluator = dict(
    _delete_=True,
    type='ZeroShotIoUMetric',
    split=zs3_split,
    iou_metrics=['mIoU'])
test_evaluator = val_evaluator
