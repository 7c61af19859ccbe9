"""The official stage-2 recipe (``paper``) on the tiny shapes data.

One generator Adam step per (image without unseen pixels, seen class in it);
separate optimizers (generator lr constant, classifier poly per iteration)
through mmengine's Runner; the classifier's CE on logits upsampled to the
input; the components it is built from (SubmoduleOptimWrapperConstructor,
DeepLabPolyLR, UniformWeightBias, ScoreAtResizedShape) and their bad input.
The shapes stage-2 config gets the model, optimizer and schedule settings of
configs/zs3/_base_/schedules/zs3net-paper_stage2.py.
"""
import copy
import os.path as osp

import numpy as np
import pytest
import test_zs3_stage2 as stage2_tests
import torch
from conftest import REPO
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from PIL import Image
from test_zs3_stage2 import IMAGE_LOOP, _unseen_ids, stage2_config

# the stage-2 tests' fixtures (pytest finds them in this module's namespace)
fast_runs = stage2_tests.fast_runs
stage2_files = stage2_tests.stage2_files
data_copies = stage2_tests.data_copies

PAPER_BASE = osp.join(REPO, 'configs', 'zs3', '_base_', 'schedules',
                      'zs3net-paper_stage2.py')


def paper_config(files: dict,
                 data_root: str,
                 work_dir: str,
                 max_epochs: int = 1) -> Config:
    """The shipped shapes stage-2 config (shrunk, all images) with the
    paper recipe's model, optimizer and schedule settings merged on top."""
    cfg = stage2_config(
        data_root,
        work_dir,
        files,
        IMAGE_LOOP,
        'paper',
        seen_only=False,
        max_epochs=max_epochs)
    paper = Config.fromfile(PAPER_BASE)
    cfg.model.update(paper.zs3net_paper)
    cfg.model.decode_head.update(paper.zs3net_paper_head)
    cfg.optim_wrapper = paper.optim_wrapper
    cfg.param_scheduler = paper.param_scheduler
    cfg.model.generative_head.num_samples = 16
    cfg.param_scheduler.classifier[0].end = max_epochs
    return cfg


@pytest.fixture
def paper_runner(stage2_files, data_copies, tmp_path):
    """A Runner of the paper recipe (not trained) and its optimizers."""
    cfg = paper_config(stage2_files, data_copies['clean'], str(tmp_path))
    runner = Runner.from_cfg(cfg)
    runner.model.init_weights()
    optim = runner.build_optim_wrapper(copy.deepcopy(cfg.optim_wrapper))
    return runner, optim


def _count_steps(optim: OptimWrapperDict, monkeypatch) -> dict:
    """Count the optimizer steps of each wrapper (test instrumentation)."""
    counts = dict(generator=0, classifier=0)
    for name in counts:
        optimizer = optim[name].optimizer
        step = optimizer.step

        def counted(*args, _name=name, _step=step, **kwargs):
            counts[_name] += 1
            return _step(*args, **kwargs)

        monkeypatch.setattr(optimizer, 'step', counted)
    return counts


def _mixed_batch(runner, model):
    """A training batch with images with and without unseen pixels (at the
    feature map), and the expected number of official generator steps."""
    unseen = set(_unseen_ids())
    seen = set(model.decode_head.seen_indices)
    for batch in runner.train_dataloader:
        with torch.no_grad():
            data = model.data_preprocessor(copy.deepcopy(batch), True)
            _, labels = model.extract_pixel_features(data['inputs'],
                                                     data['data_samples'])
        classes = [set(y.unique().tolist()) for y in labels]
        clean = [c for c in classes if not c & unseen]
        if clean and len(clean) < len(classes):
            return batch, sum(len(c & seen) for c in clean)
    raise AssertionError('no batch mixes images with and without unseen '
                         'pixels')


def test_paper_takes_one_generator_step_per_image_and_seen_class(
        paper_runner, monkeypatch):
    runner, optim = paper_runner
    model = runner.model
    assert isinstance(optim, OptimWrapperDict)
    batch, expected = _mixed_batch(runner, model)
    assert expected > 1
    counts = _count_steps(optim, monkeypatch)
    log_vars = model.train_step(copy.deepcopy(batch), optim)
    assert counts == dict(generator=expected, classifier=1)
    gen_params = list(model.generative_head.parameters())
    adam_steps = optim['generator'].optimizer.state[gen_params[0]]['step']
    assert int(adam_steps) == expected
    assert set(log_vars) >= {'loss', 'loss_mmd', 'loss_cls', 'acc_cls'}
    assert float(log_vars['loss']) == pytest.approx(
        float(log_vars['loss_mmd']) + float(log_vars['loss_cls']))
    # control: one step per batch, the MMD averaged over its classes
    model.generator_steps = 'per_batch'
    counts.update(generator=0, classifier=0)
    model.train_step(copy.deepcopy(batch), optim)
    assert counts == dict(generator=1, classifier=1)


class LrRecorder(Hook):
    """Record each optimizer's lr before every training iteration."""

    def __init__(self):
        self.lrs = dict(generator=[], classifier=[])

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        for name, lrs in self.lrs.items():
            lrs.append(runner.optim_wrapper[name].get_lr()['lr'][0])


def test_generator_lr_constant_classifier_poly_per_iteration(
        stage2_files, data_copies, tmp_path):
    cfg = paper_config(
        stage2_files, data_copies['clean'], str(tmp_path), max_epochs=2)
    runner = Runner.from_cfg(cfg)
    recorder = LrRecorder()
    runner.register_hook(recorder)
    runner.train()
    total = 2 * len(runner.train_dataloader)
    assert total >= 6
    assert recorder.lrs['generator'] == [2e-4] * total
    official = [0.07 * (1 - t / total)**0.9 for t in range(total)]
    assert recorder.lrs['classifier'] == pytest.approx(official, rel=1e-9)
    assert recorder.lrs['classifier'][-1] > 0  # the last iteration trains
    # the checkpoint holds both optimizers
    ckpt = torch.load(
        osp.join(str(tmp_path), 'epoch_2.pth'),
        map_location='cpu',
        weights_only=False)
    assert set(ckpt['optimizer']) == {'generator', 'classifier'}


def _full_res_gt(samples):
    return [s.gt_sem_seg.data for s in samples]


def test_cls_loss_at_input_reads_full_resolution_labels(paper_runner):
    """A label pixel that nearest downsampling skips changes the CE at the
    input resolution, not the CE at the feature map."""
    runner, _ = paper_runner
    model = runner.model
    model.frozen_mode = 'eval'
    model.train()
    batch = next(iter(runner.train_dataloader))
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    inputs, samples = data['inputs'], data['data_samples']
    feats, labels = model.extract_pixel_features(inputs, samples)
    H, h = inputs.shape[2], feats.shape[2]
    assert H > h
    sampled = {int(k * H / h) for k in range(h)}
    row = min(set(range(H)) - sampled)

    def cls_loss(at):
        model.cls_loss_at = at
        torch.manual_seed(0)
        _, y = model.extract_pixel_features(inputs, samples)
        torch.manual_seed(0)
        return model._loss_paper(feats, y, samples)['loss_cls'].item()

    before = {at: cls_loss(at) for at in ('input', 'features')}
    gt = samples[0].gt_sem_seg.data
    seen = [c for c in model.decode_head.seen_indices if c != 0]
    gt[0, row] = torch.where(gt[0, row] == seen[0], seen[1], seen[0])
    after = {at: cls_loss(at) for at in ('input', 'features')}
    assert after['features'] == before['features']
    assert after['input'] != before['input']


def test_one_image_batch_skipped_with_a_warning(paper_runner, monkeypatch,
                                                log_messages):
    runner, optim = paper_runner
    batch = next(iter(runner.train_dataloader))
    one = dict(
        inputs=batch['inputs'][:1], data_samples=batch['data_samples'][:1])
    counts = _count_steps(optim, monkeypatch)
    assert runner.model.train_step(one, optim) == {}
    assert counts == dict(generator=0, classifier=0)
    assert any('skipped a batch of one image' in m for m in log_messages)


def test_train_step_bad_optimizers(paper_runner):
    runner, optim = paper_runner
    model = runner.model
    batch = next(iter(runner.train_dataloader))
    single = OptimWrapper(
        torch.optim.SGD(model.decode_head.classifier.parameters(), lr=0.1))
    with pytest.raises(ValueError, match='OptimWrapperDict'):
        model.train_step(copy.deepcopy(batch), single)
    renamed = OptimWrapperDict(gen=optim['generator'], cls=optim['classifier'])
    with pytest.raises(ValueError, match=r"\['cls', 'gen'\]"):
        model.train_step(copy.deepcopy(batch), renamed)
    swapped = OptimWrapperDict(
        generator=optim['classifier'], classifier=optim['generator'])
    with pytest.raises(ValueError, match="'generator' optimizer must hold"):
        model.train_step(copy.deepcopy(batch), swapped)
    with pytest.raises(ValueError, match='per_image_class'):
        model.loss(*model.data_preprocessor(batch, True).values())


def test_official_options_need_the_paper_layout(stage2_files):
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    cfg = stage2_config('unused', 'unused', stage2_files)
    for option, value in [('generator_steps', 'per_image_class'),
                          ('cls_loss_at', 'input')]:
        bad = copy.deepcopy(cfg.model)
        bad[option] = value
        with pytest.raises(ValueError, match="unseen_layout='paper'"):
            MODELS.build(bad)
    for option, value in [('generator_steps', 'per_image'),
                          ('cls_loss_at', 'crop')]:
        bad = copy.deepcopy(cfg.model)
        bad.update(unseen_layout='paper', **{option: value})
        with pytest.raises(ValueError, match=f'{option}={value!r}'):
            MODELS.build(bad)


# ---------------------------------------------------------------------------
# the components
def _toy_model():
    model = torch.nn.Module()
    model.head = torch.nn.Linear(2, 2)
    model.head.cls = torch.nn.Linear(2, 3)
    model.gen = torch.nn.Linear(3, 2)
    model.frozen = torch.nn.Linear(2, 2).requires_grad_(False)
    return model


def _build_wrappers(model, **entries):
    init_default_scope('mmseg')
    from mmengine.optim import build_optim_wrapper
    return build_optim_wrapper(
        model, dict(constructor='SubmoduleOptimWrapperConstructor', **entries))


def _entry(module, lr=0.1):
    return dict(
        module=module, type='OptimWrapper', optimizer=dict(type='SGD', lr=lr))


def test_submodule_constructor_builds_one_wrapper_per_entry():
    model = _toy_model()
    optim = _build_wrappers(model, a=_entry('head'), b=_entry('gen', lr=0.5))
    assert set(optim.keys()) == {'a', 'b'}
    groups_a = optim['a'].optimizer.param_groups
    assert {id(p)
            for g in groups_a
            for p in g['params']} == {id(p)
                                      for p in model.head.parameters()}
    assert optim['b'].get_lr()['lr'] == [0.5]


@pytest.mark.parametrize(
    'entries, match', [
        (dict(), 'no entry'),
        (dict(a=dict(type='OptimWrapper')), 'expected a dict with module='),
        (dict(a=_entry('nope'), b=_entry('gen')), "'nope' is no submodule"),
        (dict(a=_entry('head'), b=_entry('head.cls'),
              c=_entry('gen')), 'share parameters'),
        (dict(a=_entry('head')), r"no optimizer: \['gen.weight'"),
        (dict(type='OptimWrapper', a=_entry('head')), r"\['type'\]"),
    ],
    ids=['empty', 'no_module', 'unknown', 'shared', 'orphan', 'top_type'])
def test_submodule_constructor_bad_config(entries, match):
    with pytest.raises(ValueError, match=match):
        _build_wrappers(_toy_model(), **entries)


def test_submodule_constructor_refuses_a_distributed_model():
    from mmengine.model import MMDistributedDataParallel
    wrapped = MMDistributedDataParallel.__new__(MMDistributedDataParallel)
    torch.nn.Module.__init__(wrapped)
    init_default_scope('mmseg')
    from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(
            type='SubmoduleOptimWrapperConstructor',
            optim_wrapper_cfg=dict(a=_entry('head'))))
    with pytest.raises(ValueError, match='MMDistributedDataParallel'):
        constructor(wrapped)


def test_deeplab_poly_lr_trains_every_step():
    init_default_scope('mmseg')
    from mmseg.registry import PARAM_SCHEDULERS
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    sched = PARAM_SCHEDULERS.get('DeepLabPolyLR').build_iter_from_epoch(
        optimizer=optimizer,
        power=0.9,
        eta_min=0.,
        begin=0,
        end=2,
        by_epoch=True,
        epoch_length=3)
    lrs = []
    for _ in range(8):
        lrs.append(optimizer.param_groups[0]['lr'])
        sched.step()
    expected = [(1 - t / 6)**0.9 for t in range(6)]
    assert lrs[:6] == pytest.approx(expected, rel=1e-12)
    assert min(lrs[:6]) > 0
    # mmengine's PolyLR over the same steps ends at 0 on the last one
    optimizer.param_groups[0]['lr'] = 1.0
    mm = PARAM_SCHEDULERS.get('PolyLR').build_iter_from_epoch(
        optimizer=optimizer,
        power=0.9,
        eta_min=0.,
        begin=0,
        end=2,
        by_epoch=True,
        epoch_length=3)
    mm_lrs = []
    for _ in range(6):
        mm_lrs.append(optimizer.param_groups[0]['lr'])
        mm.step()
    assert mm_lrs[-1] == 0


def test_uniform_weight_bias_init():
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    torch.manual_seed(0)
    classifier = MODELS.build(
        dict(
            type='ConvClassifier',
            in_channels=64,
            num_classes=200,
            init_cfg=dict(
                type='UniformWeightBias', a=0., b=1., layer='Conv2d')))
    classifier.init_weights()
    for param in (classifier.conv.weight, classifier.conv.bias):
        assert 0 <= param.min() and param.max() < 1
        assert param.std() > 0.2  # drawn, not constant (U[0,1): 0.29)
    from mmengine.registry import WEIGHT_INITIALIZERS
    for bad, match in [(dict(bias=0.5), 'bias=0.5'),
                       (dict(a=1., b=0.), 'a=1.0 > b=0.0')]:
        with pytest.raises(ValueError, match=match):
            WEIGHT_INITIALIZERS.build(
                dict(type='UniformWeightBias', layer='Conv2d', **bad))


def _pipeline(shapes_root, transforms):
    init_default_scope('mmseg')
    from mmengine.dataset import Compose
    from mmseg.registry import DATASETS
    dataset = DATASETS.build(
        dict(
            type='ZS3ShapesDataset',
            data_root=shapes_root,
            data_prefix=dict(
                img_path='img_dir/val', seg_map_path='ann_dir/val'),
            pipeline=[]))
    return dataset.get_data_info(0), Compose(transforms)


def test_score_at_resized_shape(shapes_root):
    info, pipeline = _pipeline(shapes_root, [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='Resize', scale=(2048, 96), keep_ratio=True),
        dict(type='ScoreAtResizedShape'),
    ])
    original = np.asarray(Image.open(info['seg_map_path']))
    results = pipeline(copy.deepcopy(info))
    assert results['ori_shape'] == results['img_shape'] == (96, 96)
    assert results['gt_seg_map'].shape == (96, 96)
    # nearest: every label value of the resized map is one of the original
    assert set(np.unique(results['gt_seg_map'])) <= set(np.unique(original))
    _, wrong_order = _pipeline(shapes_root, [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(2048, 96), keep_ratio=True),
        dict(type='LoadAnnotations'),
        dict(type='ScoreAtResizedShape'),
    ])
    with pytest.raises(ValueError, match=osp.basename(info['seg_map_path'])):
        wrong_order(copy.deepcopy(info))
    # inference (no label): predictions at the original size, as usual
    _, no_label = _pipeline(shapes_root, [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(2048, 96), keep_ratio=True),
        dict(type='ScoreAtResizedShape'),
    ])
    results = no_label(copy.deepcopy(info))
    assert results['ori_shape'] == original.shape[:2] != (96, 96)


def test_prediction_scored_at_the_resized_size(paper_runner, shapes_root):
    """Through the segmentor's test_step: the prediction has the resized
    label's size, and the metric scores it with NaN IoUs as 0."""
    runner, _ = paper_runner
    model = runner.model.eval()
    info, pipeline = _pipeline(shapes_root, [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='Resize', scale=(2048, 96), keep_ratio=True),
        dict(type='ScoreAtResizedShape'),
        dict(type='PackSegInputs'),
    ])
    packed = pipeline(copy.deepcopy(info))
    batch = dict(
        inputs=[packed['inputs']], data_samples=[packed['data_samples']])
    with torch.no_grad():
        pred = model.test_step(batch)[0]
    assert pred.pred_sem_seg.data.shape[-2:] == (96, 96)
    assert pred.gt_sem_seg.data.shape[-2:] == (96, 96)
    from mmseg.registry import METRICS

    from mmseg_zs3.datasets.zs3_shapes import SHAPES_CLASSES
    metric = METRICS.build(
        dict(
            type='ZeroShotIoUMetric',
            split=runner.cfg.model.decode_head.split,
            nan_policy='zero'))
    metric.dataset_meta = dict(classes=SHAPES_CLASSES)
    metric.process(batch, [pred.to_dict()])
    scores = metric.compute_metrics(metric.results)
    assert np.isfinite(scores['mIoU'])


def test_strict_cache_loop_with_separate_optimizers(stage2_files, data_copies,
                                                    tmp_path):
    """The strict layout trains with the two optimizers too (one generator
    step per pixel batch), through the feature cache loop."""
    cfg = stage2_config(data_copies['clean'], str(tmp_path), stage2_files)
    paper = Config.fromfile(PAPER_BASE)
    cfg.optim_wrapper = paper.optim_wrapper
    cfg.param_scheduler = paper.param_scheduler
    cfg.param_scheduler.classifier[0].end = 1
    runner = Runner.from_cfg(cfg)
    runner.train()
    iters = len(runner.train_dataloader)
    optim = runner.optim_wrapper
    gen_param = next(runner.model.generative_head.parameters())
    assert int(optim['generator'].optimizer.state[gen_param]['step']) == iters
    cls_param = runner.model.decode_head.classifier.conv.weight
    assert 'momentum_buffer' in optim['classifier'].optimizer.state[cls_param]
    assert osp.isfile(osp.join(str(tmp_path), 'zs3_feature_cache.pth'))
