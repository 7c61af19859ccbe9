"""Training entry point behind ``tools/train.py``."""
import logging
from argparse import Namespace

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

from .checks import (check_class_embedding_files, check_config_keys,
                     check_config_types, check_config_values, check_data_paths)
from .runner_cfg import init_cpu_process_group, load_config


def amp_device_available() -> bool:
    """Whether mmengine's ``AmpOptimWrapper`` can run here: it asserts a
    CUDA, NPU, MLU or MUSA device."""
    from mmengine.device import (is_cuda_available, is_mlu_available,
                                 is_musa_available, is_npu_available)
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


def setup_train_cfg(args: Namespace) -> Config:
    """Build the training config from the flags of ``tools/train.py``.

    Mirrors mmseg's ``tools/train.py``: ``--cfg-options`` are merged,
    ``--work-dir`` overrides the config, ``--amp`` switches ``OptimWrapper``
    to ``AmpOptimWrapper`` with a dynamic loss scale, ``--resume`` resumes
    from ``load_from`` if set, else from the latest checkpoint of the work
    dir (in stage 2, whose ``load_from`` is the stage-1 network,
    ``ZS3FeatureCacheTrainLoop`` resumes from the work dir's latest
    checkpoint, or starts from ``load_from`` when there is none: see
    ``mmseg_zs3.engine.runner.resume_from_work_dir``). Then checks, before
    anything is built, that every ``type`` is registered, that the loop,
    dataloader and model configs hold only keys their classes take, that
    their counts are valid, and that the data exists.

    Args:
        args (Namespace): ``config``, ``work_dir``, ``resume``, ``amp``,
            ``cfg_options`` and ``launcher``.

    Returns:
        Config: The checked config.

    Raises:
        ValueError: If AMP (``--amp`` or an ``AmpOptimWrapper`` in the
            config) is asked for where no GPU-like device is available, or
            ``--amp`` meets another optimizer wrapper; and the errors of
            :func:`~mmseg_zs3.apis.runner_cfg.load_config`,
            :func:`~mmseg_zs3.apis.checks.check_config_types`,
            :func:`~mmseg_zs3.apis.checks.check_config_keys`,
            :func:`~mmseg_zs3.apis.checks.check_config_values`,
            :func:`~mmseg_zs3.apis.checks.check_data_paths` and
            :func:`~mmseg_zs3.apis.checks.check_class_embedding_files`.
    """
    cfg = load_config(args.config, args.cfg_options, args.launcher,
                      args.work_dir)
    if args.amp:
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper == 'AmpOptimWrapper':
            print_log(
                'AMP training is already enabled in your config.',
                logger='current',
                level=logging.WARNING)
        elif optim_wrapper != 'OptimWrapper':
            raise ValueError(
                '--amp needs optim_wrapper.type "OptimWrapper" (or '
                f'"AmpOptimWrapper"), but the config has {optim_wrapper!r}')
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    if (cfg.get('optim_wrapper', {}).get('type') == 'AmpOptimWrapper'
            and not amp_device_available()):
        where = ('--amp' if args.amp else
                 "the config's optim_wrapper.type='AmpOptimWrapper'")
        raise ValueError(
            f'{where} asks for automatic mixed precision, which mmengine\'s '
            'AmpOptimWrapper runs on a CUDA, NPU, MLU or MUSA device only, '
            'and none is available here (CPU only). Train without --amp '
            "(optim_wrapper.type='OptimWrapper'), or on a GPU.")
    cfg.resume = bool(args.resume)
    check_config_types(cfg)
    loaders = ['train_dataloader']
    parts = ['model', 'train_cfg', 'train_dataloader']
    if cfg.get('val_cfg') and cfg.get('val_dataloader'):
        loaders.append('val_dataloader')
        parts += ['val_cfg', 'val_dataloader']
    check_config_keys(cfg, parts)
    check_config_values(cfg, parts[1:])
    check_data_paths(cfg, loaders)
    check_class_embedding_files(cfg)
    check_work_dir_free(cfg)
    return cfg


def check_work_dir_free(cfg: Config) -> None:
    """Refuse a work dir that another training run holds, before the Runner
    writes its config copy and log folder there (``WorkDirGuardHook`` takes
    the lock itself when the run starts; this only checks it early).

    Args:
        cfg (Config): The training config.

    Raises:
        mmseg_zs3.fileio.DirLockedError: Naming the holder's pid and host.
    """
    import os
    import os.path as osp

    from mmseg_zs3.fileio import DirLock
    if os.environ.get('RANK', '0') != '0':
        return  # rank 0 speaks for the job
    hooks = [
        h for h in cfg.get('custom_hooks', None) or []
        if h.get('type') == 'WorkDirGuardHook'
    ]
    if not hooks:
        return
    lock_name = hooks[0].get('lock_name', '.zs3_train.lock')
    DirLock(osp.join(cfg.work_dir, lock_name)).check_free()


def build_runner(cfg: Config) -> Runner:
    """``Runner.from_cfg``, or the registered ``runner_type`` if set.

    A CPU-only ``pytorch`` launch gets its process group first (see
    :func:`~mmseg_zs3.apis.runner_cfg.init_cpu_process_group`).
    """
    init_cpu_process_group(cfg)
    if 'runner_type' in cfg:
        from mmseg.registry import RUNNERS
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def train(args: Namespace) -> Runner:
    """Train as ``tools/train.py`` does; see :func:`setup_train_cfg`.

    Args:
        args (Namespace): The parsed flags of ``tools/train.py``.

    Returns:
        Runner: The runner after training.
    """
    runner = build_runner(setup_train_cfg(args))
    runner.train()
    return runner
