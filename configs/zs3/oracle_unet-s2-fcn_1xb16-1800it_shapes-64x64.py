# Supervised oracle (the upper bound of the demo): trained with ALL classes,
# unseen ones included. Not a zero-shot model.
_base_ = [
    './_base_/models/unet-s2_fcn-tiny.py',
    './_base_/datasets/zs3_shapes.py',
    './_base_/schedules/zs3_shapes_schedule.py',
    './_base_/zs3_runtime.py',
]
custom_imports = dict(imports=['mmseg_zs3'], allow_failed_imports=False)
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
# Evaluated like the zero-shot models: seen / unseen / harmonic mIoU.
val_evaluator = dict(
    _delete_=True,
    type='ZeroShotIoUMetric',
    split={{_base_.zs3_split}},
    iou_metrics=['mIoU'])
test_evaluator = val_evaluator
