_base_ = [
    './seen-only_deeplabv3plus_r101-d16-mg248_1xb16-200e_'
    'voc12aug-zs3k10-312x312.py'
]
model = dict(
    decode_head=dict(
        _delete_=True,
        type='ZeroShotDecodeHead',
        head=_base_.model.decode_head,
        classifier=dict(
            type='ProjectionClassifier',
            class_embedding=_base_.class_embedding,
            scale=10.0),
        split=_base_.zs3_split,
        classes='PascalVOCDataset',
        train_classes='seen'))
