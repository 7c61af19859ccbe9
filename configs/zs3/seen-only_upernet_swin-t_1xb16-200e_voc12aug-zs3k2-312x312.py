_base_ = [
    './_base_/models/upernet_swin-t.py', './_base_/datasets/zs3_voc12aug.py',
    './_base_/schedules/zs3_stage1_200e.py', './_base_/zs3_runtime.py'
]
zs3_split = dict(name='zs3_voc', k=2)
model = dict(
    data_preprocessor=dict(size=_base_.crop_size),
    decode_head=dict(num_classes=21))
train_dataloader = dict(dataset=dict(split=zs3_split))
val_evaluator = dict(split=zs3_split)
test_evaluator = val_evaluator
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=0.00006, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)
        }))
log_processor = dict(by_epoch=True)
