# ZS3Net stage 1 on the shapes demo: a small U-Net (mmseg UNet + FCNHead)
# trained on seen classes only (images with unseen pixels dropped). Its unseen
# mIoU is 0 by construction: it never predicts an unseen class.
_base_ = [
    './_base_/models/unet-s2_fcn-tiny.py',
    './_base_/zs3_shapes_seen_only_data.py',
    './_base_/schedules/zs3_shapes_schedule.py',
    './_base_/zs3_runtime.py',
]
custom_imports = dict(imports=['mmseg_zs3'], allow_failed_imports=False)
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
