# Pascal-Context with 60 classes (background is a class; mmseg's
# PascalContextDataset, classes in alphabetical order: splits are resolved by
# name) for ZS3Net stage 1, seen-only: 4998 train / 5105 val images.
# Training data wrapped in SeenOnlyDataset (policy 'drop_image' = the paper;
# 'ignore' = the peers). Recipe: random scale 0.5-2.0 of a 312 short side,
# crop 312, flip, Gaussian blur (p=0.5; RandomGaussianBlur, as mmseg has no
# 2-D blur), pad (image 0, label 255), total batch 10.
# Validation: short side resized to 513, single scale, ZeroShotIoUMetric.
# CheckSegMap (after LoadAnnotations) refuses, naming the file, a label value
# that is no class (255 is ignored), a label map of another size than its
# image, or one with 3 channels.
# 'drop_image' scans the annotations once (with the pipeline's LoadAnnotations
# and its backend_args) and caches the class presence per user, in
# $MMSEG_ZS3_CACHE/class_presence or ~/.cache/mmseg_zs3/class_presence (never
# next to the data); set cache_dir in the SeenOnlyDataset dict to choose.
# Set the split's k in the config that inherits this file.
_base_ = ['mmseg::_base_/datasets/pascal_context.py']
data_root = 'data/VOCdevkit/VOC2010/'
crop_size = (312, 312)
zs3_split = dict(name='zs3_context', k=None)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegMap', num_classes=60),
    dict(
        type='RandomResize',
        scale=(2048, 312),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    # the official stage 1 blurs half of the images (sigma ~ U[0, 1) px)
    dict(type='RandomGaussianBlur', prob=0.5, sigma_range=(0., 1.)),
    dict(type='Pad', size=crop_size),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 513), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegMap', num_classes=60),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=10,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='SeenOnlyDataset',
        dataset=dict(
            type='PascalContextDataset',
            data_root=data_root,
            data_prefix=dict(
                img_path='JPEGImages',
                seg_map_path='SegmentationClassContext'),
            ann_file='ImageSets/SegmentationContext/train.txt',
            pipeline=train_pipeline),
        split=zs3_split,
        policy='drop_image'))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='ZeroShotIoUMetric',
    split=zs3_split,
    nan_policy='ignore',
    iou_metrics=['mIoU'])
test_evaluator = val_evaluator
