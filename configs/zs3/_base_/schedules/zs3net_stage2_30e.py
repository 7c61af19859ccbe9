max_epochs = 30
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='TrainableOptimWrapperConstructor',
    optimizer=dict(type='Adam', lr=2e-4),
    paramwise_cfg=dict(
        custom_keys={'decode_head.classifier': dict(lr_mult=50.0)}))
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0,
        power=0.9,
        begin=0,
        end=max_epochs + 1,
        by_epoch=True)
]
train_cfg = dict(
    type='ZS3FeatureCacheTrainLoop',
    max_epochs=max_epochs,
    val_interval=max_epochs,
    max_per_class=20000)
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
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)
