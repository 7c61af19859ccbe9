_base_ = ['./zs3_voc12aug.py']
stage2_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegMap', num_classes=21),
    dict(type='Resize', scale=(2048, 312), keep_ratio=True),
    dict(type='CenterCrop', crop_size=312),
    dict(type='Pad', size=(312, 312)),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=8,
    dataset=dict(
        dataset=dict(datasets=[
            dict(_base_.dataset_train, pipeline=stage2_pipeline),
            dict(_base_.dataset_aug, pipeline=stage2_pipeline),
        ])))
