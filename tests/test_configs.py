"""Every config under configs/zs3/ loads, names registered types only, has
only keys its loops, dataloaders and model components take, and builds its
model (no weights loaded), so a missing registration fails CI.

Configs whose models read a class-embedding file (``ClassEmbedding``: the
ZS3Net stage-2 and DeViSE configs) get, in place of the file, a temporary one
with random vectors for the classes and dimension the config asks for: the
real word2vec files are not in CI. Every config is built in full (on the meta
device, where ResNet-101 builds in milliseconds; on the CPU for the
backbones that read tensor values while they build, e.g. MiT's drop-path
rates). Loading the configs is what costs: mmengine reads all of mmseg's
metafiles for every ``mmseg::`` base, so the test memoises that lookup.
"""
import functools
import glob
import os.path as osp
import re

import mmengine.config.utils as mmengine_cfg_utils
import numpy as np
import pytest
import torch
from conftest import REPO
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmseg_zs3.apis import check_config_types
from mmseg_zs3.apis.checks import check_config_keys, check_config_values
from mmseg_zs3.embeddings import ClassEmbeddings, resolve_class_names

CONFIGS = sorted(
    p for p in glob.glob(
        osp.join(REPO, 'configs', 'zs3', '**', '*.py'), recursive=True)
    if '_base_' not in osp.relpath(p, REPO).split(osp.sep))
# the ZS3Net stage-2 leaves of the published protocols, each of which
# starts from the stage-1 leaf of the same backbone, dataset and protocol
STAGE2_CONFIGS = [
    p for p in CONFIGS
    if re.match(r'zs3net(-paper)?_.*_(voc12aug|context60|coco-stuff164k)-',
                osp.basename(p))
]


@pytest.fixture(scope='module', autouse=True)
def _memoised_mmseg_metafiles():
    """Read mmseg's metafiles once per (package, config) for this module,
    not once per ``mmseg::`` base of every config (~0.6 s each)."""
    lookup = functools.lru_cache(maxsize=None)(
        _result_or_error(mmengine_cfg_utils._get_cfg_metainfo))

    def get_cfg_metainfo(package_path, cfg_path):
        result, error = lookup(package_path, cfg_path)
        if error is not None:
            raise error
        return result

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mmengine_cfg_utils, '_get_cfg_metainfo', get_cfg_metainfo)
        yield


def _result_or_error(func):
    """``func`` returning ``(result, None)`` or ``(None, ValueError)``."""

    def wrapper(*args):
        try:
            return func(*args), None
        except ValueError as e:
            return None, e

    return wrapper


def _weights_off(node):
    """Drop ``init_cfg``/``pretrained`` so that nothing is downloaded."""
    if isinstance(node, dict):
        node.pop('init_cfg', None)
        if 'pretrained' in node:
            node['pretrained'] = None
        for value in node.values():
            _weights_off(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _weights_off(value)


def _find(node, key):
    """Yield every dict of ``node`` (nested dicts/lists) that has ``key``."""
    if isinstance(node, dict):
        if key in node:
            yield node
        for value in node.values():
            yield from _find(value, key)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _find(value, key)


def _fake_embedding_files(model_cfg: dict, tmp_dir: str) -> int:
    """Point every ``embedding_file`` of ``model_cfg`` at a random file.

    The file holds the classes the component asks for (``classes``) with
    ``dim``-d vectors, else the generator's ``embed_dim``, else 300.

    Returns:
        int: The number of files replaced.
    """
    embed_dims = [n['embed_dim'] for n in _find(model_cfg, 'embed_dim')]
    nodes = list(_find(model_cfg, 'embedding_file'))
    for i, node in enumerate(nodes):
        if node.get('classes') is None:
            raise AssertionError(
                f'{node["type"]} without classes=: rows would follow the '
                'file order; configs must name the class order')
        names = resolve_class_names(node['classes'])
        dim = node.get('dim') or (embed_dims[0] if embed_dims else 300)
        path = osp.join(tmp_dir, f'embedding_{i}.npz')
        vectors = np.random.default_rng(i).standard_normal((len(names), dim))
        ClassEmbeddings(names, vectors, dict(sources=['test'])).save(path)
        node['embedding_file'] = path
    return len(nodes)


def _build(model_cfg: dict):
    """Build on the meta device, or on the CPU for a backbone that reads
    tensor values while it builds (meta tensors have none)."""
    from mmseg.registry import MODELS
    try:
        with torch.device('meta'):
            return MODELS.build(model_cfg)
    except RuntimeError as e:
        if 'meta' not in str(e):
            raise
    return MODELS.build(model_cfg)


def test_configs_found():
    names = [osp.basename(p) for p in CONFIGS]
    for algorithm in ('seen-only', 'zs3net', 'zs3net-paper', 'devise'):
        for dataset in ('voc12aug', 'context60'):
            for k in (2, 4, 6, 8, 10):
                assert [
                    n for n in names
                    if n.startswith(algorithm +
                                    '_') and f'_{dataset}-zs3k{k}-' in n
                ], (algorithm, dataset, k)
    for algorithm in ('seen-only', 'zs3net'):
        for protocol in ('voc12aug-u5', 'coco-stuff164k-u15'):
            assert [
                n for n in names
                if n.startswith(algorithm + '_') and f'_{protocol}-' in n
            ], (algorithm, protocol)
    assert len(STAGE2_CONFIGS) >= 2 * 2 * 5 + 2


@pytest.mark.parametrize(
    'config', CONFIGS, ids=[osp.relpath(p, REPO) for p in CONFIGS])
def test_config_builds_model(config, tmp_path):
    cfg = Config.fromfile(config)
    check_config_types(cfg)
    # the plugin's runtime hooks come from the config itself, so mmseg's own
    # tools/train.py and tools/test.py get them too
    from mmseg_zs3.engine.hooks import RUNTIME_HOOKS
    hooks = [h['type'] for h in cfg.get('custom_hooks', [])]
    assert set(RUNTIME_HOOKS) <= set(hooks), (config, hooks)
    # no false alarm of the key check that tools/train.py and test.py run:
    # every key of the loops, dataloaders and model is one that its class
    # takes
    check_config_keys(cfg)
    check_config_values(cfg)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else \
        dict(cfg.model)
    _weights_off(model_cfg)
    num_files = _fake_embedding_files(model_cfg, str(tmp_path))
    model = _build(model_cfg)
    assert sum(p.numel() for p in model.parameters()) > 0
    if model_cfg['type'] == 'ZS3EncoderDecoder':
        assert num_files > 0
        assert model.generative_head.feat_dim == model.decode_head.channels
        assert model.decode_head.unseen_indices


@pytest.mark.parametrize(
    'config',
    STAGE2_CONFIGS,
    ids=[osp.relpath(p, REPO) for p in STAGE2_CONFIGS])
def test_stage2_config_matches_stage1(config):
    """A stage-2 config loads the last checkpoint of the stage-1 config of
    the same backbone, dataset and protocol, and uses its split (data, head
    and metric), its network and its class count."""
    cfg = Config.fromfile(config)
    work_dir, ckpt = osp.split(cfg.load_from)
    stage1_name = osp.basename(work_dir)
    stage1 = osp.join(REPO, 'configs', 'zs3', stage1_name + '.py')
    assert osp.isfile(stage1), f'{cfg.load_from} names no stage-1 config'
    name = osp.basename(config)
    # same backbone, dataset, protocol and crop; stage 1 is seen-only
    assert stage1_name.startswith('seen-only_')
    assert stage1_name.split('_')[1] == name.split('_')[1]
    assert stage1_name.rsplit('_', 1)[1] == name[:-3].rsplit('_', 1)[1]
    stage1_cfg = Config.fromfile(stage1)
    if stage1_cfg.train_cfg.type == 'IterBasedTrainLoop':
        assert not stage1_cfg.default_hooks.checkpoint.by_epoch
        assert ckpt == f'iter_{stage1_cfg.train_cfg.max_iters}.pth'
    else:
        assert stage1_cfg.default_hooks.checkpoint.by_epoch
        assert ckpt == f'epoch_{stage1_cfg.train_cfg.max_epochs}.pth'
    split = stage1_cfg.zs3_split.to_dict()
    assert cfg.model.decode_head.split.to_dict() == split
    assert cfg.val_evaluator.split.to_dict() == split
    assert cfg.model.decode_head.head.to_dict() == \
        stage1_cfg.model.decode_head.to_dict()
    assert cfg.model.backbone.to_dict() == stage1_cfg.model.backbone.to_dict()
    if cfg.model.unseen_layout == 'strict':
        # No random augmentation: the feature cache assumes one fixed view
        # per image; the seen-only data of stage 1, same unseen policy.
        pipelines = [
            n['pipeline']
            for n in _find(cfg.train_dataloader.dataset.to_dict(), 'pipeline')
        ]
        assert pipelines
        for pipeline in pipelines:
            assert not [
                t['type'] for t in pipeline if t['type'].startswith('Random')
            ]
        assert cfg.train_cfg.type == 'ZS3FeatureCacheTrainLoop'
        assert cfg.train_dataloader.dataset.split.to_dict() == split
        assert cfg.train_dataloader.dataset.policy == \
            stage1_cfg.train_dataloader.dataset.policy
    else:
        assert cfg.train_dataloader.dataset.type != 'SeenOnlyDataset'


def test_runtime_hooks_list_matches_the_runtime_config():
    from mmseg_zs3.engine.hooks import RUNTIME_HOOKS
    cfg = Config.fromfile(osp.join(REPO, 'configs/zs3/_base_/zs3_runtime.py'))
    assert tuple(h['type'] for h in cfg.custom_hooks) == RUNTIME_HOOKS


def test_tools_respect_a_configs_own_custom_hooks(log_messages):
    """A config without custom_hooks gets the runtime hooks; one that sets
    them (even to []) keeps its choice, with a warning naming what is off."""
    from mmseg_zs3.apis.runner_cfg import ensure_runtime_hooks
    from mmseg_zs3.engine.hooks import RUNTIME_HOOKS
    plain = Config(dict(model=dict(type='EncoderDecoder')))
    ensure_runtime_hooks(plain)
    assert tuple(h['type'] for h in plain.custom_hooks) == RUNTIME_HOOKS
    assert 'mmseg_zs3' in plain.custom_imports['imports']
    assert not any('leave out' in m for m in log_messages)
    emptied = Config(dict(custom_hooks=[]))
    ensure_runtime_hooks(emptied)
    assert emptied.custom_hooks == []
    assert any("leave out ['CheckpointClassCountHook'" in m
               for m in log_messages)


@pytest.mark.parametrize(
    'protocol, dataset_type, unseen',
    [('voc12aug-u5', 'PascalVOCDataset',
      {'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor'}),
     ('coco-stuff164k-u15', 'COCOStuffDataset', {
         'cow', 'giraffe', 'suitcase', 'frisbee', 'skateboard', 'carrot',
         'scissors', 'cardboard', 'clouds', 'grass', 'playingfield', 'river',
         'road', 'tree', 'wall-concrete'
     })])
def test_peer_protocols_ignore_unseen_pixels(protocol, dataset_type, unseen):
    """SPNet's VOC 15/5 and COCO-Stuff 15-unseen splits, with the peers'
    policy: images are kept, their unseen pixels ignored (stage 1 and 2)."""
    from mmseg_zs3.splits import build_split
    paths = [
        p for p in CONFIGS
        if f'_{protocol}-' in osp.basename(p) and osp.basename(p).startswith((
            'seen-only_', 'zs3net_'))
    ]
    assert len(paths) == 2
    for path in paths:
        cfg = Config.fromfile(path)
        data = cfg.train_dataloader.dataset
        assert data.type == 'SeenOnlyDataset' and data.policy == 'ignore'
        leaves = data.dataset.get('datasets', [data.dataset])
        assert {d['type'] for d in leaves} == {dataset_type}
        split = build_split(cfg.zs3_split.to_dict())
        assert set(split.unseen_names) == unseen
        assert split.classes == tuple(resolve_class_names(dataset_type))
        assert cfg.val_evaluator.split.to_dict() == cfg.zs3_split.to_dict()


def test_shapes_stage2_leaves_out_stage1_embedding_auxiliary_head(tmp_path):
    """The demo's stage 1 trains an embedding auxiliary head (DeViSE's
    projection on the backbone output); ZS3Net loads that checkpoint with
    the auxiliary tensors left out and everything it freezes taken over.
    The DeViSE baseline keeps the paper's network (no auxiliary head)."""
    from mmseg.registry import MODELS
    shapes = osp.join(REPO, 'configs', 'zs3')
    init_default_scope('mmseg')
    models = {}
    for name in ('seen-only_unet-s2-fcn_1xb16-1800it_shapes-u4-64x64',
                 'zs3net_unet-s2-fcn_1xb16-10e_shapes-u4-64x64',
                 'devise_unet-s2-fcn_1xb16-1800it_shapes-u4-64x64'):
        model_cfg = Config.fromfile(osp.join(shapes,
                                             name + '.py')).model.to_dict()
        _fake_embedding_files(model_cfg, str(tmp_path))
        models[name.split('_')[0]] = model_cfg
    aux = models['seen-only']['auxiliary_head']
    assert aux['classifier']['type'] == 'ProjectionClassifier'
    assert aux['train_classes'] == 'seen'
    assert models['devise'].get('auxiliary_head') is None
    assert models['zs3net'].get('auxiliary_head') is None
    stage1 = MODELS.build(models['seen-only'])
    stage1.init_weights()
    state = stage1.state_dict()
    stage2 = MODELS.build(models['zs3net'])
    missing, unexpected = stage2.load_state_dict(state, strict=False)
    assert unexpected and all(
        k.startswith('auxiliary_head.') for k in unexpected), unexpected
    assert not any(
        k.startswith(('backbone.', 'decode_head.head.'))
        for k in missing), missing
    got = stage2.state_dict()
    for key, value in state.items():
        if key.startswith('backbone.'):
            assert torch.equal(got[key], value), key
        elif key.startswith('decode_head.'
                            ) and not key.startswith('decode_head.conv_seg.'):
            assert torch.equal(
                got[key.replace('decode_head.', 'decode_head.head.')],
                value), key


def test_shapes_stage1_weight_decay_is_its_own():
    """Stage 1 of the demo trains with weight decay 0.1; the DeViSE baseline
    (which inherits stage 1's config) and the oracle keep the schedule's
    0.01, each row at the value chosen for it on the development seeds."""
    shapes = osp.join(REPO, 'configs', 'zs3')
    decay = {
        name.split('_')[0]:
        Config.fromfile(osp.join(shapes, name +
                                 '.py')).optim_wrapper.optimizer.weight_decay
        for name in ('seen-only_unet-s2-fcn_1xb16-1800it_shapes-u4-64x64',
                     'devise_unet-s2-fcn_1xb16-1800it_shapes-u4-64x64',
                     'oracle_unet-s2-fcn_1xb16-1800it_shapes-64x64')
    }
    assert decay == {'seen-only': 0.1, 'devise': 0.01, 'oracle': 0.01}
