# Supervised oracle on CamVid (the upper bound): the same network, data and
# budget as the seen-only configs, trained with ALL 11 classes on all 367
# training images. Not a zero-shot model; evaluated like them (seen /
# unseen / harmonic mIoU for the fence + bicyclist split).
_base_ = [
    './_base_/models/deeplabv3plus_effnet-lite0.py',
    './_base_/datasets/zs3_camvid.py',
    './_base_/schedules/zs3_camvid_400it.py',
    './_base_/zs3_runtime.py',
]
custom_imports = dict(imports=['mmseg_zs3'], allow_failed_imports=False)
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
