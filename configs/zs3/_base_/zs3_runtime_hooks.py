# The plugin and its runtime hooks, without a runtime: for a config that
# already has one, e.g. a leaf over an mmseg config (mmseg::...), which
# cannot also inherit zs3_runtime.py (mmengine refuses a key defined by two
# bases). zs3_runtime.py = mmseg's default runtime + this file.
# CheckpointClassCountHook refuses a checkpoint trained for other classes in
# tests and --resume (instead of mmengine's size-mismatch warning) and, to
# fine-tune from it with load_from, re-initialises its classifier,
# RNGStateCheckpointHook makes `--resume` reproduce an uninterrupted run, and
# WorkDirGuardHook keeps one run per work dir, saves checkpoints atomically
# (backend 'zs3_atomic_local'), removes temporary files of killed runs and
# makes `--resume` skip a truncated newest checkpoint.
custom_imports = dict(imports=['mmseg_zs3'], allow_failed_imports=False)
custom_hooks = [
    dict(type='CheckpointClassCountHook'),
    # a checkpoint lacking weights the run needs (stage 1 for stage 2, ...)
    dict(type='CheckpointKindHook'),
    # model and datasets agree on the classes
    dict(type='ClassListCheckHook'),
    # stop at the first NaN/inf loss, naming the iteration
    dict(type='CheckInvalidLossHook'),
    dict(type='RNGStateCheckpointHook'),
    dict(type='WorkDirGuardHook'),
]
