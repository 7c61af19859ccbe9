_base_ = [
    './zs3net-paper_deeplabv3plus_r101-d16-mg248_1xb8-20e_'
    'context60-zs3k2-312x312.py', './_base_/models/zs3net_gc.py'
]
model = dict(
    generative_head=dict(_base_.zs3net_gc_head, **_base_.zs3net_gc_paper_head))
max_epochs = 100
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = dict(
    _delete_=True,
    generator=[],
    classifier=[
        dict(
            type='DeepLabPolyLR',
            power=0.9,
            eta_min=0.,
            begin=0,
            end=max_epochs,
            by_epoch=True,
            convert_to_iter_based=True)
    ])
default_hooks = dict(checkpoint=dict(interval=max_epochs))
