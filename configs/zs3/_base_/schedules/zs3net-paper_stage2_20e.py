_base_ = ['./zs3net-paper_stage2.py']
max_epochs = 20
param_scheduler = dict(classifier=[
    dict(
        type='DeepLabPolyLR',
        power=0.9,
        eta_min=0.,
        begin=0,
        end=max_epochs,
        by_epoch=True,
        convert_to_iter_based=True)
])
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(checkpoint=dict(interval=max_epochs))
