# Published (VOC): no ZS5Net number published for K = 4 (ZS3Net 66.4 / 23.2 /
# 34.4).
_base_ = [
    './_base_/models/deeplabv3plus_r101-d16-mg248.py',
    './_base_/datasets/zs5net_voc12aug.py',
    './_base_/schedules/zs5net_finetune_20e.py', './_base_/zs3_runtime.py'
]
zs3_split = dict(name='zs3_voc', k=4)
load_from = ('work_dirs/zs3net_deeplabv3plus_r101-d16-mg248_'
             '1xb8-30e_voc12aug-zs3k4-312x312/epoch_30.pth')
pseudo_label_dir = ('work_dirs/zs5net_deeplabv3plus_r101-d16-mg248_'
                    '1xb16-20e_voc12aug-zs3k4-312x312/pseudo_labels')
model = dict(
    data_preprocessor=dict(size=_base_.crop_size),
    decode_head=dict(
        _delete_=True,
        type='ZeroShotDecodeHead',
        head=dict(_base_.model.decode_head, num_classes=21),
        classifier=dict(type='ConvClassifier'),
        split=zs3_split,
        classes='PascalVOCDataset'))
zs5net_pipeline = [
    dict(t, pseudo_label_dir=pseudo_label_dir, split=zs3_split)
    if t['type'] == 'LoadPseudoLabels' else t for t in _base_.zs5net_pipeline
]
train_dataloader = dict(
    dataset=dict(
        split=zs3_split,
        dataset=dict(datasets=[
            dict(_base_.dataset_train, pipeline=zs5net_pipeline),
            dict(_base_.dataset_aug, pipeline=zs5net_pipeline),
        ])))
custom_hooks = _base_.custom_hooks + [
    dict(
        type='PseudoLabelHook',
        pseudo_label_dir=pseudo_label_dir,
        percent=25.0,
        ranking='class',
        by_epoch=True,
        pipeline=_base_.test_pipeline,
        batch_size=8)
]
val_evaluator = dict(split=zs3_split)
test_evaluator = val_evaluator
log_processor = dict(by_epoch=True)
