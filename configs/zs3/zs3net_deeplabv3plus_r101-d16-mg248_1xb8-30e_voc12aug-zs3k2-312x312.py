# ZS3Net stage 2, VOC12aug, K = 2 unseen classes (split 'zs3_voc', k=2), strict
# layout (no unseen ground truth is read, ZS3NET.md section 3). Starts from the
# stage-1 seen-only network of the same K (`load_from`), freezes it in eval
# mode, trains the GMMN generator on seen-class features (MMD) and retrains
# the re-initialised 1x1 classifier on real seen + generated unseen features.
# The frozen features are computed once and cached
# (ZS3FeatureCacheTrainLoop), so
# the stage-2 training data has no random augmentation.
# Paper hyper-parameters: GMMN (300-d word2vec + 300-d uniform noise) 600 ->
# 256 -> 256, LeakyReLU 0.2, dropout 0.5; MMD kernels (2, 5, 10, 20, 40, 80),
# 128 samples per class; generator Adam lr 2e-4; 30 epochs, batch 8, crop 312.
# For the official layout (which reads unseen masks) see the `_paper` config.
#
# Deviations from the official stage 2 (valeoai/ZS3 train_pascal_GMMN.py):
# - one Adam optimizer (generator lr 2e-4 as official, the classifier with
#   lr_mult=50, i.e. 1e-2) instead of Adam + SGD lr 0.07 for the classifier.
# - poly decay (power 0.9) per epoch, not per iteration.
# - training images: short side resized to 312 and centre-cropped (no random
#   scale/crop/flip), so that the cache holds each image's features.
# - classifier re-initialised with mmseg's Normal(std=0.01), not U[0, 1).
# - unseen classes weighted 1 (the official 100 belongs to its layout) and
#   `num_generated='auto'` unseen features per unseen class per step.
# - features enter the MMD raw (`feature_norm='none'`, as official). On the
#   shapes demo, L2-normalised and scaled features matched the fixed MMD
#   bandwidths much better (/work/shared/docs/FINDINGS.md, "What made the
#   difference"): try feature_norm='l2', feature_scale=2.0.
# Network differences from the official one: see the stage-1 config.
_base_ = [
    './seen-only_deeplabv3plus_r101-d16-mg248_1xb16-200e_voc12aug-zs3k2-312x312.py'
]
load_from = (
    'work_dirs/seen-only_deeplabv3plus_r101-d16-mg248_1xb16-200e_voc12aug-zs3k2-312x312/'
    'epoch_200.pth')
# Word2vec class embeddings, in PascalVOCDataset order (matched by name).
# Build them from the GoogleNews word2vec vectors, normalised like the
# official VOC array (divided by the largest row norm):
#   python tools/build_class_embeddings.py GoogleNews-vectors-negative300.bin \
#       --format word2vec_bin --dataset PascalVOCDataset --normalize max_norm \
#       --out data/class_embeddings/word2vec_voc12.npz
# or import the official array (valeoai/ZS3
# zs3/embeddings/pascal/w2c/norm_embed_arr_300.pkl, rows in VOC order):
#   python tools/convert_class_embeddings.py norm_embed_arr_300.pkl \
#       --classes PascalVOCDataset --normalize none \
#       --out data/class_embeddings/word2vec_voc12.npz
# (`python tools/build_class_embeddings.py --help` for the other options.)
class_embedding = dict(
    type='ClassEmbedding',
    embedding_file='data/class_embeddings/word2vec_voc12.npz',
    classes='PascalVOCDataset',
    dim=300)
model = dict(
    type='ZS3EncoderDecoder',
    data_preprocessor=dict(type='ZS3DataPreProcessor'),
    decode_head=dict(
        _delete_=True,
        type='ZeroShotDecodeHead',
        head={{_base_.model.decode_head}},
        classifier=dict(type='ConvClassifier'),
        split={{_base_.zs3_split}},
        classes='PascalVOCDataset',
        feature_norm='none',
        reinit_classifier=True),
    class_embedding=class_embedding,
    generative_head=dict(
        type='GMMNGenerativeHead',
        generator=dict(
            type='GMMNGenerator',
            embed_dim=300,
            noise_dim=300,
            hidden_dim=256,
            feat_dim=256,  # = decode_head channels (stage-1 model config)
            noise='uniform'),
        loss=dict(type='MMDLoss', bandwidths=(2, 5, 10, 20, 40, 80)),
        num_samples=128),
    unseen_layout='strict',
    unseen_weight=1.0,
    num_generated='auto')
# Stage-2 data: the seen-only training images without random augmentation
# (frozen features are then fixed per image and can be cached).
stage2_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
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
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    # the frozen extractor is left out with one log line, not one per tensor
    constructor='TrainableOptimWrapperConstructor',
    optimizer=dict(type='Adam', lr=2e-4),
    paramwise_cfg=dict(
        custom_keys={'decode_head.classifier': dict(lr_mult=50.0)}))
max_epochs = 30
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
    checkpoint=dict(by_epoch=True, interval=max_epochs, max_keep_ckpts=1))
auto_scale_lr = dict(enable=False, base_batch_size=8)
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)
