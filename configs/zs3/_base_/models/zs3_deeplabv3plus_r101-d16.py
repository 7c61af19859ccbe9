# ZS3Net's segmentation network in mmseg terms: DeepLabV3+ with ResNet-101,
# output stride 16, multi-grid (1, 2, 4), ASPP rates 6/12/18 + image pooling,
# 256 channels, 48-channel stride-4 skip, and a 1x1 classifier (`conv_seg`)
# on 256-d stride-4 features: the features ZS3Net generates in stage 2.
#
# How mmseg's DeepLabV3+ differs from the official ZS3Net network
# (valeoai/ZS3):
# - ASPP and decoder 3x3 convs are depthwise-separable
#   (DepthwiseSeparableASPPHead); the official ones are standard convs.
# - ASPP projection: mmseg uses a 3x3 conv after the concatenation, the
#   official code a 1x1 conv followed by Dropout(0.5).
# - Dropout: mmseg has only Dropout(0.1) before the classifier (same place as
#   the official last dropout); the official Dropout(0.5) after the ASPP and
#   after the first decoder conv are absent.
# - Backbone: mmseg's ResNetV1c (three 3x3 stem convs) with ImageNet weights
#   `open-mmlab://resnet101_v1c`; the official backbone is a torchvision-style
#   ResNet-101 (7x7 stem) pretrained on ImageNet *without the Pascal classes*.
#   These weights have seen the unseen classes: results are not strictly
#   zero-shot until a class-filtered backbone is loaded here.
# - No auxiliary FCN head (mmseg's default adds one; the official has none).
# - The loss is mmseg's cross-entropy as IgnoreAwareCrossEntropyLoss, whose
#   `class_weight` also works with ignored pixels (VOC borders, unseen classes
#   under policy='ignore'); mmseg 1.2.2's raises `IndexError: index 255`.
_base_ = ['mmseg::_base_/models/deeplabv3plus_r50-d8.py']
model = dict(
    pretrained='open-mmlab://resnet101_v1c',
    backbone=dict(
        depth=101,
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2),
        # Official multi-grid (1, 2, 4) times the stage dilation 2; mmseg's
        # `multi_grid` takes the absolute rates of the last stage's blocks.
        multi_grid=(2, 4, 8)),
    decode_head=dict(
        channels=256,
        dilations=(1, 6, 12, 18),
        dropout_ratio=0.1,
        loss_decode=dict(type='IgnoreAwareCrossEntropyLoss')),
    auxiliary_head=None)
