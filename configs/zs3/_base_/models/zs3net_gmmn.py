zs3net = dict(
    type='ZS3EncoderDecoder',
    data_preprocessor=dict(type='ZS3DataPreProcessor'),
    class_embedding=dict(type='ClassEmbedding', dim=300),
    generative_head=dict(
        type='GMMNGenerativeHead',
        generator=dict(
            type='GMMNGenerator',
            embed_dim=300,
            noise_dim=300,
            hidden_dim=256,
            noise='uniform'),
        loss=dict(type='MMDLoss', bandwidths=(2, 5, 10, 20, 40, 80)),
        num_samples=128),
    unseen_layout='strict',
    unseen_weight=1.0,
    num_generated='auto')
zs3net_head = dict(
    _delete_=True,
    type='ZeroShotDecodeHead',
    classifier=dict(type='ConvClassifier'),
    feature_norm='none',
    reinit_classifier=True)
zs3net_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(2048, 312), keep_ratio=True),
    dict(type='CenterCrop', crop_size=312),
    dict(type='Pad', size=(312, 312)),
    dict(type='PackSegInputs')
]
