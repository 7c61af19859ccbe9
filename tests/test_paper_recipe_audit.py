"""Audit of the `zs3net-paper_*` VOC and Context configs against the paper's
and the official code's stage-2 recipe (issue 12, item 2).

Every hyper-parameter of the recipe is a row of the tables below, written
from the paper (Bucher et al., NeurIPS 2019) and the official code
(valeoai/ZS3 train_pascal_GMMN.py / train_context_GMMN.py, parsing.py,
utils/loss.py, utils/lr_scheduler.py, modeling/gmmn.py, dataloaders), as
summarised in ZS3NET.md sections 3 and 6: a config that drifts from it fails
here, and the mutation tests show that the audit sees each kind of drift.
A value the config leaves out is the default of the class that builds it
(the value that runs). Besides the shipped leaves, the audit reads two
reference leaves composed here from the shipped bases (models, datasets,
schedules/zs3net-paper_stage2.py, runtime) the way a `zs3net-paper_` leaf
composes them.
"""
import copy
import glob
import inspect
import os.path as osp
import re
from typing import Any, List

import pytest
from conftest import REPO
from mmengine.config import Config
from mmengine.registry import init_default_scope

CONFIGS = osp.join(REPO, 'configs', 'zs3')
PAPER_LEAVES = sorted(
    glob.glob(osp.join(CONFIGS, 'zs3net-paper_*voc*.py')) +
    glob.glob(osp.join(CONFIGS, 'zs3net-paper_*context*.py')))

# ---------------------------------------------------------------------------
# the tables
CROP = (312, 312)
BATCH = 8
EPOCHS = dict(voc=30, context=20)  # train_pascal_GMMN.py: 30; Context 20
MISSING = object()
# yapf: disable
RECIPE = {
    # the official layout and loop (ZS3NET.md section 3)
    'model.type': 'ZS3EncoderDecoder',
    'model.unseen_layout': 'paper',
    'model.unseen_weight': 100.0,  # --unseen_weight 100
    'model.generator_steps': 'per_image_class',  # an Adam step per class
    'model.cls_loss_at': 'input',  # forward_class_prediction(..., 312x312)
    'model.frozen_mode': 'train',  # self.model.train() during stage 2
    'model.paper_batch_average': True,  # SegmentationLosses batch_average
    'model.max_real_pixels': None,  # every pixel of the map
    # the frozen network's input (ImageNet mean/std, pad 0/255; the crop is
    # the pipelines' RandomCrop and Pad)
    'model.data_preprocessor.type': 'ZS3DataPreProcessor',
    'model.data_preprocessor.mean': (123.675, 116.28, 103.53),
    'model.data_preprocessor.std': (58.395, 57.12, 57.375),
    'model.data_preprocessor.bgr_to_rgb': True,
    'model.data_preprocessor.pad_val': 0,
    'model.data_preprocessor.seg_pad_val': 255,
    # the classifier: 1x1 conv on the 256-d features, weight and bias U[0,1)
    'model.decode_head.type': 'ZeroShotDecodeHead',
    'model.decode_head.head.channels': 256,
    'model.decode_head.feature_norm': 'none',
    'model.decode_head.feature_scale': 1.0,
    'model.decode_head.reinit_classifier': True,  # --random_last_layer
    'model.decode_head.calibration': 0.0,
    'model.decode_head.classifier.type': 'ConvClassifier',
    'model.decode_head.classifier.init_cfg': dict(
        type='UniformWeightBias', a=0., b=1., layer='Conv2d'),  # torch.rand
    # the generator (modeling/gmmn.py) and its MMD (utils/loss.py GMMNLoss)
    'model.class_embedding.dim': 300,  # word2vec 300
    'model.generative_head.type': 'GMMNGenerativeHead',
    'model.generative_head.num_samples': 128,  # --batch_size_generator
    'model.generative_head.loss.type': 'MMDLoss',
    'model.generative_head.loss.bandwidths': (2, 5, 10, 20, 40, 80),
    'model.generative_head.generator.type': 'GMMNGenerator',
    'model.generative_head.generator.embed_dim': 300,
    'model.generative_head.generator.noise_dim': 300,
    'model.generative_head.generator.hidden_dim': 256,
    'model.generative_head.generator.feat_dim': 256,
    'model.generative_head.generator.dropout': 0.5,
    'model.generative_head.generator.negative_slope': 0.2,
    'model.generative_head.generator.noise': 'uniform',  # torch.rand
    # two optimizers: generator Adam 2e-4; classifier SGD 0.007 x 10
    'optim_wrapper.constructor': 'SubmoduleOptimWrapperConstructor',
    'optim_wrapper.generator': dict(
        module='generative_head', type='OptimWrapper',
        optimizer=dict(type='Adam', lr=2e-4)),
    'optim_wrapper.classifier': dict(
        module='decode_head.classifier', type='OptimWrapper',
        optimizer=dict(type='SGD', lr=0.07, momentum=0.9, weight_decay=5e-4)),
    # lr: generator constant (the classifier's poly: CLASSIFIER_SCHEDULE)
    'param_scheduler.generator': (),
    'train_dataloader.batch_size': BATCH,
    'val_evaluator.type': 'ZeroShotIoUMetric',
    'val_evaluator.nan_policy': 'zero',  # Evaluator: NaN IoU -> 0
    'test_evaluator.type': 'ZeroShotIoUMetric',
    'test_evaluator.nan_policy': 'zero',
}
# yapf: enable
# poly over every iteration of the run: lr_t = 0.07 (1 - t / T) ** 0.9
CLASSIFIER_SCHEDULE = dict(
    type='DeepLabPolyLR',
    power=0.9,
    eta_min=0.,
    begin=0,
    by_epoch=True,
    convert_to_iter_based=True)
# the official stage-2 data: stage-1 augmentation every epoch (RandomScaleCrop
# base 312 = short side in [156, 624], crop 312 padded 0/255, flip, blur)
TRAIN_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(2048, 312),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=CROP),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomGaussianBlur', prob=0.5, sigma_range=(0., 1.)),
    dict(type='Pad', size=CROP),
    dict(type='PackSegInputs'),
]
# evaluation: image and label (nearest) to short side 513, scored there
TEST_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(2048, 513), keep_ratio=True),
    dict(type='ScoreAtResizedShape'),
    dict(type='PackSegInputs'),
]
# the training images: all of them (unseen classes included); on VOC the
# official list (VOC train + SBD train_noval minus VOC val)
TRAIN_DATA = dict(
    voc={('PascalVOCDataset', 'ImageSets/Segmentation/train.txt',
          'SegmentationClass'),
         ('PascalVOCDataset', 'ImageSets/Segmentation/aug_zs3_official.txt',
          'SegmentationClassAug')},
    context={
        ('PascalContextDataset', 'ImageSets/SegmentationContext/train.txt',
         'SegmentationClassContext')
    })
VAL_DATA = dict(
    voc=('PascalVOCDataset', 'ImageSets/Segmentation/val.txt'),
    context=('PascalContextDataset', 'ImageSets/SegmentationContext/val.txt'))
SPLITS = dict(voc='zs3_voc', context='zs3_context')


# ---------------------------------------------------------------------------
# the audit
def _plain(value: Any) -> Any:
    """Config values as comparable plain data (lists become tuples)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


def _default(node: dict, key: str) -> Any:
    """The default of argument ``key`` of the class ``node['type']``."""
    from mmseg.registry import (DATA_SAMPLERS, DATASETS, METRICS, MODELS,
                                OPTIM_WRAPPERS)
    name = node.get('type')
    for registry in (MODELS, METRICS, DATASETS, DATA_SAMPLERS, OPTIM_WRAPPERS):
        cls = registry.get(name) if isinstance(name, str) else None
        if cls is not None:
            param = inspect.signature(cls).parameters.get(key)
            if param is not None and param.default is not param.empty:
                return param.default
    return MISSING


def resolve(cfg: dict, path: str) -> Any:
    """The value at a dotted ``path``, or the building class's default."""
    node = cfg
    keys = path.split('.')
    for i, key in enumerate(keys):
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, dict) and i == len(keys) - 1:
            return _default(node, key)
        else:
            return MISSING
    return node


def _pipeline(pipeline) -> tuple:
    """A pipeline without the CheckSegMap guards (they change no value)."""
    return _plain([t for t in pipeline if t.get('type') != 'CheckSegMap'])


def _datasets(node, found: list, wrappers: list) -> None:
    """Collect the datasets with an ann_file, and the wrapper types."""
    if isinstance(node, dict):
        if 'ann_file' in node:
            found.append(node)
            return
        if 'type' in node:
            wrappers.append(node['type'])
        for key in ('dataset', 'datasets'):
            if key in node:
                _datasets(node[key], found, wrappers)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _datasets(item, found, wrappers)


def audit(cfg: Config, dataset: str, k: int = None) -> List[str]:
    """Every difference between ``cfg`` and the official recipe.

    Args:
        cfg (Config): A stage-2 config.
        dataset (str): ``'voc'`` or ``'context'``.
        k (int, optional): The number of unseen classes the name says.

    Returns:
        list[str]: One line per difference, ``path: got ..., expected ...``
        (empty: the config is the official recipe).
    """
    init_default_scope('mmseg')
    import mmseg_zs3  # noqa: F401 (registers the types the defaults need)
    cfg = cfg.to_dict()
    found: List[str] = []

    def check(path, got, expected):
        if _plain(got) != _plain(expected):
            got = 'missing' if got is MISSING else repr(_plain(got))
            found.append(f'{path}: got {got}, expected {_plain(expected)!r}')

    epochs = EPOCHS[dataset]
    for path, expected in RECIPE.items():
        got = resolve(cfg, path)
        if path.endswith('generator.feat_dim') and got is MISSING:
            got = resolve(cfg, 'model.decode_head.head.channels')
        check(path, got, expected)
    check('optim_wrapper keys', sorted(cfg.get('optim_wrapper', {})),
          ['classifier', 'constructor', 'generator'])
    check('param_scheduler.classifier',
          resolve(cfg, 'param_scheduler.classifier'),
          [dict(CLASSIFIER_SCHEDULE, end=epochs)])
    check(
        'train_cfg', cfg.get('train_cfg'),
        dict(
            type='EpochBasedTrainLoop', max_epochs=epochs,
            val_interval=epochs))
    check('model.decode_head.split.name',
          resolve(cfg, 'model.decode_head.split.name'), SPLITS[dataset])
    if k is not None:
        for path in ('model.decode_head.split.k', 'val_evaluator.split.k',
                     'test_evaluator.split.k'):
            check(path, resolve(cfg, path), k)
    datasets: list = []
    wrappers: list = []
    _datasets(cfg['train_dataloader']['dataset'], datasets, wrappers)
    check('train_dataloader.dataset wrappers (all images, no SeenOnly)',
          'SeenOnlyDataset' in wrappers, False)
    check(
        'train_dataloader.dataset files',
        {(d.get('type'), d.get('ann_file'), d.get('data_prefix',
                                                  {}).get('seg_map_path'))
         for d in datasets}, TRAIN_DATA[dataset])
    for d in datasets:
        check(f'train pipeline of {d.get("ann_file")}',
              _pipeline(d.get('pipeline', [])), TRAIN_PIPELINE)
    for loader in ('val_dataloader', 'test_dataloader'):
        d = cfg[loader]['dataset']
        check(f'{loader}.dataset', (d.get('type'), d.get('ann_file')),
              VAL_DATA[dataset])
        check(f'{loader}.dataset.pipeline', _pipeline(d['pipeline']),
              TEST_PIPELINE)
    return found


# ---------------------------------------------------------------------------
# the configs
REFERENCE_LEAF = """
_base_ = [
    '{c}/_base_/models/deeplabv3plus_r101-d16-mg248.py',
    '{c}/_base_/models/zs3net_gmmn.py',
    '{c}/_base_/datasets/zs3_{data}.py',
    '{c}/_base_/schedules/zs3net-paper_stage2.py',
    '{c}/_base_/zs3_runtime.py',
]
zs3_split = dict(name='{split}', k={k})
model = dict(
    _base_.zs3net,
    **_base_.zs3net_paper,
    decode_head=dict(
        _base_.zs3net_head,
        **_base_.zs3net_paper_head,
        head=dict(_base_.model.decode_head, num_classes={classes}),
        split=zs3_split,
        classes='{dataset_type}'),
    class_embedding=_base_.class_embedding)
train_dataloader = dict(
    batch_size=8,
    dataset=dict(
        _delete_=True, type='ConcatDataset', datasets=[{datasets}]))
val_dataloader = dict(
    dataset=dict(pipeline=_base_.zs3net_paper_test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(_base_.zs3net_paper_metric, split=zs3_split)
test_evaluator = val_evaluator
"""
REFERENCE = dict(
    voc=dict(
        data='voc12aug',
        split='zs3_voc',
        classes=21,
        dataset_type='PascalVOCDataset',
        datasets=('dict(_base_.dataset_train, '
                  'pipeline=_base_.zs3net_paper_train_pipeline), '
                  'dict(_base_.dataset_aug, '
                  "ann_file='ImageSets/Segmentation/aug_zs3_official.txt', "
                  'pipeline=_base_.zs3net_paper_train_pipeline)')),
    context=dict(
        data='context60',
        split='zs3_context',
        classes=60,
        dataset_type='PascalContextDataset',
        datasets=('dict(_base_.dataset_train, '
                  'pipeline=_base_.zs3net_paper_train_pipeline)')))


def reference_config(dataset: str, tmp_path, k: int = 2) -> Config:
    """A `zs3net-paper_` leaf composed from the shipped bases."""
    text = REFERENCE_LEAF.format(c=CONFIGS, k=k, **REFERENCE[dataset])
    if dataset == 'context':
        text += ('train_cfg = dict(max_epochs=20, val_interval=20)\n'
                 "param_scheduler = dict(classifier=[dict(type='DeepLab"
                 "PolyLR', power=0.9, eta_min=0., begin=0, end=20, "
                 'by_epoch=True, convert_to_iter_based=True)])\n')
    path = tmp_path / f'zs3net-paper_reference_{dataset}.py'
    path.write_text(text)
    return Config.fromfile(str(path))


def _name_facts(path: str) -> dict:
    """Dataset, K, batch, epochs and crop that a leaf's name states."""
    name = osp.basename(path)
    m = re.search(
        r'_(\d+)xb(\d+)-(\d+)e_(voc12aug|context60)-zs3k(\d+)-'
        r'(\d+)x(\d+)\.py$', name)
    assert m, (f'{name}: not `..._<gpus>xb<batch>-<epochs>e_'
               '{voc12aug|context60}-zs3k<K>-<crop>.py`; a paper config of '
               'another protocol needs its own rows in this audit')
    return dict(
        gpus=int(m[1]),
        batch=int(m[2]),
        epochs=int(m[3]),
        dataset='voc' if m[4] == 'voc12aug' else 'context',
        k=int(m[5]),
        crop=(int(m[6]), int(m[7])))


# ---------------------------------------------------------------------------
# the tests
@pytest.mark.parametrize('dataset', ['voc', 'context'])
def test_reference_leaf_is_the_official_recipe(dataset, tmp_path):
    found = audit(reference_config(dataset, tmp_path), dataset, k=2)
    assert not found, '\n'.join(found)


@pytest.mark.parametrize('path', PAPER_LEAVES, ids=osp.basename)
def test_paper_leaf_is_the_official_recipe(path):
    facts = _name_facts(path)
    assert (facts['gpus'], facts['batch'], facts['crop']) == (1, BATCH, CROP)
    assert facts['epochs'] == EPOCHS[facts['dataset']]
    found = audit(Config.fromfile(path), facts['dataset'], facts['k'])
    assert not found, '\n'.join(found)


def test_every_protocol_has_a_paper_leaf():
    got = {(f['dataset'], f['k']) for f in map(_name_facts, PAPER_LEAVES)}
    assert got == {(d, k)
                   for d in ('voc', 'context')
                   for k in (2, 4, 6, 8, 10)}


def test_classifier_lr_per_iteration_is_the_official_poly(tmp_path):
    """The audited schedule, run over all iterations of 30 epochs: the
    official LR_Scheduler('poly', 0.007 x 10) at every iteration, the last
    > 0."""
    import torch
    init_default_scope('mmseg')
    from mmseg.registry import PARAM_SCHEDULERS

    import mmseg_zs3  # noqa: F401
    cfg = reference_config('voc', tmp_path)
    sched = dict(cfg.param_scheduler.classifier[0])
    sched.pop('convert_to_iter_based')
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.07)
    epoch_length = 89  # VOC: 886 (7,087 images, batch 8); any length
    total = EPOCHS['voc'] * epoch_length
    scheduler = PARAM_SCHEDULERS.get(sched.pop('type')).build_iter_from_epoch(
        optimizer=optimizer, epoch_length=epoch_length, **sched)
    for t in range(total):
        if t % 200 == 0 or t == total - 1:
            official = 0.07 * (1 - t / total)**0.9
            assert optimizer.param_groups[0]['lr'] == pytest.approx(
                official, rel=1e-9)
        optimizer.step()
        scheduler.step()
    assert official > 0


MUTATIONS = {
    'generator lr decayed':
    (lambda c: c.param_scheduler.__setitem__('generator', [
        dict(
            type='PolyLR',
            power=0.9,
            eta_min=0,
            begin=0,
            end=30,
            by_epoch=True,
            convert_to_iter_based=True)
    ]), 'param_scheduler.generator'),
    'CE at stride 4':
    (lambda c: c.model.__setitem__('cls_loss_at', 'features'),
     'model.cls_loss_at'),
    'one step per batch':
    (lambda c: c.model.__setitem__('generator_steps', 'per_batch'),
     'model.generator_steps'),
    'classifier Adam': (lambda c: c.optim_wrapper.classifier.__setitem__(
        'optimizer', dict(type='Adam', lr=1e-2)), 'optim_wrapper.classifier'),
    'classifier lr per epoch':
    (lambda c: c.param_scheduler.classifier[0].pop('convert_to_iter_based'),
     'param_scheduler.classifier'),
    "mmengine's PolyLR":
    (lambda c: c.param_scheduler.classifier[0].update(type='PolyLR'),
     'param_scheduler.classifier'),
    'classifier init Normal':
    (lambda c: c.model.decode_head.classifier.__setitem__(
        'init_cfg', dict(type='Normal', std=0.01, layer='Conv2d')),
     'classifier.init_cfg'),
    'unseen weight 1': (lambda c: c.model.__setitem__('unseen_weight', 1.0),
                        'model.unseen_weight'),
    'Gaussian noise': (lambda c: c.model.generative_head.generator.__setitem__(
        'noise', 'gaussian'), 'generator.noise'),
    "the paper's bandwidth 60":
    (lambda c: c.model.generative_head.loss.__setitem__(
        'bandwidths', (2, 5, 10, 20, 40, 60)), 'loss.bandwidths'),
    '64 MMD samples':
    (lambda c: c.model.generative_head.__setitem__('num_samples', 64),
     'generative_head.num_samples'),
    'batch 16': (lambda c: c.train_dataloader.__setitem__('batch_size', 16),
                 'train_dataloader.batch_size'),
    '20 epochs': (lambda c: c.train_cfg.update(max_epochs=20), 'train_cfg'),
    'feature cache loop':
    (lambda c: c.train_cfg.update(type='ZS3FeatureCacheTrainLoop'),
     'train_cfg'),
    'centre crop': (lambda c: c.train_dataloader.dataset.datasets[0].pipeline.
                    __setitem__(2, dict(type='CenterCrop', crop_size=312)),
                    'train pipeline of ImageSets/Segmentation/train.txt'),
    'voc12aug list': (lambda c: c.train_dataloader.dataset.datasets[1].update(
        ann_file='ImageSets/Segmentation/aug.txt'),
                      'train_dataloader.dataset files'),
    'seen-only images': (lambda c: c.train_dataloader.__setitem__(
        'dataset',
        dict(type='SeenOnlyDataset', dataset=c.train_dataloader.dataset)),
                         'no SeenOnly'),
    'scored at the original size':
    (lambda c: c.val_dataloader.dataset.pipeline.pop(3),
     'val_dataloader.dataset.pipeline'),
    'eval short side 512':
    (lambda c: c.test_dataloader.dataset.pipeline[2].update(scale=(2048, 512)),
     'test_dataloader.dataset.pipeline'),
    'NaN IoU ignored': (lambda c: c.val_evaluator.update(nan_policy='ignore'),
                        'val_evaluator.nan_policy'),
    'frozen network in eval mode':
    (lambda c: c.model.__setitem__('frozen_mode', 'eval'),
     'model.frozen_mode'),
    'L2-normalised features':
    (lambda c: c.model.decode_head.__setitem__('feature_norm', 'l2'),
     'decode_head.feature_norm'),
}


@pytest.fixture(scope='module')
def voc_reference(tmp_path_factory):
    """The VOC reference leaf (read once; each test mutates a copy)."""
    return reference_config('voc', tmp_path_factory.mktemp('reference'))


@pytest.mark.parametrize('mutation', list(MUTATIONS))
def test_audit_reports_a_mutation(mutation, voc_reference):
    """A copy of the recipe with one change fails the audit, which names the
    changed setting (and only the copy is changed)."""
    mutated = copy.deepcopy(voc_reference)
    mutate, where = MUTATIONS[mutation]
    mutate(mutated)
    found = audit(mutated, 'voc', k=2)
    assert found, mutation
    assert any(where in line for line in found), found
    assert audit(voc_reference, 'voc', k=2) == []


@pytest.mark.parametrize('mutation',
                         ['generator lr decayed', 'CE at stride 4'])
@pytest.mark.parametrize('dataset', ['voc12aug', 'context60'])
def test_audit_reports_a_mutation_of_a_shipped_leaf(mutation, dataset):
    """The issue's two example drifts, applied to a copy of a shipped
    leaf."""
    path = next(p for p in PAPER_LEAVES if f'_{dataset}-' in p)
    facts = _name_facts(path)
    cfg = Config.fromfile(path)
    mutate, where = MUTATIONS[mutation]
    mutated = copy.deepcopy(cfg)
    mutate(mutated)
    found = audit(mutated, facts['dataset'], facts['k'])
    assert any(where in line for line in found), found
    assert audit(cfg, facts['dataset'], facts['k']) == []
