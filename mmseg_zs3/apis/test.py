"""Testing entry point behind ``tools/test.py``."""
import os.path as osp
from argparse import Namespace

from mmengine.config import Config
from mmengine.runner import Runner

from .checks import check_config_types, check_data_paths
from .runner_cfg import load_config
from .train import build_runner


def setup_test_cfg(args: Namespace) -> Config:
    """Build the test config from the flags of ``tools/test.py``.

    Mirrors mmseg's ``tools/test.py``: the checkpoint becomes ``load_from``;
    ``--show``/``--show-dir`` turn on the drawing of
    ``default_hooks.visualization`` for every ``--show-interval``-th batch
    (every batch by default; mmseg's hook would draw every 50th) and
    ``--show-dir`` sets the visualizer's ``save_dir``; ``--out`` sets ``output_dir`` and ``keep_results`` of the
    test evaluator, which writes the predicted label maps there; ``--tta``
    swaps in ``tta_model`` and ``tta_pipeline``.

    Args:
        args (Namespace): ``config``, ``checkpoint``, ``work_dir``, ``out``,
            ``show``, ``show_dir``, ``show_interval``, ``wait_time``, ``cfg_options``,
            ``launcher`` and ``tta``.

    Returns:
        Config: The checked config.
    """
    cfg = load_config(args.config, args.cfg_options, args.launcher,
                      args.work_dir)
    if '://' not in args.checkpoint and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(
            f'checkpoint {args.checkpoint!r} does not exist')
    cfg.load_from = args.checkpoint
    if getattr(args, 'show', False) or getattr(args, 'show_dir', None):
        hook = cfg.get('default_hooks', {}).get('visualization')
        if hook is None:
            raise ValueError(
                '--show/--show-dir need default_hooks.visualization (e.g. '
                "dict(type='SegVisualizationHook')), which the config lacks")
        hook['draw'] = True
        # mmseg's hook draws every 50th batch; a test run asked to draw
        # draws every ``show_interval``-th (all by default).
        hook['interval'] = getattr(args, 'show_interval', 1)
        if getattr(args, 'show', False):
            hook['show'] = True
            hook['wait_time'] = getattr(args, 'wait_time', 2)
        if getattr(args, 'show_dir', None):
            cfg.visualizer['save_dir'] = args.show_dir
    if getattr(args, 'tta', False):
        for key in ('tta_model', 'tta_pipeline'):
            if key not in cfg:
                raise ValueError(f'--tta needs `{key}` in the config')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if getattr(args, 'out', None) is not None:
        evaluators = cfg.test_evaluator
        for evaluator in (evaluators if isinstance(evaluators, list) else
                          [evaluators]):
            evaluator['output_dir'] = args.out
            evaluator['keep_results'] = True
    check_config_types(cfg)
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
