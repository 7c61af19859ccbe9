"""Shared fixtures: a tiny generated shapes dataset and tiny configs."""
import importlib.util
import itertools
import logging
import os.path as osp

import pytest
from mmengine.config import Config

import mmseg_zs3  # noqa: F401  (compat fixes and registrations)
from mmseg_zs3.apis.demo import EMBEDDING_NAME
from mmseg_zs3.datasets import generate_shapes_dataset
from mmseg_zs3.embeddings import build_class_embeddings, load_packaged_glove
from mmseg_zs3.utils.jobs import set_everywhere

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
ORACLE_CONFIG = osp.join(REPO, 'configs', 'zs3',
                         'oracle_unet-s2-fcn_1xb16-1800it_shapes-64x64.py')
DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
_RUN_IDS = itertools.count()


def unique_experiment_name(prefix: str = 'zs3_test') -> str:
    """A new ``experiment_name`` for each Runner of a test process.

    mmengine names a run's MessageHub after ``experiment_name``, which is
    the config name plus a timestamp in seconds: two Runners built within
    one second share one hub, and the loss history of one appears in the
    other's.
    """
    return f'{prefix}_{next(_RUN_IDS)}'


@pytest.fixture(scope='session')
def shapes_root(tmp_path_factory):
    """A tiny shapes dataset (24 train, 8 val, 8 calib images of 64x64)
    with its class embeddings."""
    root = str(tmp_path_factory.mktemp('data') / 'zs3_shapes')
    generate_shapes_dataset(
        root, num_train=24, num_val=8, num_calib=8, image_size=64, seed=0)
    # the class embeddings beside the data, as `make demo` writes them
    # (stage 1's embedding auxiliary head, stage 2 and DeViSE read them)
    build_class_embeddings(
        'ZS3ShapesDataset', load_packaged_glove(),
        normalize='l2').save(osp.join(root, EMBEDDING_NAME))
    return root


def use_embedding_file(node, path: str) -> None:
    """Set every ``embedding_file`` of a config node to ``path``: the shapes
    configs' class embeddings (stage 1's embedding auxiliary head, stage 2,
    DeViSE) for a test's own file, as the demo sets them."""
    set_everywhere(node, 'embedding_file', path)


def tiny_config(data_root: str,
                work_dir: str,
                config: str = ORACLE_CONFIG,
                max_iters: int = 4,
                checkpoint_interval: int = 2,
                batch_size: int = 2,
                val: bool = False,
                deterministic: bool = False) -> Config:
    """``config`` shrunk to a few iterations on the tiny dataset.

    Seeded (seed 0), no worker processes,
    logging every iteration, a checkpoint every ``checkpoint_interval``
    iterations, all kept. Validation off unless ``val``. ``deterministic``
    (``torch.use_deterministic_algorithms``) is off by default: on CPU these
    runs reproduce exactly without it, and it makes backward ~10x slower.
    """
    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    cfg.experiment_name = unique_experiment_name()
    cfg.log_level = 'WARNING'
    for key in DATALOADERS:
        loader = cfg.get(key)
        if loader is None:
            continue
        loader.batch_size = batch_size
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.dataset.data_root = data_root
    embedding_file = osp.join(data_root, EMBEDDING_NAME)
    if osp.isfile(embedding_file):  # the shapes data's, as make demo writes
        use_embedding_file(cfg.model, embedding_file)
    cfg.train_cfg.max_iters = max_iters
    cfg.train_cfg.val_interval = max_iters
    schedulers = []
    for scheduler in cfg.get('param_scheduler', None) or []:
        if scheduler.get('end', 0) > max_iters:
            scheduler.end = max_iters
        if scheduler.get('begin', 0) < scheduler.end:
            schedulers.append(scheduler)
    cfg.param_scheduler = schedulers
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = checkpoint_interval
    cfg.default_hooks.checkpoint.max_keep_ckpts = -1
    cfg.randomness = dict(seed=0, deterministic=deterministic)
    if not val:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    return cfg


def write_tiny_config(path: str, *args, **kwargs) -> str:
    """Write :func:`tiny_config` to ``path`` (for subprocesses)."""
    tiny_config(*args, **kwargs).dump(path)
    return path


@pytest.fixture(scope='session')
def tiny_run(shapes_root, tmp_path_factory):
    """An uninterrupted 4-iteration run of the tiny oracle config.

    Returns:
        dict: ``work_dir`` (holding ``iter_2.pth`` and ``iter_4.pth``) and
        ``losses`` (the loss of each iteration).
    """
    import numpy as np
    from mmengine.runner import Runner
    work_dir = str(tmp_path_factory.mktemp('tiny_run'))
    runner = Runner.from_cfg(tiny_config(shapes_root, work_dir))
    runner.train()
    losses = np.asarray(runner.message_hub.get_scalar('train/loss').data[0])
    return dict(work_dir=work_dir, losses=losses)


@pytest.fixture(scope='session')
def trained_checkpoint(tiny_run):
    """``iter_2.pth`` of :func:`tiny_run`, saved by mmengine's Runner."""
    return osp.join(tiny_run['work_dir'], 'iter_2.pth')


class LogRecords(logging.Handler):
    """Collects the messages of mmengine's current logger."""

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def log_messages():
    """The messages logged through mmengine's current logger during a test
    (its stream handler writes to the stdout of the process start, which
    pytest's capsys does not see)."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    handler = LogRecords()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def load_tool(name: str):
    """Import ``tools/<name>.py`` as a module (``parse_args``, ``main``)."""
    spec = importlib.util.spec_from_file_location(
        f'zs3_tool_{name}', osp.join(REPO, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
