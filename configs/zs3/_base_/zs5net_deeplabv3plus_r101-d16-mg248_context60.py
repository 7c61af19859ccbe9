# ZS5Net with DeepLabv3+ (ResNet-101) on Pascal-Context-60: the part that
# the zs5net_*_context60 leaves share (as _base_/zs5net_*_voc12aug.py is for
# VOC; here the surest 75 % of the candidates are kept, as in the paper).
_base_ = [
    './models/deeplabv3plus_r101-d16-mg248.py', './datasets/zs3_context60.py',
    './schedules/zs5net_finetune_20e.py', './zs3_runtime.py'
]
model = dict(
    data_preprocessor=dict(size=_base_.crop_size),
    decode_head=dict(
        _delete_=True,
        type='ZeroShotDecodeHead',
        head=dict(_base_.model.decode_head, num_classes=60),
        classifier=dict(type='ConvClassifier'),
        classes='PascalContextDataset'))
zs5net_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegMap', num_classes=60),
    dict(
        type='LoadPseudoLabels',
        pseudo_label_dir=None,
        split=None,
        classes='PascalContextDataset'),
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
        percent=75.0,
        ranking='class',
        by_epoch=True,
        pipeline=_base_.test_pipeline,
        batch_size=8)
]
log_processor = dict(by_epoch=True)
