# Published (COCO-Stuff): ZS3Net + self-training as reproduced by
# SPNet-protocol peers (DeepLabv2): 34.9 / 10.6 / 16.2 seen / unseen / hIoU
# (ZS3Net 34.7 / 9.5 / 15.0).
_base_ = ['./_base_/zs5net_deeplabv3plus_r101-d16-mg248_coco-stuff164k.py']
zs3_split = dict(name='spnet_cocostuff', k=15)
load_from = ('work_dirs/zs3net_deeplabv3plus_r101-d16-mg248_'
             '1xb8-5e_coco-stuff164k-u15-312x312/epoch_5.pth')
pseudo_label_dir = ('work_dirs/zs5net_deeplabv3plus_r101-d16-mg248_'
                    '1xb16-20k_coco-stuff164k-u15-312x312/pseudo_labels')
model = dict(decode_head=dict(split=zs3_split))
zs5net_pipeline = [
    dict(t, pseudo_label_dir=pseudo_label_dir, split=zs3_split)
    if t['type'] == 'LoadPseudoLabels' else t for t in _base_.zs5net_pipeline
]
train_dataloader = dict(
    dataset=dict(
        split=zs3_split,
        dataset=dict(_base_.dataset_train, pipeline=zs5net_pipeline)))
custom_hooks = [
    dict(h, pseudo_label_dir=pseudo_label_dir)
    if h['type'] == 'PseudoLabelHook' else h for h in _base_.custom_hooks
]
val_evaluator = dict(split=zs3_split)
test_evaluator = val_evaluator
