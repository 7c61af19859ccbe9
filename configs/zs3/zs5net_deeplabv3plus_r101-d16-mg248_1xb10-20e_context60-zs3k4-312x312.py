# Published (Pascal-Context): no ZS5Net number published for K = 4 (ZS3Net
# unseen 24.9).
_base_ = ['./_base_/zs5net_deeplabv3plus_r101-d16-mg248_context60.py']
zs3_split = dict(name='zs3_context', k=4)
load_from = ('work_dirs/zs3net_deeplabv3plus_r101-d16-mg248_'
             '1xb8-20e_context60-zs3k4-312x312/epoch_20.pth')
pseudo_label_dir = ('work_dirs/zs5net_deeplabv3plus_r101-d16-mg248_'
                    '1xb10-20e_context60-zs3k4-312x312/pseudo_labels')
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
