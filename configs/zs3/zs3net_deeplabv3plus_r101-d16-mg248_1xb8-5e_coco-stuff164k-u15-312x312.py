_base_ = [
    './_base_/models/deeplabv3plus_r101-d16-mg248.py',
    './_base_/models/zs3net_gmmn.py',
    './_base_/datasets/zs3_coco-stuff164k.py',
    './_base_/schedules/zs3net_stage2_5e.py', './_base_/zs3_runtime.py'
]
zs3_split = dict(name='spnet_cocostuff', k=15)
load_from = ('work_dirs/seen-only_deeplabv3plus_r101-d16-mg248_1xb16-80k_'
             'coco-stuff164k-u15-312x312/iter_80000.pth')
model = dict(
    _base_.zs3net,
    decode_head=dict(
        _base_.zs3net_head,
        head=dict(_base_.model.decode_head, num_classes=171),
        split=zs3_split,
        classes='COCOStuffDataset'),
    class_embedding=_base_.class_embedding)
train_dataloader = dict(
    batch_size=8,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        split=zs3_split,
        dataset=dict(
            _base_.dataset_train, pipeline=_base_.zs3net_train_pipeline)))
val_evaluator = dict(split=zs3_split)
test_evaluator = val_evaluator
log_processor = dict(by_epoch=True)
