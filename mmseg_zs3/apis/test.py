"""Testing entry point behind ``tools/test.py``."""
import os
import os.path as osp
from argparse import Namespace

from mmengine.config import Config

from .checks import (check_config_keys, check_config_types,
                     check_config_values, check_data_paths, check_work_dir)
from .runner_cfg import load_config
from .train import build_runner

# mmseg's hook, which ``--show --show-dir`` replaces by one that also saves
_MMSEG_VISUALIZATION_HOOKS = ('SegVisualizationHook',
                              'mmseg.SegVisualizationHook')


def display_backend() -> str:
    """The matplotlib backend that mmengine's ``Visualizer.show`` would use.

    ``Visualizer.show`` draws with matplotlib; without a display (or a GUI
    toolkit) matplotlib falls back to a non-interactive backend such as
    ``agg``, and showing then does nothing.

    Returns:
        str: The backend name, e.g. ``'agg'`` or ``'tkagg'``.
    """
    import matplotlib
    return matplotlib.get_backend()


def can_show(backend: str) -> bool:
    """Whether matplotlib ``backend`` can open a window.

    Args:
        backend (str): A matplotlib backend name.

    Returns:
        bool: False for matplotlib's non-interactive backends.
    """
    try:
        from matplotlib.backends import BackendFilter, backend_registry
        non_interactive = backend_registry.list_builtin(
            BackendFilter.NON_INTERACTIVE)
    except ImportError:  # matplotlib < 3.9
        from matplotlib.rcsetup import non_interactive_bk as non_interactive
    return backend.lower() not in {b.lower() for b in non_interactive}


def check_show_possible() -> None:
    """Refuse ``--show`` where no window can be opened.

    Raises:
        RuntimeError: Naming the non-interactive backend (and an unset
            ``DISPLAY``) and ``--show-dir`` as the way to keep the drawings.
    """
    backend = display_backend()
    if can_show(backend):
        return
    no_display = (
        os.name == 'posix' and not os.environ.get('DISPLAY')
        and not os.environ.get('WAYLAND_DISPLAY'))
    raise RuntimeError(
        '--show needs a window, but matplotlib (with which mmengine\'s '
        f'Visualizer shows drawings) has the non-interactive backend '
        f'{backend!r} here'
        f'{" (DISPLAY is not set: no display)" if no_display else ""}, so '
        'nothing would be shown. Save the drawings with --show-dir DIR '
        'instead (without --show), or run where a display is available.')


def setup_test_cfg(args: Namespace) -> Config:
    """Build the test config from the flags of ``tools/test.py``.

    Mirrors mmseg's ``tools/test.py``: the checkpoint becomes ``load_from``;
    ``--show``/``--show-dir`` turn on the drawing of
    ``default_hooks.visualization`` for every ``--show-interval``-th batch
    (every batch by default; mmseg's hook would draw every 50th) and
    ``--show-dir`` sets the visualizer's ``save_dir``; with both, mmseg's
    hook (which would drop the saving) is swapped for
    :class:`~mmseg_zs3.engine.hooks.ShowAndSaveVisualizationHook`;
    ``--out`` sets ``output_dir`` and ``keep_results`` of the test
    evaluator, which writes the predicted label maps there; ``--tta`` swaps
    in ``tta_model`` and ``tta_pipeline``. Then checks, before anything is
    built, the types, the keys of the model, test loop and test dataloader,
    and the data.

    Args:
        args (Namespace): ``config``, ``checkpoint``, ``work_dir``, ``out``,
            ``show``, ``show_dir``, ``show_interval``, ``wait_time``,
            ``cfg_options``, ``launcher`` and ``tta``.

    Returns:
        Config: The checked config.

    Raises:
        FileNotFoundError: If the checkpoint does not exist.
        IsADirectoryError: If the checkpoint is a folder.
        RuntimeError: If ``--show`` is asked for where no window can open.
        ValueError: If ``--show``/``--show-dir`` meet a config without a
            visualization hook, ``--show-interval`` is below 1, or ``--tta``
            a config without ``tta_model``/``tta_pipeline``; and the errors
            of :func:`~mmseg_zs3.apis.runner_cfg.load_config` and the
            checks.
    """
    cfg = load_config(args.config, args.cfg_options, args.launcher,
                      args.work_dir)
    if '://' not in args.checkpoint and osp.isdir(args.checkpoint):
        raise IsADirectoryError(
            f'checkpoint {args.checkpoint!r} is a folder; expected a '
            'checkpoint file (e.g. WORK_DIR/iter_N.pth)')
    if '://' not in args.checkpoint and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(
            f'checkpoint {args.checkpoint!r} does not exist')
    cfg.load_from = args.checkpoint
    show = getattr(args, 'show', False)
    show_dir = getattr(args, 'show_dir', None)
    if show or show_dir is not None:
        hook = cfg.get('default_hooks', {}).get('visualization')
        if hook is None:
            raise ValueError(
                '--show/--show-dir need default_hooks.visualization (e.g. '
                "dict(type='SegVisualizationHook')), which the config lacks")
        interval = getattr(args, 'show_interval', 1)
        if int(interval) < 1:
            raise ValueError(
                f'--show-interval {interval}: expected an integer >= 1')
        if show:
            check_show_possible()
        if show_dir is not None:
            check_work_dir(show_dir, '--show-dir')
        hook['draw'] = True
        # mmseg's hook draws every 50th batch; a test run asked to draw
        # draws every ``show_interval``-th (all by default).
        hook['interval'] = int(interval)
        if show:
            hook['show'] = True
            hook['wait_time'] = getattr(args, 'wait_time', 2)
            if show_dir and hook.get('type') in _MMSEG_VISUALIZATION_HOOKS:
                hook['type'] = 'ShowAndSaveVisualizationHook'
        if show_dir:
            if not cfg.get('visualizer'):
                raise ValueError(
                    '--show-dir needs a `visualizer` in the config (e.g. '
                    "dict(type='SegLocalVisualizer', vis_backends=["
                    "dict(type='LocalVisBackend')])), which it lacks")
            cfg.visualizer['save_dir'] = show_dir
            if not cfg.visualizer.get('vis_backends'):
                cfg.visualizer['vis_backends'] = [dict(type='LocalVisBackend')]
    if getattr(args, 'tta', False):
        for key in ('tta_model', 'tta_pipeline'):
            if key not in cfg:
                raise ValueError(f'--tta needs `{key}` in the config')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if getattr(args, 'out', None) is not None:
        check_work_dir(args.out, '--out')
        evaluators = cfg.test_evaluator
        for evaluator in (evaluators
                          if isinstance(evaluators, list) else [evaluators]):
            evaluator['output_dir'] = args.out
            evaluator['keep_results'] = True
    check_config_types(cfg)
    check_config_keys(cfg, ['model', 'test_cfg', 'test_dataloader'])
    check_config_values(cfg, ['test_cfg', 'test_dataloader'])
    check_data_paths(cfg, ['test_dataloader'])
    return cfg


def test(args: Namespace) -> dict:
    """Test a checkpoint as ``tools/test.py`` does; see
    :func:`setup_test_cfg`.

    Args:
        args (Namespace): The parsed flags of ``tools/test.py``.

    Returns:
        dict: The metrics of the test evaluator.
    """
    runner = build_runner(setup_test_cfg(args))
    return runner.test()
