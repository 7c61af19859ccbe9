# ZS3Net stage 2, the official recipe (valeoai/ZS3 train_pascal_GMMN.py and
# train_context_GMMN.py), merged over a ZS3Net strict stage-2 config: the
# official layout of generated features (reads unseen ground truth), one
# generator Adam step (lr 2e-4, constant) per (image without unseen pixels,
# seen class in it), the classifier re-initialised U[0, 1) and trained by SGD
# (lr 0.07, momentum 0.9, wd 5e-4, poly 0.9 per iteration) with a CE on
# logits upsampled to the crop, unseen classes weighted 100, stage-1
# augmentation every epoch (no feature cache), evaluation at short side 513
# with NaN IoUs counted as 0. VOC trains 30 epochs (set here); Context 20.
# A leaf wires `train_pipeline` / `test_pipeline` into its datasets and uses
# all training images (no SeenOnlyDataset); on VOC the official list
# (tools/dataset_converters/voc_zs3_official.py).
crop_size = (312, 312)
max_epochs = 30
model = dict(
    unseen_layout='paper',
    unseen_weight=100.0,
    generator_steps='per_image_class',
    cls_loss_at='input',
    frozen_mode='train',
    paper_batch_average=True,
    decode_head=dict(
        feature_norm='none',
        feature_scale=1.0,
        classifier=dict(
            type='ConvClassifier',
            init_cfg=dict(
                type='UniformWeightBias', a=0., b=1., layer='Conv2d'))),
    generative_head=dict(
        generator=dict(noise='uniform', noise_dim=300, hidden_dim=256),
        loss=dict(type='MMDLoss', bandwidths=(2, 5, 10, 20, 40, 80)),
        num_samples=128))
optim_wrapper = dict(
    _delete_=True,
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
    _delete_=True,
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
    _delete_=True,
    type='EpochBasedTrainLoop',
    max_epochs=max_epochs,
    val_interval=max_epochs)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(2048, 312),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomGaussianBlur', prob=0.5, sigma_range=(0., 1.)),
    dict(type='Pad', size=crop_size),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(2048, 513), keep_ratio=True),
    dict(type='ScoreAtResizedShape'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(batch_size=8)
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(nan_policy='zero')
test_evaluator = val_evaluator
