"""Config handling shared by :func:`train` and :func:`test`."""
import logging
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config
from mmengine.logging import print_log

from .checks import ConfigCheckError, check_cfg_options_keys, check_work_dir

CONFIG_SUFFIXES = ('.py', '.json', '.yml', '.yaml')

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
# The environment variables that mmengine's ``init_dist`` reads for each
# launcher (``mmengine/dist/utils.py``), and what sets them.
LAUNCHER_ENV = {
    'pytorch': (('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'),
                'torchrun (e.g. `torchrun --nproc_per_node=2 tools/train.py '
                'CONFIG --launcher pytorch`)'),
    'slurm': (('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST'),
              'slurm (`srun ... python tools/train.py CONFIG --launcher '
              'slurm`)'),
    'mpi': (('OMPI_COMM_WORLD_LOCAL_RANK', 'OMPI_COMM_WORLD_RANK',
             'OMPI_COMM_WORLD_SIZE'), 'Open MPI (`mpirun -np 2 python '
            'tools/train.py CONFIG --launcher mpi`)'),
}
_NUMERIC_ENV = ('RANK', 'WORLD_SIZE', 'MASTER_PORT', 'SLURM_PROCID',
                'SLURM_NTASKS', 'OMPI_COMM_WORLD_LOCAL_RANK',
                'OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE')


def check_launcher_env(launcher: str) -> None:
    """Check that the environment of a distributed ``launcher`` is set.

    Without it mmengine fails inside ``init_dist`` with a ``KeyError`` or
    torch's ``environment variable RANK expected, but not set``, after the
    config has been read and the work dir created.

    Args:
        launcher (str): One of ``LAUNCHERS``; ``'none'`` needs nothing.

    Raises:
        ValueError: Naming the launcher, the missing (or non-integer)
            variables and what sets them.
    """
    if launcher not in LAUNCHER_ENV:
        return
    names, starter = LAUNCHER_ENV[launcher]
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        raise ValueError(
            f'--launcher {launcher} needs the environment that {starter} '
            f'sets, but {", ".join(missing)} '
            f'{"is" if len(missing) == 1 else "are"} not set. Start the '
            f'command through it, or use --launcher none for one process.')
    bad = [
        f'{n}={os.environ[n]!r}' for n in names
        if n in _NUMERIC_ENV and not os.environ[n].strip().isdigit()
    ]
    if bad:
        raise ValueError(f'--launcher {launcher}: {", ".join(bad)} should '
                         'be a non-negative integer.')


def load_config(config: str,
                cfg_options: Optional[dict] = None,
                launcher: str = 'none',
                work_dir: Optional[str] = None) -> Config:
    """Load ``config`` and apply the command-line overrides of mmseg's tools.

    Args:
        config (str): Config file path.
        cfg_options (dict, optional): ``--cfg-options`` overrides. Defaults to
            None.
        launcher (str): Job launcher, one of ``LAUNCHERS``. Defaults to
            'none'.
        work_dir (str, optional): ``--work-dir``. When None, the config's
            ``work_dir``, else ``./work_dirs/<config name>``. Defaults to None.

    Returns:
        Config: The config, ready for ``Runner.from_cfg``.

    Raises:
        FileNotFoundError: If ``config`` does not exist.
        ValueError: If ``config`` is not a file mmengine reads, ``launcher``
            is unknown, or a distributed launcher
            lacks the environment its launcher sets (see
            :func:`check_launcher_env`).
        ConfigCheckError: If the config is not valid Python, or a
            ``--cfg-options`` key starts with a top-level key that nothing
            reads (see
            :func:`~mmseg_zs3.apis.checks.check_cfg_options_keys`).
        NotADirectoryError: If the work dir is a file.
        PermissionError: If the work dir cannot be written.
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file {config!r} does not exist')
    if osp.splitext(config)[1].lower() not in CONFIG_SUFFIXES:
        raise ValueError(
            f'config file {config!r} is not a {", ".join(CONFIG_SUFFIXES)} '
            'file, the formats mmengine reads')
    if launcher not in LAUNCHERS:
        raise ValueError(
            f'launcher {launcher!r} is not one of {list(LAUNCHERS)}')
    check_launcher_env(launcher)
    try:
        cfg = Config.fromfile(config)
    except SyntaxError as e:
        raise ConfigCheckError(
            f'config file {config!r} (or one of its _base_ files) is not '
            f'valid Python: {e.msg} at line {e.lineno}: '
            f'{(e.text or "").strip()!r}') from e
    cfg.launcher = launcher
    if cfg_options is not None:
        check_cfg_options_keys(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
        if cfg.launcher != launcher:  # --cfg-options launcher=...
            if cfg.launcher not in LAUNCHERS:
                raise ValueError(f'launcher {cfg.launcher!r} (--cfg-options) '
                                 f'is not one of {list(LAUNCHERS)}')
            check_launcher_env(cfg.launcher)
            launcher = cfg.launcher
    # work_dir priority: CLI > config > config file name (as mmseg's tools).
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])
    check_work_dir(cfg.work_dir,
                   '--work-dir' if work_dir is not None else 'work_dir')
    if launcher != 'none':
        _adapt_distributed_to_cpu(cfg)
    ensure_runtime_hooks(cfg)
    return cfg


def ensure_runtime_hooks(cfg: Config) -> None:
    """Give a config the plugin's runtime hooks, unless it chose its own.

    A config without a ``custom_hooks`` key (e.g. a plain mmseg config) gets
    every hook of :data:`~mmseg_zs3.engine.hooks.RUNTIME_HOOKS`. A config that
    sets ``custom_hooks`` (even to ``[]``) keeps its choice, as mmseg would,
    and a warning names the runtime hooks it leaves out and what they guard.

    Args:
        cfg (Config): The config, changed in place.
    """
    from mmseg_zs3.engine.hooks import RUNTIME_HOOKS
    if 'custom_hooks' not in cfg:
        for hook_type in RUNTIME_HOOKS:
            ensure_custom_hook(cfg, hook_type)
        return
    present = {h.get('type') for h in cfg.custom_hooks or []}
    left_out = [h for h in RUNTIME_HOOKS if h not in present]
    if left_out:
        print_log(
            f'custom_hooks of the config leave out {left_out}: the checks '
            'of checkpoints, classes and losses, exact --resume and the '
            'work-dir guard that they provide are off (see '
            'configs/zs3/_base_/zs3_runtime.py).',
            logger='current',
            level=logging.WARNING)


def ensure_custom_hook(cfg: Config, hook_type: str) -> None:
    """Append ``dict(type=hook_type)`` to ``cfg.custom_hooks`` if absent."""
    hooks = list(cfg.get('custom_hooks', None) or [])
    if not any(h.get('type') == hook_type for h in hooks):
        hooks.append(dict(type=hook_type))
        cfg.custom_hooks = hooks
    imports = dict(cfg.get('custom_imports', None) or {})
    if 'mmseg_zs3' not in imports.get('imports', []):
        imports['imports'] = list(imports.get('imports', [])) + ['mmseg_zs3']
        imports.setdefault('allow_failed_imports', False)
        cfg.custom_imports = imports


def _adapt_distributed_to_cpu(cfg: Config) -> None:
    """Let mmengine's DDP run on CPU processes (gloo, no ``device_ids``).

    mmengine wraps the model with ``device_ids=[LOCAL_RANK]``, which torch's
    DistributedDataParallel refuses for a CPU model, and mmseg's runtime asks
    for the NCCL backend, which needs GPUs. Without CUDA, this switches the
    backend to gloo and passes ``device_ids=None``; with CUDA nothing changes.
    """
    import torch
    if torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', dict())
    dist_cfg = env_cfg.setdefault('dist_cfg', dict())
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        print_log(
            'No CUDA device: using the gloo backend instead of nccl.',
            logger='current',
            level=logging.WARNING)
        dist_cfg['backend'] = 'gloo'
    if cfg.get('model_wrapper_cfg', None) is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    elif cfg.model_wrapper_cfg.get('type') in ('MMDistributedDataParallel',
                                               None):
        cfg.model_wrapper_cfg.setdefault('device_ids', None)
        cfg.model_wrapper_cfg.setdefault('broadcast_buffers', False)


def init_cpu_process_group(cfg: Config) -> None:
    """Initialise the process group of a CPU-only ``pytorch`` launch.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` first, which
    fails on a CPU-only torch; the Runner skips ``init_dist`` when the group
    already exists, so this initialises it (``env://``, as torchrun sets it)
    with the config's backend. With CUDA, or another launcher, it does
    nothing and mmengine initialises as usual.
    """
    import torch
    import torch.distributed as torch_dist
    if (cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available()
            or torch_dist.is_initialized()):
        return
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
    backend = dist_cfg.pop('backend', 'gloo')
    dist_cfg.pop('init_backend', None)
    torch_dist.init_process_group(backend=backend, **dist_cfg)
