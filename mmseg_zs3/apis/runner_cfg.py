"""Config handling shared by :func:`train` and :func:`test`."""
import logging
import os.path as osp
from typing import Optional

from mmengine.config import Config
from mmengine.logging import print_log

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


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
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file {config!r} does not exist')
    if launcher not in LAUNCHERS:
        raise ValueError(
            f'launcher {launcher!r} is not one of {list(LAUNCHERS)}')
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    # work_dir priority: CLI > config > config file name (as mmseg's tools).
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])
    if launcher != 'none':
        _adapt_distributed_to_cpu(cfg)
    ensure_custom_hook(cfg, 'CheckpointClassCountHook')
    return cfg


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
        print_log('No CUDA device: using the gloo backend instead of nccl.',
                  logger='current', level=logging.WARNING)
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
    if (cfg.get('launcher', 'none') != 'pytorch'
            or torch.cuda.is_available() or torch_dist.is_initialized()):
        return
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
    backend = dist_cfg.pop('backend', 'gloo')
    dist_cfg.pop('init_backend', None)
    torch_dist.init_process_group(backend=backend, **dist_cfg)
