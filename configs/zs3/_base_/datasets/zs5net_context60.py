# ZS5Net's training data on Pascal-Context-60 (README.md, 'ZS5Net data').
_base_ = ['./zs3_context60.py']
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
