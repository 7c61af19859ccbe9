# The generated compositional-shapes dataset of the CPU demo
# (`python tools/generate_shapes_dataset.py data/zs3_shapes`).
# CheckSegMap, right after LoadAnnotations, refuses a label map with a value
# that is no class (other than 255), of another size than its image, or with
# 3 channels, naming the file (mmseg would fail deep in torch, or drop the
# pixels from the metric without a word).
dataset_type = 'ZS3ShapesDataset'
num_classes = 17
data_root = 'data/zs3_shapes'
# The diagonal: every colour word and shape word stays seen in 3 other classes.
zs3_split = dict(
    unseen=['red circle', 'green square', 'blue triangle', 'yellow cross'])
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegMap', num_classes=num_classes),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegMap', num_classes=num_classes),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='img_dir/train', seg_map_path='ann_dir/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
