"""ZS5Net's self-training: PseudoLabelHook, LoadPseudoLabels and
OnlinePseudoLabelHook on the tiny shapes data.

The runs go through mmengine's Runner with the shipped ZS5Net shapes config
shrunk to one short epoch. They start from a checkpoint of the config's model
whose classifier favours the unseen classes (bias +3), so that the pass has
candidates of every unseen class at many confidences without training.
"""
import glob
import json
import os
import os.path as osp
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import REPO, unique_experiment_name
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from PIL import Image

from mmseg_zs3.datasets.transforms import LoadPseudoLabels
from mmseg_zs3.datasets.zs3_shapes import SHAPES_CLASSES, SHAPES_UNSEEN
from mmseg_zs3.engine.hooks import OnlinePseudoLabelHook, PseudoLabelHook
from mmseg_zs3.utils import pseudo_labels as pl
from mmseg_zs3.utils.jobs import set_everywhere

ZS5_CONFIG = osp.join(REPO, 'configs', 'zs3',
                      'zs5net_unet-s2-fcn_1xb16-8e_shapes-u4-64x64.py')
ORACLE_CONFIG = osp.join(REPO, 'configs', 'zs3',
                         'oracle_unet-s2-fcn_1xb16-1800it_shapes-64x64.py')
UNSEEN = [SHAPES_CLASSES.index(c) for c in SHAPES_UNSEEN]
SPLIT = dict(unseen=list(SHAPES_UNSEEN))


@pytest.fixture(scope='module', autouse=True)
def fast_runs():
    """One torch thread, and no yapf formatting of configs (as in
    test_zs3_stage2.py)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr('mmengine.config.config.FormatCode', lambda text, **kwargs:
                   (text, False))
        yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------
# ranking on hand-built score maps
def _cand(cls, score):
    return pl.encode(np.asarray(cls, np.uint8), np.asarray(score, np.uint16))


_USED_SCORES = set()


def _hand_built(rng, shape=(6, 10)):
    """A candidate map: unseen classes 1 and 6 (and none) at scores that no
    other hand-built map has."""
    cls = rng.choice([1, 6, pl.NO_LABEL], size=shape).astype(np.uint8)
    free = np.setdiff1d(np.arange(1, pl.SCORE_LEVELS + 1), list(_USED_SCORES))
    score = rng.choice(free, size=cls.size, replace=False)
    _USED_SCORES.update(score.tolist())
    score = score.reshape(shape).astype(np.uint16)
    score[cls == pl.NO_LABEL] = 0
    return _cand(cls, score)


def _top(values, percent):
    """Indices of the ceil(percent% * n) largest values."""
    k = int(np.ceil(percent * len(values) / 100 - 1e-9))
    return set(np.argsort(-values, kind='stable')[:k].tolist())


@pytest.mark.parametrize('percent', [25.0, 50.0, 33.3, 100.0])
def test_class_ranking_keeps_exactly_top_percent_over_all_images(percent):
    rng = np.random.default_rng(0)
    maps = [_hand_built(rng) for _ in range(3)]
    hist = np.zeros((2, pl.SCORE_LEVELS + 1), np.int64)
    for m in maps:
        pl.add_to_histograms(hist, m, [1, 6])
    thresholds = {
        c: pl.threshold_of_histogram(h, percent)
        for c, h in zip([1, 6], hist)
    }
    labels = [pl.apply_thresholds(m, thresholds) for m in maps]
    for c in (1, 6):
        # every candidate of class c over the three images, flattened
        scores = np.concatenate(
            [pl.decode(m)[1][pl.decode(m)[0] == c] for m in maps])
        kept = np.concatenate(
            [lab[pl.decode(m)[0] == c] == c for m, lab in zip(maps, labels)])
        assert set(np.flatnonzero(kept).tolist()) == _top(scores, percent)
    for m, lab in zip(maps, labels):  # nothing outside candidates
        assert (lab[pl.decode(m)[0] == pl.NO_LABEL] == 255).all()


@pytest.mark.parametrize('percent', [25.0, 60.0])
def test_image_ranking_keeps_exactly_top_percent_of_each_image(percent):
    rng = np.random.default_rng(1)
    for _ in range(3):
        m = _hand_built(rng)
        kept = pl.keep_top_by_image(m, [1, 6], percent)
        cls, score = pl.decode(m)
        kcls, kscore = pl.decode(kept)
        for c in (1, 6):
            mine = np.flatnonzero(cls.ravel() == c)
            top = {mine[i] for i in _top(score.ravel()[mine], percent)}
            assert set(np.flatnonzero(kcls.ravel() == c).tolist()) == top
        assert (
            kscore[kcls != pl.NO_LABEL] == score[kcls != pl.NO_LABEL]).all()


def test_ties_at_the_threshold_are_all_kept():
    m = _cand([[1, 1, 1, 1]], [[9, 5, 5, 1]])
    hist = np.zeros((1, pl.SCORE_LEVELS + 1), np.int64)
    pl.add_to_histograms(hist, m, [1])
    t = pl.threshold_of_histogram(hist[0], 50.0)  # k = 2: 9 and both 5s
    assert t == 5
    assert pl.apply_thresholds(m, {1: t}).tolist() == [[1, 1, 1, 255]]


def test_histogram_memory_does_not_grow_with_the_images():
    """The class thresholds of a stream of maps come from a fixed-size
    histogram: 10x more images, the same bytes, the same threshold as a
    full sort."""
    rng = np.random.default_rng(2)
    sizes = []
    for n in (10, 100):
        hist = np.zeros((1, pl.SCORE_LEVELS + 1), np.int64)
        all_scores = []
        for _ in range(n):
            score = rng.integers(0, pl.SCORE_LEVELS + 1, (8, 8))
            pl.add_to_histograms(hist, _cand(np.ones((8, 8)), score), [1])
            all_scores.append(score.ravel())
        sizes.append(hist.nbytes)
        assert pl.threshold_of_histogram(hist[0], 25.0) == \
            pl.threshold_of_scores(np.concatenate(all_scores), 25.0)
    assert sizes[0] == sizes[1]


# ---------------------------------------------------------------------------
# the transform on hand-built folders
def _write_pass(folder, maps, thresholds=None, split=SPLIT, classes=None):
    """A pass folder as PseudoLabelHook writes it."""
    classes = list(classes or SHAPES_CLASSES)
    gen = 'pass-iter000000-handbuilt'
    os.makedirs(osp.join(folder, gen), exist_ok=True)
    for name, cand in maps.items():
        with open(osp.join(folder, gen, name + '.png'), 'wb') as f:
            f.write(pl.encode_png(cand))
    names = split['unseen']
    manifest = dict(
        format=pl.MANIFEST_FORMAT,
        folder=gen,
        split=dict(name='custom', unseen=list(names)),
        classes=classes,
        ignore_index=255,
        num_images=len(maps),
        thresholds={n: (thresholds or {}).get(n, 0)
                    for n in names})
    with open(osp.join(folder, pl.MANIFEST_NAME), 'w') as f:
        json.dump(manifest, f)
    return folder


def _transform(folder, **kwargs):
    kwargs.setdefault('split', SPLIT)
    return LoadPseudoLabels(
        pseudo_label_dir=folder, classes='ZS3ShapesDataset', **kwargs)


def test_transform_fills_only_ignored_pixels(tmp_path):
    gt = np.array([[0, 2, 255, 255], [255, 3, 0, 255]], np.uint8)
    cls = np.full(gt.shape, UNSEEN[0], np.uint8)
    score = np.full(gt.shape, 60000, np.uint16)
    score[1, 3] = 10  # below the threshold
    folder = _write_pass(
        str(tmp_path / 'pl'), {'img_0': _cand(cls, score)},
        thresholds={SHAPES_UNSEEN[0]: 50000})
    out = _transform(folder)(dict(
        gt_seg_map=gt.copy(), img_path='x/img_0.jpg'))['gt_seg_map']
    u = UNSEEN[0]
    assert out.tolist() == [[0, 2, u, u], [u, 3, 0, 255]]


def test_transform_refuses_a_map_of_another_size(tmp_path):
    folder = _write_pass(
        str(tmp_path / 'pl'),
        {'img_0': _cand(np.full((3, 5), UNSEEN[0]), np.ones((3, 5)))})
    with pytest.raises(ValueError) as e:
        _transform(folder)(
            dict(
                gt_seg_map=np.full((4, 4), 255, np.uint8),
                img_path='d/img_0.jpg',
                seg_map_path='d/img_0.png'))
    assert 'img_0.png' in str(e.value) and '5x3' in str(e.value) and \
        '4x4' in str(e.value)


def test_transform_refuses_a_folder_of_another_split(tmp_path):
    other = dict(unseen=['red square', 'blue circle'])
    folder = _write_pass(str(tmp_path / 'pl'), {}, split=other)
    with pytest.raises(ValueError) as e:
        _transform(folder)(
            dict(gt_seg_map=np.zeros((4, 4), np.uint8), img_path='a.jpg'))
    msg = str(e.value)
    assert pl.MANIFEST_NAME in msg and 'red square' in msg and \
        'red circle' in msg


def test_transform_refuses_a_folder_of_other_images(tmp_path):
    folder = _write_pass(
        str(tmp_path / 'pl'),
        {'other': _cand(np.full((4, 4), 255), np.zeros((4, 4)))})
    with pytest.raises(FileNotFoundError) as e:
        _transform(folder)(
            dict(gt_seg_map=np.zeros((4, 4), np.uint8), img_path='a/b.jpg'))
    assert 'b.png' in str(e.value) and "'a/b.jpg'" in str(e.value)


def test_transform_refuses_unseen_labels_and_missing_manifest(tmp_path):
    folder = _write_pass(str(tmp_path / 'pl'), {})
    gt = np.full((4, 4), UNSEEN[1], np.uint8)
    with pytest.raises(ValueError, match='unseen classes'):
        _transform(folder)(
            dict(gt_seg_map=gt, img_path='a.jpg', seg_map_path='a.png'))
    empty = str(tmp_path / 'empty')
    os.makedirs(empty)
    with pytest.raises(FileNotFoundError) as e:
        _transform(empty)(dict(gt_seg_map=gt, img_path='a.jpg'))
    assert osp.join(empty, pl.MANIFEST_NAME) in str(e.value)
    with pytest.raises(ValueError, match='no unseen class'):
        _transform(empty, split=dict(unseen=[]))


@pytest.mark.parametrize('percent', [0, -5, 100.5, float('nan'), '25', True])
def test_percent_outside_0_100_is_refused(percent):
    for build in (PseudoLabelHook, OnlinePseudoLabelHook):
        with pytest.raises(ValueError) as e:
            build(percent=percent)
        assert f'percent={percent!r}' in str(e.value)
        assert '(0, 100]' in str(e.value)


def test_bad_ranking_and_schedule_are_refused():
    with pytest.raises(ValueError, match="ranking='top'"):
        PseudoLabelHook(ranking='top')
    with pytest.raises(ValueError, match='schedule no pass'):
        PseudoLabelHook(before_train=False, interval=0)
    with pytest.raises(ValueError, match='interval=-1'):
        PseudoLabelHook(interval=-1)


# ---------------------------------------------------------------------------
# runs of the ZS5Net config on the tiny data
@pytest.fixture(scope='module')
def zs3_checkpoint(tmp_path_factory):
    """A checkpoint of the ZS5Net config's model whose classifier favours
    the unseen classes (so that the pass has candidates)."""
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    cfg = Config.fromfile(ZS5_CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():
        model.decode_head.classifier.conv.bias[UNSEEN] += 3.0
    path = str(tmp_path_factory.mktemp('zs5_ckpt') / 'zs3net.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


def zs5_config(data_root,
               work_dir,
               load_from,
               pseudo_dir=None,
               num_images=8,
               batch_size=4,
               **hook):
    """The ZS5Net shapes config on the first ``num_images`` tiny training
    images, one epoch, no validation."""
    cfg = Config.fromfile(ZS5_CONFIG)
    cfg.work_dir = work_dir
    cfg.experiment_name = unique_experiment_name('zs5')
    cfg.log_level = 'WARNING'
    cfg.load_from = load_from
    pseudo_dir = pseudo_dir or osp.join(work_dir, 'pseudo_labels')
    set_everywhere(cfg.train_dataloader, 'pseudo_label_dir', pseudo_dir)
    set_everywhere(cfg.train_dataloader, 'data_root', data_root)
    cfg.train_dataloader.batch_size = batch_size
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.train_dataloader.dataset.dataset.indices = num_images
    hook_cfg = cfg.custom_hooks[-1]
    assert hook_cfg.type == 'PseudoLabelHook'
    hook_cfg.pseudo_label_dir = pseudo_dir
    hook_cfg.update(hook)
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.val_interval = 1
    cfg.param_scheduler[0].end = 1
    cfg.default_hooks.checkpoint.interval = 1
    cfg.default_hooks.logger.interval = 1
    cfg.randomness = dict(seed=0, deterministic=False)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    return cfg


def _train(cfg):
    runner = Runner.from_cfg(cfg)
    runner.train()
    hook = next(h for h in runner.hooks if isinstance(h, PseudoLabelHook))
    state = {
        k: v.detach().clone()
        for k, v in runner.model.state_dict().items()
    }
    return dict(runner=runner, hook=hook, state=state)


def _pass_files(pseudo_dir):
    """The manifest (without its key) and the map arrays of a folder."""
    manifest = pl.read_manifest(pseudo_dir)
    folder = osp.join(pseudo_dir, manifest['folder'])
    maps = {
        name: pl.read_map(osp.join(folder, name))
        for name in sorted(os.listdir(folder)) if name.endswith('.png')
    }
    return manifest, maps


def _assert_same_pass(a, b):
    (ma, maps_a), (mb, maps_b) = a, b
    for key in ('thresholds', 'candidates', 'kept', 'num_images', 'split'):
        assert ma[key] == mb[key], key
    assert maps_a.keys() == maps_b.keys()
    for name in maps_a:
        assert np.array_equal(maps_a[name], maps_b[name]), name


def _copy_data(src, dst):
    shutil.copytree(src, dst)
    return dst


def _poison(root):
    """Relabel every unseen training pixel as the next unseen class."""
    lut = np.arange(256, dtype=np.uint8)
    for a, b in zip(UNSEEN, UNSEEN[1:] + UNSEEN[:1]):
        lut[a] = b
    ann_dir = osp.join(root, 'ann_dir', 'train')
    changed = 0
    for name in sorted(os.listdir(ann_dir))[:8]:
        path = osp.join(ann_dir, name)
        seg = np.asarray(Image.open(path))
        new = lut[seg]
        if not np.array_equal(new, seg):
            Image.fromarray(new).save(path)
            changed += 1
    return changed


@pytest.fixture(scope='module')
def clean_run(shapes_root, zs3_checkpoint, tmp_path_factory):
    work = str(tmp_path_factory.mktemp('zs5_clean'))
    return _train(zs5_config(shapes_root, work, zs3_checkpoint))


def test_pass_labels_unseen_predictions_and_trains(clean_run, shapes_root):
    manifest, maps = _pass_files(clean_run['hook'].out_dir)
    assert manifest['num_images'] == 8 and len(maps) == 8
    # written by a thread through atomic_open: the usual permissions, and
    # the process umask left as it was
    umask = os.umask(0o022)
    os.umask(umask)
    folder = osp.join(clean_run['hook'].out_dir, manifest['folder'])
    for name in maps:
        mode = os.stat(osp.join(folder, name)).st_mode & 0o777
        assert mode == 0o666 & ~umask, (name, oct(mode))
    assert sum(manifest['candidates'].values()) > 0
    for name, n in manifest['candidates'].items():
        # the top percent of each class (a few more on ties at the threshold)
        k = pl.keep_count(manifest['percent'], n)
        assert k <= manifest['kept'][name] <= k + n * 0.02
    # the maps' candidates are exactly the ignored pixels predicted unseen:
    # every candidate lies on an unlabeled (here: unseen) pixel, and seen
    # ground truth is never a candidate
    ann = osp.join(shapes_root, 'ann_dir', 'train')
    for name, cand in maps.items():
        gt = np.asarray(Image.open(osp.join(ann, name)))
        cls, _ = pl.decode(cand)
        assert np.isin(gt[cls != pl.NO_LABEL], UNSEEN).all()


def test_training_labels_keep_seen_ground_truth(clean_run, shapes_root):
    """What training reads: seen GT unchanged, pseudo-labels only on
    unlabeled pixels, and some there."""
    dataset = clean_run['runner'].train_dataloader.dataset
    ann = osp.join(shapes_root, 'ann_dir', 'train')
    filled = 0
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        gt = np.asarray(Image.open(info['seg_map_path']))
        sample = dataset[i]['data_samples']
        label = sample.gt_sem_seg.data[0].numpy()
        if sample.metainfo.get('flip'):
            label = label[:, ::-1]
        seen = ~np.isin(gt, UNSEEN)
        assert np.array_equal(label[seen], gt[seen])
        assert np.isin(label[~seen], UNSEEN + [255]).all()
        filled += int((label[~seen] != 255).sum())
        assert osp.dirname(info['seg_map_path']) == ann
    assert filled > 0


def test_poisoned_unseen_ground_truth_changes_nothing(clean_run, shapes_root,
                                                      zs3_checkpoint,
                                                      tmp_path):
    """Every unseen GT pixel relabelled: bit-identical pseudo-labels and
    trained weights."""
    data = _copy_data(shapes_root, str(tmp_path / 'poisoned'))
    assert _poison(data) > 0
    poisoned = _train(zs5_config(data, str(tmp_path / 'work'), zs3_checkpoint))
    _assert_same_pass(
        _pass_files(clean_run['hook'].out_dir),
        _pass_files(poisoned['hook'].out_dir))
    assert clean_run['state'].keys() == poisoned['state'].keys()
    for key, value in clean_run['state'].items():
        assert torch.equal(value, poisoned['state'][key]), key


def test_interrupted_pass_resumes_to_the_same_maps(clean_run, shapes_root,
                                                   zs3_checkpoint, tmp_path,
                                                   monkeypatch):
    from mmseg_zs3.engine.hooks import pseudo_label_hook as module
    real = module.pl.encode_png
    calls = []

    def crash_after_three(cand):
        if len(calls) == 3:
            raise KeyboardInterrupt('killed mid-pass')
        calls.append(1)
        return real(cand)

    work = str(tmp_path / 'work')
    monkeypatch.setattr(module.pl, 'encode_png', crash_after_three)
    with pytest.raises(KeyboardInterrupt):
        _train(zs5_config(shapes_root, work, zs3_checkpoint))
    pseudo_dir = osp.join(work, 'pseudo_labels')
    assert pl.read_manifest(pseudo_dir) is None  # nothing complete
    [gen] = [d for d in os.listdir(pseudo_dir) if d.startswith('pass-')]
    written = sorted(
        f for f in os.listdir(osp.join(pseudo_dir, gen)) if f.endswith('.png'))
    assert len(written) == 3
    # a power loss can leave a renamed map empty (maps are synced only
    # before the manifest): such a map is labeled again, the others kept
    with open(osp.join(pseudo_dir, gen, written[0]), 'wb'):
        pass
    inodes = {
        f: os.stat(osp.join(pseudo_dir, gen, f)).st_ino
        for f in written[1:]
    }
    monkeypatch.setattr(module.pl, 'encode_png', real)
    shutil.rmtree(osp.join(work, 'last_checkpoint'), ignore_errors=True)
    _train(zs5_config(shapes_root, work, zs3_checkpoint))
    _assert_same_pass(
        _pass_files(clean_run['hook'].out_dir), _pass_files(pseudo_dir))
    for f, ino in inodes.items():  # kept, not rewritten
        assert os.stat(osp.join(pseudo_dir, gen, f)).st_ino == ino


def test_crash_mid_write_leaves_no_map_the_transform_reads(
        shapes_root, zs3_checkpoint, tmp_path, monkeypatch):
    from mmseg_zs3.engine.hooks import pseudo_label_hook as module
    real_open = module.atomic_open

    class HalfWritten:

        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[:len(data) // 2])
            raise OSError(28, 'No space left on device')

    import contextlib

    @contextlib.contextmanager
    def failing_open(path, mode='wb', **kwargs):
        with real_open(path, mode, **kwargs) as f:
            yield HalfWritten(f) if path.endswith('.png') else f

    work = str(tmp_path / 'work')
    monkeypatch.setattr(module, 'atomic_open', failing_open)
    with pytest.raises(OSError, match='No space left'):
        _train(zs5_config(shapes_root, work, zs3_checkpoint))
    pseudo_dir = osp.join(work, 'pseudo_labels')
    for root, _, files in os.walk(pseudo_dir):
        assert not [f for f in files if f.endswith(('.png', '.tmp'))], files
    with pytest.raises(FileNotFoundError, match='no complete pseudo-label'):
        _transform(pseudo_dir)(
            dict(
                gt_seg_map=np.zeros((64, 64), np.uint8),
                img_path='train_00000.png'))


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_process_ddp_pass_gives_the_maps_of_one_process(
        clean_run, shapes_root, zs3_checkpoint, tmp_path):
    work = str(tmp_path / 'work')
    config = str(tmp_path / 'zs5.py')
    zs5_config(shapes_root, work, zs3_checkpoint).dump(config)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env.pop('CUDA_VISIBLE_DEVICES', None)
    cmd = [
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        f'--master_port={_free_port()}',
        osp.join(REPO, 'tests', 'ddp_train.py'), config, work
    ]
    proc = subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    _assert_same_pass(
        _pass_files(clean_run['hook'].out_dir),
        _pass_files(osp.join(work, 'pseudo_labels')))


def test_hook_without_unseen_classes_is_refused(shapes_root, tmp_path):
    cfg = Config.fromfile(ORACLE_CONFIG)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.experiment_name = unique_experiment_name('zs5')
    set_everywhere(cfg.train_dataloader, 'data_root', shapes_root)
    set_everywhere(cfg.val_dataloader, 'data_root', shapes_root)
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.custom_hooks = [dict(type='PseudoLabelHook', pipeline=[])]
    with pytest.raises(ValueError, match='no split'):
        Runner.from_cfg(cfg).train()
    cfg.custom_hooks = [dict(type='PseudoLabelHook', split=dict(unseen=[]))]
    cfg.experiment_name = unique_experiment_name('zs5')
    with pytest.raises(ValueError) as e:
        Runner.from_cfg(cfg).train()
    assert 'no unseen class' in str(e.value) and "'custom'" in str(e.value)


def test_unwritable_folder_is_refused_before_any_work(shapes_root,
                                                      zs3_checkpoint,
                                                      tmp_path):
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a folder')
    bad = str(blocker / 'pseudo_labels')
    cfg = zs5_config(shapes_root, str(tmp_path / 'work'), zs3_checkpoint, bad)
    with pytest.raises(OSError) as e:
        Runner.from_cfg(cfg).train()
    assert bad in str(e.value) and 'cannot write' in str(e.value)


def test_other_folder_in_pipeline_and_drop_image_data_are_refused(
        shapes_root, zs3_checkpoint, tmp_path):
    cfg = zs5_config(shapes_root, str(tmp_path / 'w1'), zs3_checkpoint)
    cfg.custom_hooks[-1].pseudo_label_dir = str(tmp_path / 'elsewhere')
    with pytest.raises(ValueError) as e:
        Runner.from_cfg(cfg).train()
    assert 'elsewhere' in str(e.value) and 'LoadPseudoLabels' in str(e.value)
    cfg = zs5_config(shapes_root, str(tmp_path / 'w2'), zs3_checkpoint)
    cfg.train_dataloader.dataset.policy = 'drop_image'
    with pytest.raises(ValueError, match="policy='drop_image'"):
        Runner.from_cfg(cfg).train()


# ---------------------------------------------------------------------------
# the online variant
def test_online_hook_labels_the_batch_like_the_pass(clean_run):
    runner = clean_run['runner']
    model = runner.model
    hook = OnlinePseudoLabelHook(percent=25.0)
    hook.before_train(runner)
    from mmengine.dataset import pseudo_collate
    dataset = runner.train_dataloader.dataset
    # the labels as the pipeline gives them, without pseudo-labels
    batch = pseudo_collate([dataset[i] for i in range(4)])
    for s in batch['data_samples']:
        data = s.gt_sem_seg.data.clone()
        data[torch.isin(data, torch.tensor(UNSEEN))] = 255
        s.gt_sem_seg.data = data
    before = [s.gt_sem_seg.data[0].clone() for s in batch['data_samples']]
    n = hook.label_batch(model, batch)
    after = [s.gt_sem_seg.data[0] for s in batch['data_samples']]
    assert n > 0
    changed = 0
    for b, a in zip(before, after):
        assert torch.equal(a[b != 255], b[b != 255])  # seen GT untouched
        assert torch.isin(a[(b == 255) & (a != 255)],
                          torch.tensor(UNSEEN)).all()
        changed += int((a != b).sum())
    assert changed == n
    with pytest.raises(ValueError, match='holds unseen classes'):
        bad = pseudo_collate([dataset[0]])
        bad['data_samples'][0].gt_sem_seg.data[0, 0, 0] = UNSEEN[0]
        hook.label_batch(model, bad)


def test_online_hook_rejects_pixel_batches_and_splits_without_unseen(
        clean_run):
    runner = clean_run['runner']
    hook = OnlinePseudoLabelHook(split=dict(unseen=[]))
    with pytest.raises(ValueError, match='no unseen class'):
        hook.before_train(runner)
    hook = OnlinePseudoLabelHook()
    hook.before_train(runner)
    with pytest.raises(TypeError, match='image batches'):
        hook.label_batch(runner.model,
                         dict(inputs=torch.zeros(4, 64), data_samples=[1]))


# ---------------------------------------------------------------------------
# the shipped ZS5Net configs
ZS5_CONFIGS = sorted(
    glob.glob(osp.join(REPO, 'configs', 'zs3', 'zs5net_*.py')))


def _find(node, key, found):
    if isinstance(node, dict):
        if key in node:
            found.append(node)
        for value in node.values():
            _find(value, key, found)
    elif isinstance(node, list):
        for value in node:
            _find(value, key, found)
    return found


@pytest.mark.parametrize(
    'config', ZS5_CONFIGS, ids=[osp.basename(p) for p in ZS5_CONFIGS])
def test_zs5net_config_is_consistent(config):
    """The hook writes where the pipelines read, one split everywhere, all
    images with unseen pixels unlabeled, pseudo-labels merged before any
    augmentation, and load_from is the ZS3Net leaf of the same protocol."""
    cfg = Config.fromfile(config).to_dict()
    [hook] = [h for h in cfg['custom_hooks'] if h['type'] == 'PseudoLabelHook']
    transforms = [
        t for t in _find(cfg['train_dataloader'], 'type', [])
        if t['type'] == 'LoadPseudoLabels'
    ]
    assert transforms
    split = cfg['model']['decode_head']['split']
    for t in transforms:
        assert t['pseudo_label_dir'] == hook['pseudo_label_dir']
        assert t['split'] == split
    assert cfg['train_dataloader']['dataset']['type'] == 'SeenOnlyDataset'
    assert cfg['train_dataloader']['dataset']['policy'] == 'ignore'
    assert cfg['train_dataloader']['dataset']['split'] == split
    assert cfg['test_evaluator']['split'] == split
    for holder in _find(cfg['train_dataloader'], 'pipeline', []):
        types = [t['type'] for t in holder['pipeline']]
        at = types.index('LoadPseudoLabels')
        assert types.index('LoadAnnotations') < at
        assert not [
            t for t in types[:at] if t.startswith(('Random', 'Resize'))
        ]
    assert 0 < hook['percent'] <= 100
    name = osp.basename(config)[:-3]
    if '_shapes-' in name:  # the demo's layout: work_dirs/demo/<row>
        assert cfg['load_from'] == 'work_dirs/demo/zs3net/epoch_10.pth'
        assert hook['pseudo_label_dir'].startswith('work_dirs/demo/zs5net/')
        return
    zs3 = osp.basename(osp.dirname(cfg['load_from']))
    assert zs3.startswith('zs3net_')
    assert osp.isfile(osp.join(REPO, 'configs', 'zs3', zs3 + '.py'))
    assert zs3.rsplit('_', 1)[1] == name.rsplit('_', 1)[1]  # same protocol
    assert name in hook['pseudo_label_dir']


def test_online_hook_trains_through_the_runner(shapes_root, zs3_checkpoint,
                                               tmp_path):
    """The online variant in a config: no pass, no files; each batch gets
    its pseudo-labels before train_step."""
    cfg = zs5_config(shapes_root, str(tmp_path / 'work'), zs3_checkpoint)
    inner = cfg.train_dataloader.dataset.dataset
    inner.pipeline = [
        t for t in inner.pipeline if t.type != 'LoadPseudoLabels'
    ]
    cfg.custom_hooks[-1] = dict(type='OnlinePseudoLabelHook', percent=50.0)
    runner = Runner.from_cfg(cfg)
    runner.train()
    [hook] = [h for h in runner.hooks if isinstance(h, OnlinePseudoLabelHook)]
    assert hook.kept > 0
    assert not osp.exists(osp.join(str(tmp_path / 'work'), 'pseudo_labels'))


def test_images_sharing_a_file_stem_are_refused(shapes_root, zs3_checkpoint,
                                                tmp_path):
    """Maps are named after the image's stem: two images of one stem (the
    same folder listed twice here) would share a map."""
    cfg = zs5_config(shapes_root, str(tmp_path / 'work'), zs3_checkpoint)
    inner = cfg.train_dataloader.dataset.dataset.to_dict()
    cfg.custom_hooks[-1].dataset = dict(
        type='ConcatDataset', datasets=[inner, inner])
    with pytest.raises(ValueError) as e:
        Runner.from_cfg(cfg).train()
    assert 'same file stem' in str(e.value) and 'train_' in str(e.value)


def test_resumed_run_continues_from_its_work_dir_with_its_pass(
        shapes_root, zs3_checkpoint, tmp_path):
    """--resume continues from the run's own checkpoint (not load_from, the
    ZS3Net network) and reuses the folder's pass; no second pass."""
    work = str(tmp_path / 'work')
    first = _train(zs5_config(shapes_root, work, zs3_checkpoint))
    manifest = pl.read_manifest(first['hook'].out_dir)
    cfg = zs5_config(shapes_root, work, zs3_checkpoint)
    cfg.train_cfg.max_epochs = 2
    cfg.param_scheduler[0].end = 2
    cfg.resume = True
    second = _train(cfg)
    assert second['runner'].epoch == 2
    assert second['hook'].last_pass is None  # no pass ran
    assert pl.read_manifest(second['hook'].out_dir) == manifest
