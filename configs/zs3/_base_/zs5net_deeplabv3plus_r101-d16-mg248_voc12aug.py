# ZS5Net with DeepLabv3+ (ResNet-101) on Pascal VOC 2012 (aug), every split
# alike: the network, the training data of README.md's 'ZS5Net data', the
# retraining schedule and the pseudo-labelling hook (one pass, before
# training). Each zs5net_*_voc12aug leaf fills in its split, its ZS3Net
# checkpoint (load_from) and its pseudo-label folder, where this file leaves
# None or no value.
_base_ = [
    './models/deeplabv3plus_r101-d16-mg248.py', './datasets/zs3_voc12aug.py',
    './schedules/zs5net_finetune_20e.py', './zs3_runtime.py'
]
model = dict(
    data_preprocessor=dict(size=_base_.crop_size),
    decode_head=dict(
        _delete_=True,
        type='ZeroShotDecodeHead',
        head=dict(_base_.model.decode_head, num_classes=21),
        classifier=dict(type='ConvClassifier'),
        classes='PascalVOCDataset'))
zs5net_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegMap', num_classes=21),
    dict(
        type='LoadPseudoLabels',
        pseudo_label_dir=None,
        split=None,
        classes='PascalVOCDataset'),
    dict(
        type='RandomResize',
        scale=(2048, 312),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=_base_.crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomGaussianBlur', prob=0.5, sigma_range=(0., 1.)),
    dict(type='Pad', size=_base_.crop_size),
    dict(type='PackSegInputs')
]
train_dataloader = dict(dataset=dict(policy='ignore'))
custom_hooks = _base_.custom_hooks + [
    dict(
        type='PseudoLabelHook',
        pseudo_label_dir=None,
        percent=25.0,
        ranking='class',
        by_epoch=True,
        pipeline=_base_.test_pipeline,
        batch_size=8)
]
log_processor = dict(by_epoch=True)
