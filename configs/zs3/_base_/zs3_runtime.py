# mmseg's default runtime, plus the plugin and its two runtime hooks:
# CheckpointClassCountHook refuses a checkpoint trained for another class
# count (instead of mmengine's size-mismatch warning), and
# RNGStateCheckpointHook makes `--resume` reproduce an uninterrupted run.
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['mmseg_zs3'], allow_failed_imports=False)
custom_hooks = [
    dict(type='CheckpointClassCountHook'),
    dict(type='RNGStateCheckpointHook'),
]
