# Supervised oracle of ZS3Net on Pascal-Context (60 classes), K = 8 unseen
# classes: mmseg's own DeepLabV3+ R-101-D8 (the mmseg config below, SyncBN)
# trained on ALL 60 classes, unseen ones included: not a zero-shot model but
# the upper bound. Evaluated with ZeroShotIoUMetric on the split 'zs3_context',
# k=8, so that its seen / unseen / harmonic mIoU compare with the seen-only,
# DeViSE and ZS3Net rows of the same K.
# The training is the same for every K: train one of these configs once and
# test its checkpoint with the config of each K (tools/test.py).
_base_ = [
    'mmseg::deeplabv3plus/'
    'deeplabv3plus_r101-d8_4xb4-80k_pascal-context-480x480.py',
    './_base_/zs3_runtime_hooks.py',
]
zs3_split = dict(name='zs3_context', k=8)
val_evaluator = dict(
    _delete_=True,
    type='ZeroShotIoUMetric',
    split=zs3_split,
    iou_metrics=['mIoU'])
test_evaluator = val_evaluator
