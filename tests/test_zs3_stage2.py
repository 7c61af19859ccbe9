"""ZS3Net stage 2 end to end on the tiny shapes data: strict mode reads no
unseen ground truth, degenerate batches, bad input, the feature cache, and the
trained model (its checkpoint holds the generator, it predicts every class).

Stage-2 runs go through mmengine's Runner with the shipped config shrunk to
one epoch, batch 4 and 16 MMD samples per class.
"""
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from conftest import REPO, unique_experiment_name, use_embedding_file
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint
from PIL import Image

from mmseg_zs3.embeddings import build_class_embeddings, load_packaged_glove
from mmseg_zs3.engine.feature_cache import FeatureCache

STAGE1_CONFIG = osp.join(
    REPO, 'configs', 'zs3',
    'seen-only_unet-s2-fcn_1xb16-1800it_shapes-u4-64x64.py')
STAGE2_CONFIG = osp.join(REPO, 'configs', 'zs3',
                         'zs3net_unet-s2-fcn_1xb16-10e_shapes-u4-64x64.py')
CACHE_LOOP = 'ZS3FeatureCacheTrainLoop'
IMAGE_LOOP = 'EpochBasedTrainLoop'


def _models():
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    return MODELS


@pytest.fixture(scope='module', autouse=True)
def fast_runs():
    """Skip yapf when mmengine formats the config (``pretty_text``, five
    times per run: log, dump, checkpoint meta): ~0.7 s each on this CPU.
    One torch thread: these tiny runs gain nothing from two, and lose much
    when the cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr('mmengine.config.config.FormatCode', lambda text, **kwargs:
                   (text, False))
        yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------
# fixtures: embeddings, stage-1 checkpoints, clean and poisoned data copies
@pytest.fixture(scope='module')
def stage2_files(tmp_path_factory):
    """Class embeddings of the shapes classes and stage-1 checkpoints.

    The stage-1 checkpoints are saved from initialised models (stage 2 only
    needs a frozen feature extractor; its accuracy does not matter here):
    ``stage1`` for the 17 shapes classes, ``stage1_10`` for 10 classes.
    """
    root = tmp_path_factory.mktemp('stage2_files')
    glove = load_packaged_glove()
    emb = str(root / 'emb.npz')
    build_class_embeddings('ZS3ShapesDataset', glove, normalize='l2').save(emb)
    MODELS = _models()
    files = dict(emb=emb, glove=glove)
    for name, num_classes in [('stage1', 17), ('stage1_10', 10)]:
        cfg = Config.fromfile(STAGE1_CONFIG)
        use_embedding_file(cfg.model, emb)
        cfg.model.decode_head.num_classes = num_classes
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        model.init_weights()
        path = str(root / f'{name}.pth')
        torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
        files[name] = path
    return files


def _unseen_ids():
    from mmseg_zs3.datasets.zs3_shapes import SHAPES_CLASSES, SHAPES_UNSEEN
    return [SHAPES_CLASSES.index(c) for c in SHAPES_UNSEEN]


def _copy_data(src: str, dst: str) -> str:
    """Copy a shapes dataset without its class-presence cache."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns('.zs3_cache'))
    return dst


def _poison(root: str) -> list:
    """Relabel every unseen training pixel as the next unseen class (a cycle,
    so the set of images with unseen pixels is unchanged). Returns the
    positions (in file order) of the changed annotations."""
    unseen = _unseen_ids()
    lut = np.arange(256, dtype=np.uint8)
    for a, b in zip(unseen, unseen[1:] + unseen[:1]):
        lut[a] = b
    changed = []
    ann_dir = osp.join(root, 'ann_dir', 'train')
    for i, name in enumerate(sorted(os.listdir(ann_dir))):
        path = osp.join(ann_dir, name)
        seg = np.asarray(Image.open(path))
        new = lut[seg]
        if not np.array_equal(new, seg):
            Image.fromarray(new).save(path)
            changed.append(i)
    return changed


@pytest.fixture(scope='module')
def data_copies(shapes_root, tmp_path_factory):
    """``clean`` and ``poisoned`` copies of the tiny dataset, each with its
    own ``.zs3_cache``."""
    base = tmp_path_factory.mktemp('stage2_data')
    clean = _copy_data(shapes_root, str(base / 'clean'))
    poisoned = _copy_data(shapes_root, str(base / 'poisoned'))
    changed = _poison(poisoned)
    # the runs use the first 12 images: some must have unseen pixels
    assert 0 < len([i for i in changed if i < 12]) < 12
    return dict(clean=clean, poisoned=poisoned)


def stage2_config(data_root: str,
                  work_dir: str,
                  files: dict,
                  loop: str = CACHE_LOOP,
                  layout: str = 'strict',
                  seen_only: bool = True,
                  max_epochs: int = None,
                  load_from: str = None,
                  num_images: int = 12) -> Config:
    """The shipped stage-2 config shrunk for the tiny dataset.

    Args:
        loop (str): ``'ZS3FeatureCacheTrainLoop'`` or
            ``'EpochBasedTrainLoop'``.
        layout (str): ``unseen_layout`` of the model.
        max_epochs (int, optional): Defaults to 1.
        seen_only (bool): Keep the ``SeenOnlyDataset`` (drop_image) wrapper
            of the config; False trains on every image (as the official
            ``paper`` layout does).
        num_images (int): The first training images used (6 of the first 12
            have unseen pixels). Defaults to 12.
    """
    max_epochs = max_epochs or 1
    cfg = Config.fromfile(STAGE2_CONFIG)
    cfg.experiment_name = unique_experiment_name()
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    cfg.load_from = load_from or files['stage1']
    cfg.model.class_embedding.embedding_file = files['emb']
    cfg.model.unseen_layout = layout
    cfg.model.generative_head.num_samples = 16
    loader = cfg.train_dataloader
    loader.batch_size = 4
    loader.num_workers = 0
    loader.persistent_workers = False
    if not seen_only:
        loader.dataset = loader.dataset.dataset
    inner = loader.dataset.dataset if seen_only else loader.dataset
    inner.data_root = data_root
    inner.indices = num_images
    train_cfg = dict(type=loop, max_epochs=max_epochs, val_interval=max_epochs)
    if loop == CACHE_LOOP:
        train_cfg['max_per_class'] = 500
    cfg.train_cfg = train_cfg
    for scheduler in cfg.param_scheduler:
        scheduler.end = max_epochs
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = max_epochs
    cfg.randomness = dict(seed=0, deterministic=False)
    cfg.val_cfg = None
    cfg.val_dataloader = None
    cfg.val_evaluator = None
    return cfg


def _trainable_state(model) -> dict:
    return {
        k: v.detach().clone()
        for k, v in model.state_dict().items()
        if k.startswith(('decode_head.classifier.', 'generative_head.'))
    }


@pytest.fixture(scope='module')
def run_stage2(stage2_files, data_copies, tmp_path_factory):
    """Run (once per argument set) a tiny stage 2; returns the trained
    classifier/generator weights and the work_dir."""
    runs = {}

    def run(data: str,
            loop: str,
            layout: str = 'strict',
            seen_only: bool = True) -> dict:
        key = (data, loop, layout, seen_only)
        if key not in runs:
            work_dir = str(tmp_path_factory.mktemp('stage2_run'))
            runner = Runner.from_cfg(
                stage2_config(data_copies[data], work_dir, stage2_files, loop,
                              layout, seen_only))
            runner.train()
            runs[key] = dict(
                state=_trainable_state(runner.model),
                work_dir=work_dir,
                cfg=runner.cfg,
                loop=runner.train_loop)
        return runs[key]

    return run


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# ---------------------------------------------------------------------------
# strict mode never reads unseen ground truth
@pytest.mark.parametrize(
    'seen_only', [True, False], ids=['seen_only_data', 'all_images'])
@pytest.mark.parametrize('loop', [CACHE_LOOP, IMAGE_LOOP])
def test_strict_ignores_unseen_ground_truth(run_stage2, loop, seen_only):
    """Relabelling unseen pixels changes nothing: bit-identical weights.

    With the config's seen-only data (drop_image) the kept images are the
    same files; on all images, those with unseen pixels reach the model and
    strict mode must still use only their seen pixels.
    """
    clean = run_stage2('clean', loop, seen_only=seen_only)
    poisoned = run_stage2('poisoned', loop, seen_only=seen_only)
    for prefix in ('generative_head.generator.', 'decode_head.classifier.'):
        assert any(k.startswith(prefix) for k in clean['state'])
    _assert_same(clean['state'], poisoned['state'])
    if loop == CACHE_LOOP:
        # the epoch really ran from the cache, computed in this run
        assert osp.isfile(osp.join(clean['work_dir'], 'zs3_feature_cache.pth'))
        assert clean['loop'].cache_seconds is not None


def test_paper_layout_reads_unseen_ground_truth(run_stage2):
    """Negative control: the official layout lays generated features on the
    unseen masks, so the poisoned run's classifier differs."""
    clean = run_stage2('clean', IMAGE_LOOP, 'paper', seen_only=False)['state']
    poisoned = run_stage2(
        'poisoned', IMAGE_LOOP, 'paper', seen_only=False)['state']
    key = 'decode_head.classifier.conv.weight'
    assert not torch.equal(clean[key], poisoned[key])


# ---------------------------------------------------------------------------
# degenerate batches
@pytest.fixture(scope='module')
def stage2_model(stage2_files, tmp_path_factory):
    cfg = stage2_config('unused', 'unused', stage2_files)
    model = _models().build(cfg.model)
    model.init_weights()
    model.train()
    return model


def _loss_sum(losses: dict) -> torch.Tensor:
    return sum(v for k, v in losses.items() if k.startswith('loss'))


def _trainable(model):
    return [p for p in model.parameters() if p.requires_grad]


def test_no_seen_pixel_gives_finite_zero_losses(stage2_model):
    model = stage2_model
    model.zero_grad()
    losses = model(
        torch.empty(0, 64), torch.empty(0, dtype=torch.long), mode='loss')
    for name in ('loss_mmd', 'loss_cls'):
        assert torch.isfinite(losses[name]) and losses[name].item() == 0
        assert losses[name].requires_grad, name
    _loss_sum(losses).backward()
    grads = [p.grad for p in _trainable(model)]
    assert all(g is not None for g in grads)  # DDP sees every parameter
    assert all(torch.isfinite(g).all() and not g.any() for g in grads)


def test_image_batch_without_seen_pixel(stage2_model):
    """An image whose labels are all ignore (or unseen) trains on nothing."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    sample = SegDataSample()
    gt = torch.full((1, 64, 64), 255, dtype=torch.long)
    gt[:, :8] = _unseen_ids()[0]
    sample.gt_sem_seg = PixelData(data=gt)
    sample.set_metainfo(dict(img_shape=(64, 64), pad_shape=(64, 64)))
    losses = stage2_model.loss(torch.randn(1, 3, 64, 64), [sample])
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses['loss_mmd'].item() == 0 and losses['loss_cls'].item() == 0
    _loss_sum(losses).backward()


def test_background_only_batch_trains(stage2_model):
    model = stage2_model
    feats = torch.randn(300, 64)
    labels = torch.zeros(300, dtype=torch.long)
    params = _trainable(model)
    before = [p.detach().clone() for p in params]
    optim = torch.optim.Adam(params, lr=1e-2)
    optim.zero_grad()
    losses = model.loss_by_pixels(feats, labels)
    assert losses['loss_mmd'].item() > 0 and losses['loss_cls'].item() > 0
    assert all(torch.isfinite(v) for v in losses.values())
    _loss_sum(losses).backward()
    optim.step()
    changed = [not torch.equal(a, p) for a, p in zip(before, params)]
    assert all(changed)  # generator and classifier both moved


# ---------------------------------------------------------------------------
# bad input
def test_split_without_unseen_class(stage2_files):
    cfg = stage2_config('unused', 'unused', stage2_files)
    cfg.model.decode_head.split = dict(unseen=[])
    with pytest.raises(ValueError, match='no unseen class'):
        _models().build(cfg.model)


def test_embedding_dim_differs_from_generator(stage2_files):
    cfg = stage2_config('unused', 'unused', stage2_files)
    cfg.model.generative_head.generator.embed_dim = 30
    with pytest.raises(ValueError, match=r'expected dimension 30.*embed_dim'):
        _models().build(cfg.model)


def test_embedding_file_missing_a_class(stage2_files, tmp_path):
    from mmseg_zs3.datasets.zs3_shapes import SHAPES_CLASSES
    path = str(tmp_path / 'emb15.npz')
    classes = [c for c in SHAPES_CLASSES if c != 'blue cross']
    build_class_embeddings(classes, stage2_files['glove']).save(path)
    cfg = stage2_config('unused', 'unused', stage2_files)
    cfg.model.class_embedding.embedding_file = path
    with pytest.raises(ValueError, match="missing 'blue cross'"):
        _models().build(cfg.model)


def test_load_from_checkpoint_of_another_class_count(stage2_files, data_copies,
                                                     tmp_path):
    cfg = stage2_config(
        data_copies['clean'],
        str(tmp_path),
        stage2_files,
        load_from=stage2_files['stage1_10'])
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match=r'\b10\b.*\b17\b|\b17\b.*\b10\b'):
        runner.train()


def test_unseen_pixel_labels_rejected(stage2_model):
    unseen = _unseen_ids()
    labels = torch.tensor([0, unseen[1], 2, unseen[3]])
    with pytest.raises(ValueError, match=rf'\[{unseen[1]}, {unseen[3]}\]'):
        stage2_model.loss_by_pixels(torch.randn(4, 64), labels)


def test_pixel_batch_bad_input(stage2_model):
    """A pixel batch is for the strict layout's loss only, with [N] labels."""
    feats = torch.randn(5, 64)
    with pytest.raises(ValueError, match="mode='predict'"):
        stage2_model(feats, torch.zeros(5, dtype=torch.long), mode='predict')
    with pytest.raises(
            ValueError,
            match=r'needs data_samples = their \[5\] '
            'labels, got NoneType'):
        stage2_model(feats, None, mode='loss')
    with pytest.raises(ValueError, match=r'\[5\] labels, got Tensor'):
        stage2_model(feats, torch.zeros(4, dtype=torch.long), mode='loss')
    stage2_model.unseen_layout = 'paper'
    try:
        with pytest.raises(ValueError, match='not pixel batches'):
            stage2_model(feats, torch.zeros(5, dtype=torch.long), mode='loss')
    finally:
        stage2_model.unseen_layout = 'strict'


def test_feature_cache_loop_refuses_frozen_train_mode(stage2_files,
                                                      data_copies, tmp_path):
    cfg = stage2_config(data_copies['clean'], str(tmp_path), stage2_files)
    cfg.model.frozen_mode = 'train'
    runner = Runner.from_cfg(cfg)
    with pytest.raises(
            ValueError, match=r"frozen_mode='eval' \(got 'train'\)"):
        runner.train()
    assert not osp.isfile(osp.join(str(tmp_path), 'zs3_feature_cache.pth'))


def test_feature_cache_loop_needs_its_preprocessor(stage2_files, data_copies,
                                                   tmp_path):
    cfg = stage2_config(data_copies['clean'], str(tmp_path), stage2_files)
    cfg.model.data_preprocessor.type = 'SegDataPreProcessor'
    cfg.model.data_preprocessor.pop('channels_last', None)
    runner = Runner.from_cfg(cfg)
    with pytest.raises(
            TypeError,
            match=r"type='ZS3DataPreProcessor' \(got SegDataPreProcessor\)"):
        runner.train()


def test_feature_cache_loop_refuses_paper_layout(stage2_files, data_copies,
                                                 tmp_path):
    cfg = stage2_config(
        data_copies['clean'],
        str(tmp_path),
        stage2_files,
        CACHE_LOOP,
        layout='paper')
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match="unseen_layout='strict'"):
        runner.train()


# ---------------------------------------------------------------------------
# the feature cache
def test_cache_pass_runs_in_the_optim_wrapper_context(stage2_files,
                                                      data_copies, tmp_path,
                                                      monkeypatch):
    """The frozen features of the cache are computed as ``train_step``
    computes its forward: inside ``optim_wrapper.optim_context`` (autocast
    with ``--amp``'s ``AmpOptimWrapper``, which needs CUDA; on CPU an
    ``OptimWrapper`` whose context is bfloat16 autocast stands in)."""
    from contextlib import contextmanager

    from mmengine.optim import OptimWrapper

    from mmseg_zs3.models.segmentors import ZS3EncoderDecoder

    @contextmanager
    def autocast_context(self, model):
        with torch.autocast('cpu', dtype=torch.bfloat16):
            yield

    calls = []
    extract = ZS3EncoderDecoder.extract_pixels

    def spy(self, data):
        calls.append(torch.is_autocast_enabled('cpu'))
        return extract(self, data)

    monkeypatch.setattr(OptimWrapper, 'optim_context', autocast_context)
    monkeypatch.setattr(ZS3EncoderDecoder, 'extract_pixels', spy)
    runner = Runner.from_cfg(
        stage2_config(
            data_copies['clean'],
            str(tmp_path),
            stage2_files,
            seen_only=False,
            num_images=4))
    runner.train()
    assert calls == [True]  # one batch of 4 images, under autocast
    cache = runner.train_loop.cache
    assert all(f.dtype == torch.float32 for f in cache.feats)
    assert cache.num_images == 4


def _class_feats(c: int, n: int, dim: int = 4, start: int = 0):
    """Features of class ``c``: column 0 is the class, column 1 a serial."""
    f = torch.zeros(n, dim)
    f[:, 0] = c
    f[:, 1] = torch.arange(start, start + n)
    return f, torch.full((n, ), c, dtype=torch.long)


def test_feature_cache_bounded_with_true_counts():
    cache = FeatureCache(3, 4, max_per_class=20, seed=0)
    for b in range(3):
        f0, y0 = _class_feats(0, 50, start=50 * b)
        f2, y2 = _class_feats(2, 5, start=5 * b)
        cache.add(torch.cat([f0, f2]), torch.cat([y0, y2]))
    assert cache.counts.tolist() == [150, 0, 15]
    assert [len(f) for f in cache.feats] == [20, 0, 15]
    kept = cache.feats[0]
    assert (kept[:, 0] == 0).all()
    assert len(kept[:, 1].unique()) == 20  # a sample without replacement
    assert kept[:, 1].max() >= 50  # not just the first batch
    assert cache.num_images == 0  # none given
    cache.add(*_class_feats(1, 10), image_indices=[7, 8])
    assert cache.image_indices == [7, 8]
    assert cache.pixels_per_image == (150 + 15 + 10) / 2
    assert cache.nbytes <= 3 * 20 * 4 * 4


def test_feature_cache_samples_natural_frequencies():
    cache = FeatureCache(3, 4, max_per_class=10, seed=0)
    f0, y0 = _class_feats(0, 900)
    f1, y1 = _class_feats(1, 100)
    cache.add(torch.cat([f0, f1]), torch.cat([y0, y1]))
    feats, cls = cache.sample(20000, torch.Generator().manual_seed(0))
    freq = torch.bincount(cls, minlength=3).float() / len(cls)
    assert abs(freq[0] - 0.9) < 0.02 and freq[2] == 0
    assert torch.equal(feats[:, 0].long(), cls)  # each from its own pool


def test_feature_cache_sampling_is_exact_with_empty_classes():
    """Classes at count / total (empty classes, first and last included,
    never drawn) and, inside a class, each kept feature equally often."""
    cache = FeatureCache(5, 1, max_per_class=40, seed=0)
    counts = [0, 600, 0, 30, 0]
    labels = torch.cat([torch.full((n, ), c) for c, n in enumerate(counts)])
    cache.add(torch.arange(len(labels)).float()[:, None], labels)
    n = 60000
    feats, cls = cache.sample(n, torch.Generator().manual_seed(1))
    freq = torch.bincount(cls, minlength=5).double() / n
    expected = torch.tensor(counts, dtype=torch.float64) / sum(counts)
    assert freq[0] == freq[2] == freq[4] == 0
    # binomial standard error at most 0.2%: 5 of them
    assert torch.allclose(freq, expected, atol=0.01)
    for c, kept in ((1, 40), (3, 30)):
        drawn = feats[cls == c, 0]
        pool = cache.feats[c][:, 0]
        assert torch.isin(drawn, pool).all()  # each from its own pool
        hits = torch.stack([(drawn == v).sum() for v in pool]).double()
        assert len(pool) == kept and hits.min() > 0
        # each of the kept features about equally often (+-25%)
        assert (hits / hits.mean() - 1).abs().max() < 0.25


def test_feature_cache_round_trip_and_key(tmp_path):
    cache = FeatureCache(3, 4, max_per_class=10, seed=0)
    f, y = _class_feats(1, 30)
    cache.add(f, y)
    path = str(tmp_path / 'cache.pth')
    key = dict(checkpoint=['a.pth', 1, 2], max_per_class=10)
    cache.save(path, key)
    assert os.listdir(tmp_path) == ['cache.pth']  # no temporary file left
    loaded, why = FeatureCache.load(path, key)
    assert loaded is not None and why == ''
    assert torch.equal(loaded.counts, cache.counts)
    assert all(torch.equal(a, b) for a, b in zip(loaded.feats, cache.feats))
    assert loaded.image_indices == cache.image_indices
    a = cache.sample(50, torch.Generator().manual_seed(3))
    b = loaded.sample(50, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    none, why = FeatureCache.load(path, dict(key, max_per_class=11))
    assert none is None and why == 'max_per_class changed'
    none, why = FeatureCache.load(str(tmp_path / 'absent.pth'), key)
    assert none is None and 'absent.pth' in why


def test_feature_cache_corrupt_file_not_trusted(tmp_path):
    cache = FeatureCache(2, 4, max_per_class=10)
    cache.add(*_class_feats(1, 5))
    path = str(tmp_path / 'cache.pth')
    key = dict(k=1)
    cache.save(path, key)
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:  # half-written
        f.write(data[:len(data) // 2])
    assert FeatureCache.load(path, key)[0] is None
    with open(path, 'wb') as f:  # garbage
        f.write(b'not a checkpoint')
    assert FeatureCache.load(path, key)[0] is None
    torch.save(dict(key=key, cache=dict(feats=[])), path)  # wrong content
    cache, why = FeatureCache.load(path, key)
    assert cache is None and 'cache.pth is unreadable' in why


def test_feature_cache_failed_save_keeps_old_file(tmp_path, monkeypatch):
    cache = FeatureCache(2, 4, max_per_class=10)
    cache.add(*_class_feats(1, 5))
    path = str(tmp_path / 'cache.pth')
    cache.save(path, dict(k=1))
    before = open(path, 'rb').read()

    def fail(obj, f, *args, **kwargs):
        if hasattr(f, 'write'):
            f.write(b'partial')
        else:
            with open(f, 'wb') as out:
                out.write(b'partial')
        raise OSError('disk full')

    monkeypatch.setattr(torch, 'save', fail)
    with pytest.raises(OSError, match='disk full'):
        cache.save(path, dict(k=2))
    assert os.listdir(tmp_path) == ['cache.pth']
    assert open(path, 'rb').read() == before


# ---------------------------------------------------------------------------
# the trained stage-2 model
def test_trained_model_predicts_all_classes_and_keeps_generator(
        run_stage2, stage2_files, data_copies):
    run = run_stage2('clean', CACHE_LOOP)
    ckpt_path = osp.join(run['work_dir'], 'epoch_1.pth')
    state = torch.load(
        ckpt_path, map_location='cpu', weights_only=False)['state_dict']
    gen_keys = [k for k in state if k.startswith('generative_head.generator.')]
    assert {
        'generative_head.generator.fc1.weight',
        'generative_head.generator.fc2.weight'
    } <= set(gen_keys)
    for key, value in run['state'].items():
        assert torch.equal(state[key], value), key

    # a fresh model from the config, loaded from the stage-2 checkpoint
    cfg = stage2_config(data_copies['clean'], 'unused', stage2_files)
    model = _models().build(cfg.model)
    load_checkpoint(model, ckpt_path, map_location='cpu', strict=True)
    model.eval()
    for key, value in run['state'].items():
        assert torch.equal(model.state_dict()[key], value), key

    from mmseg.registry import DATASETS
    dataset = DATASETS.build(
        dict(
            type='ZS3ShapesDataset',
            data_root=data_copies['clean'],
            data_prefix=dict(
                img_path='img_dir/val', seg_map_path='ann_dir/val'),
            pipeline=cfg.test_pipeline))
    batch = pseudo_collate([dataset[0], dataset[1]])
    with torch.no_grad():
        results = model.test_step(batch)
    assert len(results) == 2
    for result in results:
        logits = result.seg_logits.data
        assert logits.shape == (17, 64, 64)  # seen + unseen classes
        assert torch.isfinite(logits).all()
        assert result.pred_sem_seg.data.shape == (1, 64, 64)

    # the loaded generator draws features of any class, seen or unseen
    emb = model.class_embedding()
    all_ids = list(range(17))
    feats = model.generative_head.generate(
        all_ids, 5, emb, generator=torch.Generator().manual_seed(0))
    assert feats.shape == (17, 5, 64) and torch.isfinite(feats).all()
    unseen = model.generative_head.generate(
        _unseen_ids(), 3, emb, generator=torch.Generator().manual_seed(0))
    assert unseen.shape == (4, 3, 64)
    assert not torch.equal(unseen[0], unseen[1])  # class-dependent
