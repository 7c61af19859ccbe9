# VOC 2012 + SBD ("voc12aug", 10582 images) for ZS3Net stage 1, seen-only.
# Training data: mmseg's voc12aug ConcatDataset wrapped in SeenOnlyDataset
# (policy 'drop_image' = the paper: every image with an unseen pixel is
# removed; 'ignore' = the peers). Recipe: random scale 0.5-2.0 of a 312 short
# side, crop 312, flip, Gaussian blur (p=0.5; RandomGaussianBlur, as mmseg
# has no 2-D blur), pad (image 0, label 255), total batch 16.
# Validation: VOC 2012 val (1449), short side resized to 513, single scale
# (mmseg scores at the original resolution), ZeroShotIoUMetric.
# CheckSegMap (after LoadAnnotations) refuses, naming the file, a label value
# that is no class (255 is ignored), a label map of another size than its
# image, or one with 3 channels.
# 'drop_image' scans the annotations once (with the pipeline's LoadAnnotations
# and its backend_args) and caches the class presence per user, in
# $MMSEG_ZS3_CACHE/class_presence or ~/.cache/mmseg_zs3/class_presence (never
# next to the data); set cache_dir in the SeenOnlyDataset dict to choose.
# Set the split's k in the config that inherits this file.
_base_ = ['mmseg::_base_/datasets/pascal_voc12_aug.py']
data_root = 'data/VOCdevkit/VOC2012'
crop_size = (312, 312)
zs3_split = dict(name='zs3_voc', k=None)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegMap', num_classes=21),
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
    dict(type='CheckSegMap', num_classes=21),
    dict(type='PackSegInputs')
]
dataset_train = dict(
    type='PascalVOCDataset',
    data_root=data_root,
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    ann_file='ImageSets/Segmentation/train.txt',
    pipeline=train_pipeline)
dataset_aug = dict(
    type='PascalVOCDataset',
    data_root=data_root,
    data_prefix=dict(
        img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
    ann_file='ImageSets/Segmentation/aug.txt',
    pipeline=train_pipeline)
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='SeenOnlyDataset',
        dataset=dict(
            type='ConcatDataset', datasets=[dataset_train, dataset_aug]),
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
