# Published (VOC): ZS5Net (paper, Table 2): unseen 75.8, overall mIoU 75.8
# (supervised oracle 76.9); ZS3Net 72.0 / 35.4 / 47.5.
_base_ = ['./_base_/zs5net_deeplabv3plus_r101-d16-mg248_voc12aug.py']
zs3_split = dict(name='zs3_voc', k=2)
load_from = ('work_dirs/zs3net_deeplabv3plus_r101-d16-mg248_'
             '1xb8-30e_voc12aug-zs3k2-312x312/epoch_30.pth')
pseudo_label_dir = ('work_dirs/zs5net_deeplabv3plus_r101-d16-mg248_'
                    '1xb16-20e_voc12aug-zs3k2-312x312/pseudo_labels')
model = dict(decode_head=dict(split=zs3_split))
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
custom_hooks = [
    dict(h, pseudo_label_dir=pseudo_label_dir)
    if h['type'] == 'PseudoLabelHook' else h for h in _base_.custom_hooks
]
val_evaluator = dict(split=zs3_split)
test_evaluator = val_evaluator
