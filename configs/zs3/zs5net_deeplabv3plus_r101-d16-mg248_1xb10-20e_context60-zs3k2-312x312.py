# Published (Pascal-Context): ZS5Net (paper): unseen 55.5 (ZS3Net unseen 21.6,
# hIoU 28.4).
_base_ = [
    './_base_/models/deeplabv3plus_r101-d16-mg248.py',
    './_base_/datasets/zs5net_context60.py',
    './_base_/schedules/zs5net_finetune_20e.py', './_base_/zs3_runtime.py'
]
zs3_split = dict(name='zs3_context', k=2)
load_from = ('work_dirs/zs3net_deeplabv3plus_r101-d16-mg248_'
             '1xb8-20e_context60-zs3k2-312x312/epoch_20.pth')
pseudo_label_dir = ('work_dirs/zs5net_deeplabv3plus_r101-d16-mg248_'
                    '1xb10-20e_context60-zs3k2-312x312/pseudo_labels')
model = dict(
    data_preprocessor=dict(size=_base_.crop_size),
    decode_head=dict(
        _delete_=True,
        type='ZeroShotDecodeHead',
        head=dict(_base_.model.decode_head, num_classes=60),
        classifier=dict(type='ConvClassifier'),
        split=zs3_split,
        classes='PascalContextDataset'))
zs5net_pipeline = [
    dict(t, pseudo_label_dir=pseudo_label_dir, split=zs3_split)
    if t['type'] == 'LoadPseudoLabels' else t for t in _base_.zs5net_pipeline
]
train_dataloader = dict(
    dataset=dict(
        split=zs3_split,
        dataset=dict(_base_.dataset_train, pipeline=zs5net_pipeline)))
custom_hooks = _base_.custom_hooks + [
    dict(
        type='PseudoLabelHook',
        pseudo_label_dir=pseudo_label_dir,
        percent=75.0,
        ranking='class',
        by_epoch=True,
        pipeline=_base_.test_pipeline,
        batch_size=8)
]
val_evaluator = dict(split=zs3_split)
test_evaluator = val_evaluator
log_processor = dict(by_epoch=True)
