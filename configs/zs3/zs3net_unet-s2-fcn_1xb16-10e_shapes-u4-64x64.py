# ZS3Net stage 2 on the shapes demo (strict layout), from the seen-only
# checkpoint of seen-only_unet-s2-fcn_1xb16-1800it_shapes-u4-64x64.py.
# Features L2-normalised and scaled by 2 (the official code feeds them raw)
# so that their squared distances suit the fixed MMD bandwidths (2..80).
_base_ = [
    './_base_/models/unet-s2_fcn-tiny.py',
    './_base_/models/zs3net_gmmn.py',
    './_base_/zs3_shapes_seen_only_data.py',
    './_base_/schedules/zs3_shapes_schedule.py',
    './_base_/zs3_runtime.py',
]
custom_imports = dict(imports=['mmseg_zs3'], allow_failed_imports=False)
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
load_from = 'work_dirs/demo/seen_only/iter_1800.pth'
class_embedding_file = 'data/zs3_shapes/class_embeddings_glove-6B-50d.npz'
# classes and dim give the shape, so that testing and inference work from a
# checkpoint (which holds the embeddings) without the file
class_embedding = dict(
    type='ClassEmbedding',
    embedding_file=class_embedding_file,
    classes='ZS3ShapesDataset',
    dim=50)
model = dict(
    _base_.zs3net,
    decode_head=dict(
        _base_.zs3net_head,
        head=_base_.model.decode_head,
        split=_base_.zs3_split,
        classes='ZS3ShapesDataset',
        feature_norm='l2',
        feature_scale=2.0),
    class_embedding=class_embedding,
    generative_head=dict(
        _base_.zs3net.generative_head,
        # 50-d GloVe embeddings, 64-channel features; noise left at the
        # generator's default (uniform)
        generator=dict(
            type='GMMNGenerator',
            embed_dim=50,
            noise_dim=50,
            hidden_dim=256,
            feat_dim=64)),
    # chosen on a development seed (3) that the reported demo seeds (0-2) do
    # not include: unseen weight 5 / 10 / 20 / 50 gave uncalibrated hIoU
    # 54.5 / 58.1 / 60.6 / 60.3 (seen 79.6 / 79.4 / 78.8 / 74.3); calibrated
    # ZS3Net ~61 for all (weighting and calibration cover the same bias)
    unseen_weight=20.0)
# Stage-2 data: seen-only images, no augmentation (frozen features are then
# fixed per image and can be cached).
train_dataloader = dict(
    sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True),
    dataset=dict(dataset=dict(pipeline={{_base_.test_pipeline}})))
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    # the frozen extractor is left out with one log line, not one per tensor
    constructor='TrainableOptimWrapperConstructor',
    optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999)),
    paramwise_cfg=dict(
        custom_keys={'decode_head.classifier': dict(lr_mult=50.0)}))
max_epochs = 10
# Poly decay per epoch, lr * (1 - epoch / max_epochs) ** 0.9 for epochs
# 0 .. max_epochs - 1. mmengine's PolyLR reaches eta_min at step end - 1:
# with end=max_epochs the last epoch would train at lr 0, so the schedule
# ends one epoch after training (change both when changing max_epochs).
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
    _delete_=True,
    type='ZS3FeatureCacheTrainLoop',
    max_epochs=max_epochs,
    val_interval=max_epochs,
    max_per_class=20000)
default_hooks = dict(
    logger=dict(interval=20, log_metric_by_epoch=True),
    checkpoint=dict(by_epoch=True, interval=max_epochs))
log_processor = dict(by_epoch=True)
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)
