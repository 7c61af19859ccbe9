# ZS3Net stage 2, the official recipe (valeoai/ZS3 train_pascal_GMMN.py,
# train_context_GMMN.py): the schedule slot of a `zs3net-paper_*` leaf (the
# keys of schedules/zs3net_stage2_30e.py), plus the model, data and metric
# settings as `zs3net_paper*` variables for the leaf to merge:
#   model = dict(_base_.zs3net, **_base_.zs3net_paper, decode_head=dict(
#       _base_.zs3net_head, **_base_.zs3net_paper_head, ...))
#   train dataset: all images (no SeenOnlyDataset; on VOC the official list,
#       tools/dataset_converters/voc_zs3_official.py), pipeline
#       zs3net_paper_train_pipeline; val/test pipeline
#       zs3net_paper_test_pipeline; evaluators dict(**zs3net_paper_metric)
# VOC trains 30 epochs (set here); Context 20 (the leaf sets train_cfg and
# the classifier's scheduler end).
max_epochs = 30
# official layout (reads unseen masks), one generator step per (image without
# unseen pixels, seen class), CE on logits upsampled to the crop, and the
# official quirks (frozen network in train mode, CE divided by the batch)
zs3net_paper = dict(
    unseen_layout='paper',
    unseen_weight=100.0,
    generator_steps='per_image_class',
    cls_loss_at='input',
    frozen_mode='train',
    paper_batch_average=True)
zs3net_paper_head = dict(
    feature_norm='none',
    feature_scale=1.0,
    classifier=dict(
        type='ConvClassifier',
        init_cfg=dict(type='UniformWeightBias', a=0., b=1., layer='Conv2d')))
# stage-1 augmentation every epoch, so no feature cache (EpochBasedTrainLoop)
zs3net_paper_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(2048, 312),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=(312, 312)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomGaussianBlur', prob=0.5, sigma_range=(0., 1.)),
    dict(type='Pad', size=(312, 312)),
    dict(type='PackSegInputs')
]
# image and label (nearest) resized to short side 513 and scored there
zs3net_paper_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(2048, 513), keep_ratio=True),
    dict(type='ScoreAtResizedShape'),
    dict(type='PackSegInputs')
]
zs3net_paper_metric = dict(type='ZeroShotIoUMetric', nan_policy='zero')
# generator Adam 2e-4, constant; classifier SGD, poly 0.9 per iteration
optim_wrapper = dict(
    constructor='SubmoduleOptimWrapperConstructor',
    generator=dict(
        module='generative_head',
        type='OptimWrapper',
        optimizer=dict(type='Adam', lr=2e-4)),
    classifier=dict(
        module='decode_head.classifier',
        type='OptimWrapper',
        optimizer=dict(type='SGD', lr=0.07, momentum=0.9, weight_decay=5e-4)))
param_scheduler = dict(
    generator=[],
    classifier=[
        dict(
            type='DeepLabPolyLR',
            power=0.9,
            eta_min=0.,
            begin=0,
            end=max_epochs,
            by_epoch=True,
            convert_to_iter_based=True)
    ])
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=True,
        interval=max_epochs,
        max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
auto_scale_lr = dict(enable=False, base_batch_size=8)
