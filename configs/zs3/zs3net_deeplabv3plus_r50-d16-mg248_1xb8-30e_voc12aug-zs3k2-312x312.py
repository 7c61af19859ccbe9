_base_ = [
    './_base_/models/deeplabv3plus_r50-d16-mg248.py',
    './_base_/models/zs3net_gmmn.py', './_base_/datasets/zs3_voc12aug.py',
    './_base_/schedules/zs3net_stage2_30e.py', './_base_/zs3_runtime.py'
]
zs3_split = dict(name='zs3_voc', k=2)
load_from = ('work_dirs/seen-only_deeplabv3plus_r50-d16-mg248_1xb16-200e_'
             'voc12aug-zs3k2-312x312/epoch_200.pth')
model = dict(
    _base_.zs3net,
    decode_head=dict(
        _base_.zs3net_head,
        head=dict(_base_.model.decode_head, num_classes=21),
        split=zs3_split,
        classes='PascalVOCDataset'),
    class_embedding=_base_.class_embedding)
train_dataloader = dict(
    batch_size=8,
    dataset=dict(
        split=zs3_split,
        dataset=dict(datasets=[
            dict(_base_.dataset_train, pipeline=_base_.zs3net_train_pipeline),
            dict(_base_.dataset_aug, pipeline=_base_.zs3net_train_pipeline)
        ])))
val_evaluator = dict(split=zs3_split)
test_evaluator = val_evaluator
log_processor = dict(by_epoch=True)
