# A small DeepLabV3+ for 64x64 CPU training: ResNetV1c-18 with base width 16
# (channels 16/32/64/128), output stride 8, ASPP rates scaled to an 8x8 map,
# 64-d decoder features at stride 4 (the features that ZS3Net generates).
# Trained from scratch: no pretrained weights are reachable offline.
_base_ = ['mmseg::_base_/models/deeplabv3plus_r50-d8.py']
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=(64, 64)),
    pretrained=None,
    backbone=dict(
        depth=18,
        stem_channels=16,
        base_channels=16,
        norm_cfg=norm_cfg,
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1)),
    decode_head=dict(
        in_channels=128,
        channels=64,
        dilations=(1, 2, 4, 6),
        c1_in_channels=16,
        c1_channels=16,
        num_classes=17,
        norm_cfg=norm_cfg,
        # mmseg's loss, with class weights that also work with ignored pixels
        loss_decode=dict(type='IgnoreAwareCrossEntropyLoss')),
    auxiliary_head=None)
