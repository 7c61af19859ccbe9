_base_ = ['mmseg::_base_/models/deeplabv3plus_r50-d8.py']
model = dict(
    pretrained='open-mmlab://resnet101_v1c',
    backbone=dict(
        depth=101,
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2),
        multi_grid=(2, 4, 8)),
    decode_head=dict(
        channels=256,
        dilations=(1, 6, 12, 18),
        dropout_ratio=0.1,
        loss_decode=dict(type='IgnoreAwareCrossEntropyLoss')),
    auxiliary_head=None)
