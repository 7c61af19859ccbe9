"""The supervised-oracle baseline configs (``configs/zs3/oracle_*``): mmseg's
own model configs, inherited (``mmseg::``), trained on all classes and
evaluated with ``ZeroShotIoUMetric`` on the split of the seen-only config of
the same dataset and K; one of them trains a few iterations on CPU on the
tiny shapes data, end to end through mmengine's Runner."""
import glob
import os.path as osp
import re

import numpy as np
import pytest
import torch
from conftest import DATALOADERS, REPO, unique_experiment_name
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from test_configs import _memoised_mmseg_metafiles  # noqa: F401 (autouse)
from test_configs import _weights_off

from mmseg_zs3.apis import check_config_types
from mmseg_zs3.apis.checks import check_config_keys, check_config_values
from mmseg_zs3.embeddings import resolve_class_names
from mmseg_zs3.splits import build_split

CONFIG_DIR = osp.join(REPO, 'configs', 'zs3')
# the oracles of the ZS3 splits (the shapes one has its own tests:
# conftest's tiny_run)
ORACLES = sorted(glob.glob(osp.join(CONFIG_DIR, 'oracle_*-zs3k*.py')))
NAME = re.compile(r'oracle_(?P<backbone>[^_]+_[^_]+)_(?P<gpus>\d+)xb'
                  r'(?P<batch>\d+)-(?P<schedule>[^_]+)_(?P<dataset>[a-z0-9]+)-'
                  r'zs3k(?P<k>\d+)-(?P<crop>\d+x\d+)\.py$')
DATASETS = dict(
    voc12aug=('zs3_voc', 'PascalVOCDataset'),
    context60=('zs3_context', 'PascalContextDataset'))
SHAPES_DATA = osp.join(CONFIG_DIR, '_base_', 'datasets', 'zs3_shapes.py')


def _ids(paths):
    return [osp.basename(p) for p in paths]


def _datasets(node):
    """Every dataset dict (one with ``data_prefix``) nested in ``node``."""
    if isinstance(node, dict):
        if 'data_prefix' in node:
            yield node
        for value in node.values():
            yield from _datasets(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _datasets(value)


def test_every_split_has_an_oracle():
    found = {(m['dataset'], int(m['k']))
             for m in (NAME.search(osp.basename(p)) for p in ORACLES) if m}
    assert found == {(d, k) for d in DATASETS for k in (2, 4, 6, 8, 10)}
    assert len(ORACLES) == len(found)


@pytest.mark.parametrize('config', ORACLES, ids=_ids(ORACLES))
def test_oracle_config(config):
    """Named in the scheme, inherits mmseg's config (not a copy) without
    prose (configs/zs3/README.md holds it), trains on every class, evaluates
    with the seen-only config's split and metric, and builds its model."""
    match = NAME.search(osp.basename(config))
    assert match, config
    with open(config) as f:
        text = f.read()
    assert "'mmseg::deeplabv3plus/'" in text
    assert '#' not in text
    assert 'decode_head' not in text and 'train_dataloader' not in text
    cfg = Config.fromfile(config)
    check_config_types(cfg)
    check_config_keys(cfg)
    check_config_values(cfg)
    split_name, dataset_type = DATASETS[match['dataset']]
    k = int(match['k'])
    # mmseg's training set, not a seen-only one
    datasets = list(_datasets(cfg.train_dataloader.to_dict()))
    assert datasets and all(d['type'] == dataset_type for d in datasets)
    assert 'SeenOnlyDataset' not in str(cfg.train_dataloader)
    classes = resolve_class_names(dataset_type)
    assert cfg.model.decode_head.num_classes == len(classes)
    assert cfg.model.data_preprocessor.size == tuple(
        int(s) for s in match['crop'].split('x'))
    # the metric and split of the seen-only config of the same dataset and K
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        assert evaluator.type == 'ZeroShotIoUMetric'
        assert evaluator.split.to_dict() == dict(name=split_name, k=k)
    # the paper's network (other backbones share the split)
    seen_only = glob.glob(
        osp.join(
            CONFIG_DIR, 'seen-only_deeplabv3plus_r101-d16-mg248_*_'
            f'{match["dataset"]}-zs3k{k}-*.py'))
    assert len(seen_only) == 1, seen_only
    stage1 = Config.fromfile(seen_only[0])
    assert stage1.val_evaluator.type == 'ZeroShotIoUMetric'
    assert stage1.val_evaluator.split.to_dict() == \
        cfg.val_evaluator.split.to_dict()
    assert len(build_split(cfg.zs3_split, classes).unseen_names) == k
    # the plugin's runtime hooks (through zs3_runtime_hooks.py)
    from mmseg_zs3.engine.hooks import RUNTIME_HOOKS
    assert tuple(h['type'] for h in cfg.custom_hooks) == RUNTIME_HOOKS
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    model_cfg = cfg.model.to_dict()
    _weights_off(model_cfg)
    with torch.device('meta'):
        model = MODELS.build(model_cfg)
    assert type(model).__name__ == 'EncoderDecoder'
    assert model.decode_head.conv_seg.out_channels == len(classes)


def oracle_on_shapes(config: str,
                     data_root: str,
                     work_dir: str,
                     max_iters: int = 2) -> Config:
    """An oracle config with its model as is (ResNet-101, SyncBN, auxiliary
    head; no pretrained weights) on the tiny shapes data and split, for
    ``max_iters`` iterations of batch 2, validated at the end."""
    cfg = Config.fromfile(config)
    shapes = Config.fromfile(SHAPES_DATA)
    cfg.work_dir = work_dir
    cfg.experiment_name = unique_experiment_name('oracle')
    cfg.log_level = 'WARNING'
    num_classes = len(resolve_class_names(shapes.dataset_type))
    cfg.model.pretrained = None
    cfg.model.data_preprocessor.size = (64, 64)
    cfg.model.decode_head.num_classes = num_classes
    cfg.model.auxiliary_head.num_classes = num_classes
    for key in DATALOADERS:
        loader = shapes[key]
        loader.batch_size = 2
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.dataset.data_root = data_root
        cfg[key] = loader
    cfg.val_evaluator.split = shapes.zs3_split
    cfg.test_evaluator.split = shapes.zs3_split
    cfg.train_cfg = dict(
        type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
    for scheduler in cfg.param_scheduler:
        scheduler.end = max_iters
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = max_iters
    cfg.randomness = dict(seed=0)
    return cfg


def test_oracle_trains_on_cpu(shapes_root, tmp_path):
    """mmseg's ResNet-101 DeepLabV3+ of the VOC K=2 oracle trains two
    iterations and is validated with ZeroShotIoUMetric; its SyncBN becomes
    BN in a one-process run (mmengine's revert_sync_batchnorm)."""
    config = next(p for p in ORACLES if 'voc12aug-zs3k2-' in p)
    assert Config.fromfile(config).norm_cfg.type == 'SyncBN'
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runner = Runner.from_cfg(
            oracle_on_shapes(config, shapes_root, str(tmp_path)))
        runner.train()
    finally:
        torch.set_num_threads(torch_threads)
    assert not any(
        isinstance(m, torch.nn.SyncBatchNorm) for m in runner.model.modules())
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 2 and np.isfinite(losses).all()
    assert osp.isfile(osp.join(str(tmp_path), 'iter_2.pth'))
    metrics = {
        k[len('val/'):]: v.current()
        for k, v in runner.message_hub.log_scalars.items()
        if k.startswith('val/')
    }
    for key in ('mIoU_seen', 'mIoU_unseen', 'hIoU', 'aAcc', 'mAcc_seen',
                'mAcc_unseen'):
        assert key in metrics and np.isfinite(metrics[key]), key
