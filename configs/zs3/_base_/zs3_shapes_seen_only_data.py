# Seen-only training data of the shapes demo: images with any unseen pixel are
# dropped (ZS3Net's stage-1 protocol).
# The class presence of the annotations is scanned once and cached per user
# ($MMSEG_ZS3_CACHE/class_presence or ~/.cache/mmseg_zs3/class_presence); add
# cache_dir=... to the SeenOnlyDataset dict below to choose another folder.
_base_ = ['./datasets/zs3_shapes.py']
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
                img_path='img_dir/train', seg_map_path='ann_dir/train'),
            pipeline={{_base_.train_pipeline}})))
val_evaluator = dict(
    _delete_=True,
    type='ZeroShotIoUMetric',
    split={{_base_.zs3_split}},
    iou_metrics=['mIoU'])
test_evaluator = val_evaluator
