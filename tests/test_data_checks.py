"""Data, model and checkpoint that disagree: each case a named error (or, to
fine-tune, a warning), before any work, on the tiny shapes data.

Label maps: a value that is no class, another size than the image, three
channels (``CheckSegMap``, also inserted by ``SeenOnlyDataset``), and
``reduce_zero_label=True`` on labels whose 0 is background. Model vs data:
another class count or class list (``ClassListCheckHook``,
``CheckpointClassCountHook``). Checkpoints: the wrong kind (stage 1 for stage
2 and the reverse, no backbone, none at all; ``CheckpointKindHook``), another
class count for the wrapper heads, fine-tuning. Training: the peers' ignore
policy with class weights, and a NaN loss (``CheckInvalidLossHook``).
"""
import glob
import hashlib
import os
import os.path as osp
import shutil
import subprocess
import sys

import mmseg
import numpy as np
import pytest
import torch
from conftest import REPO, tiny_config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from PIL import Image

from mmseg_zs3.datasets import SeenOnlyDataset, ZS3ShapesDataset
from mmseg_zs3.datasets.transforms import CheckSegMap
from mmseg_zs3.datasets.zs3_shapes import SHAPES_CLASSES
from mmseg_zs3.embeddings import build_class_embeddings, load_packaged_glove

SEEN_ONLY_CONFIG = osp.join(
    REPO, 'configs/zs3/seen-only_unet-s2-fcn_1xb16-1800it_shapes-u4-64x64.py')
STAGE2_CONFIG = osp.join(REPO, 'configs', 'zs3',
                         'zs3net_unet-s2-fcn_1xb16-10e_shapes-u4-64x64.py')


@pytest.fixture(scope='module', autouse=True)
def fast_runs():
    """One torch thread and no yapf formatting of configs (as in
    test_zs3_stage2.py): these runs are a few iterations at most."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    init_default_scope('mmseg')
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr('mmengine.config.config.FormatCode', lambda text, **kwargs:
                   (text, False))
        yield
    torch.set_num_threads(threads)


@pytest.fixture
def data(shapes_root, tmp_path):
    """A private copy of the tiny shapes data (without its cache)."""
    root = str(tmp_path / 'shapes')
    shutil.copytree(
        shapes_root, root, ignore=shutil.ignore_patterns('.zs3_cache'))
    return root


@pytest.fixture(scope='module')
def embedding_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('emb') / 'emb.npz')
    build_class_embeddings(
        'ZS3ShapesDataset', load_packaged_glove(), normalize='l2').save(path)
    return path


def _ann(root, split='train', n=0):
    return sorted(glob.glob(osp.join(root, 'ann_dir', split, '*.png')))[n]


def _edit_label(path, fn):
    seg = np.asarray(Image.open(path)).copy()
    Image.fromarray(fn(seg)).save(path)


def _digest(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _cfg(root, tmp_path, config=None, **kwargs):
    kwargs.setdefault('max_iters', 2)
    if config is not None:
        kwargs['config'] = config
    cfg = tiny_config(root, str(tmp_path / 'work'), **kwargs)
    cfg.log_level = 'ERROR'
    dataset = cfg.train_dataloader.dataset
    if dataset.type == 'SeenOnlyDataset':  # the root is the inner one's
        dataset.dataset.data_root = dataset.pop('data_root')
    return cfg


def _stage2_cfg(root, tmp_path, embedding_file, load_from, val=True):
    cfg = _cfg(root, tmp_path, STAGE2_CONFIG, val=val)
    cfg.model.class_embedding.embedding_file = embedding_file
    cfg.model.generative_head.num_samples = 16
    cfg.train_cfg = dict(
        type=cfg.train_cfg.type,
        max_epochs=2,
        val_interval=2,
        max_per_class=500)
    cfg.param_scheduler = [
        dict(
            type='PolyLR', eta_min=0, power=0.9, begin=0, end=3, by_epoch=True)
    ]
    cfg.train_dataloader.sampler = dict(type='DefaultSampler', shuffle=True)
    cfg.train_dataloader.dataset.dataset.indices = 8
    cfg.load_from = load_from
    return cfg


def _build_dataset(cfg, key='train_dataloader'):
    from mmseg.registry import DATASETS
    return DATASETS.build(cfg[key].dataset)


def _save_state(model, path, classes=None):
    meta = dict(dataset_meta=dict(classes=classes)) if classes else dict()
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    return path


# ---------------------------------------------------------------------------
# label maps
def test_label_value_above_class_count_in_training(data, tmp_path):
    path = _ann(data)

    def put_40(seg):
        seg[:4, :4] = 40
        return seg

    _edit_label(path, put_40)
    before = _digest(path)
    cfg = _cfg(data, tmp_path)
    cfg.train_dataloader.sampler = dict(type='DefaultSampler', shuffle=False)
    cfg.train_cfg = dict(
        type='IterBasedTrainLoop', max_iters=2, val_interval=10)
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError) as e:
        runner.train()  # mmseg: torch's `Target 40 is out of bounds`
    message = str(e.value)
    assert path in message and 'value(s) 40' in message
    assert '17 classes' in message and '16 pixels' in message
    assert _digest(path) == before  # nothing written to the data
    assert not glob.glob(str(tmp_path / 'work' / '*.pth'))


def test_label_value_above_class_count_in_validation(data, tmp_path,
                                                     trained_checkpoint):
    """mmseg scored a perfect prediction aAcc 100 but mIoU 75: the pixels of
    value 40 were left out of the metric without a word."""
    path = _ann(data, 'val', 3)
    _edit_label(path, lambda seg: np.where(seg > 0, 40, seg).astype(np.uint8))
    cfg = _cfg(data, tmp_path, val=True)
    cfg.load_from = trained_checkpoint
    with pytest.raises(ValueError, match='value\\(s\\) 40') as e:
        Runner.from_cfg(cfg).test()
    assert path in str(e.value)


def test_seen_only_dataset_checks_labels_up_front(data, tmp_path):
    """ZS3Net's seen-only data (drop_image) scans every label once: a bad
    value is refused before training starts."""
    path = _ann(data, 'train', 5)
    _edit_label(path, lambda seg: np.where(seg == 0, 17, seg).astype(np.uint8))
    cfg = _cfg(data, tmp_path, SEEN_ONLY_CONFIG)
    with pytest.raises(ValueError) as e:
        _build_dataset(cfg)
    assert path in str(e.value) and 'value(s) [17]' in str(e.value)
    assert '17 classes' in str(e.value)


def test_seen_only_dataset_inserts_the_check(data, tmp_path):
    """The peers' policy (no scan) gets the check from the dataset's class
    count even when its pipeline lacks it (as the Pascal stage-2 ones)."""
    path = _ann(data, 'train', 5)
    _edit_label(path, lambda seg: np.where(seg == 0, 17, seg).astype(np.uint8))
    cfg = _cfg(data, tmp_path, SEEN_ONLY_CONFIG)
    cfg.train_dataloader.dataset.policy = 'ignore'
    inner = cfg.train_dataloader.dataset.dataset
    inner.pipeline = [t for t in inner.pipeline if t.type != 'CheckSegMap']
    dataset = _build_dataset(cfg)
    names = [type(t).__name__ for t in dataset.dataset.pipeline.transforms]
    assert names[:4] == [
        'LoadImageFromFile', 'LoadAnnotations', 'CheckSegMap',
        'MapUnseenToIgnore'
    ]
    index = [
        i for i in range(len(dataset))
        if dataset.get_data_info(i)['seg_map_path'] == path
    ]
    with pytest.raises(RuntimeError) as e:
        dataset[index[0]]
    assert path in str(e.value) and 'value(s) 17' in str(e.value)


def test_ignore_index_stays_legal(data, tmp_path):
    path = _ann(data)
    _edit_label(path,
                lambda seg: np.where(seg == 0, 255, seg).astype(np.uint8))
    dataset = _build_dataset(_cfg(data, tmp_path))
    index = [
        i for i in range(len(dataset))
        if dataset.get_data_info(i)['seg_map_path'] == path
    ][0]
    label = dataset[index]['data_samples'].gt_sem_seg.data
    assert (label == 255).any()


@pytest.mark.parametrize('split', ['train', 'val'])
def test_label_map_of_another_size(data, tmp_path, split):
    """mmseg padded the labels into a corner in training, and crashed at
    validation."""
    path = _ann(data, split, 2)
    Image.open(path).resize((48, 40), Image.NEAREST).save(path)
    key = 'train_dataloader' if split == 'train' else 'val_dataloader'
    dataset = _build_dataset(_cfg(data, tmp_path, val=True), key)
    index = [
        i for i in range(len(dataset))
        if dataset.get_data_info(i)['seg_map_path'] == path
    ][0]
    with pytest.raises(ValueError) as e:
        dataset[index]
    assert path in str(e.value)
    assert '48x40' in str(e.value) and '64x64' in str(e.value)


def test_label_map_size_is_checked_against_the_original_image():
    """mmseg's test pipelines resize the image before LoadAnnotations."""
    check = CheckSegMap(num_classes=17)
    seg = np.zeros((64, 80), np.uint8)
    results = dict(
        gt_seg_map=seg,
        seg_map_path='a.png',
        img_path='a.jpg',
        ori_shape=(64, 80),
        img_shape=(32, 40))
    assert check(results) is results
    with pytest.raises(ValueError, match="'a.png' is 80x64.*'a.jpg' is 40x32"):
        check(dict(results, ori_shape=(32, 40)))
    with pytest.raises(KeyError, match='after LoadImageFromFile'):
        check(dict(gt_seg_map=seg, seg_map_path='a.png'))
    with pytest.raises(KeyError, match='directly after LoadAnnotations'):
        check(dict(seg_map_path='a.png', ori_shape=(64, 80)))
    # inference (mmseg's APIs drop LoadAnnotations): nothing to check
    image_only = dict(img_path='a.jpg', ori_shape=(64, 80))
    assert check(image_only) is image_only
    with pytest.raises(ValueError, match='num_classes=0'):
        CheckSegMap(num_classes=0)


@pytest.mark.parametrize('identical', [True, False])
def test_three_channel_label_map(data, tmp_path, identical):
    """mmseg: a stack error about the dimensions of the targets."""
    path = _ann(data)
    seg = np.asarray(Image.open(path))
    rgb = np.stack([seg, seg, seg if identical else seg // 2], axis=-1)
    Image.fromarray(rgb.astype(np.uint8)).save(path)
    dataset = _build_dataset(_cfg(data, tmp_path))
    index = [
        i for i in range(len(dataset))
        if dataset.get_data_info(i)['seg_map_path'] == path
    ][0]
    with pytest.raises(ValueError) as e:
        dataset[index]
    assert path in str(e.value) and '(64, 64, 3)' in str(e.value)
    assert ('identical' in str(e.value)) == identical


def test_16_bit_label_values_above_255_are_refused(data, tmp_path):
    """LoadAnnotations reads labels as 8-bit: 272 would become 16 (a real
    class) without a word. The seen-only scan reads the raw values."""
    path = _ann(data)
    seg = np.asarray(Image.open(path)).astype(np.uint16)
    seg[:3, :3] = 272
    Image.fromarray(seg).save(path)
    with pytest.raises(ValueError) as e:
        _build_dataset(_cfg(data, tmp_path, SEEN_ONLY_CONFIG))
    assert path in str(e.value) and 'value 272' in str(e.value)
    assert 'wrap it to 16' in str(e.value)


def test_all_ignore_ground_truth_says_why(data, tmp_path, trained_checkpoint):
    """mmseg: every metric NaN, with no word why."""
    for path in glob.glob(osp.join(data, 'ann_dir', 'val', '*.png')):
        _edit_label(path, lambda seg: np.full_like(seg, 255))
    cfg = _cfg(data, tmp_path, val=True)
    cfg.load_from = trained_checkpoint
    with pytest.raises(
            ValueError,
            match='no pixel to score.*all 8 '
            'evaluated images is ignore_index=255'):
        Runner.from_cfg(cfg).test()


def test_reduce_zero_label_on_shapes_is_refused(data):
    with pytest.raises(ValueError, match='reduce_zero_label=False'):
        ZS3ShapesDataset(
            data_root=data,
            data_prefix=dict(
                img_path='img_dir/train', seg_map_path='ann_dir/train'),
            reduce_zero_label=True)


def _plain_dataset(root, classes, reduce_zero_label):
    return dict(
        type='BaseSegDataset',
        data_root=root,
        metainfo=dict(classes=classes),
        img_suffix='.png',
        seg_map_suffix='.png',
        reduce_zero_label=reduce_zero_label,
        data_prefix=dict(
            img_path='img_dir/train', seg_map_path='ann_dir/train'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
            dict(type='PackSegInputs')
        ])


def test_reduce_zero_label_on_background_labels_is_refused(data):
    """The shift hid 'red circle' (1 -> 0) etc. from the unseen scan: 10 of
    24 kept images had unseen pixels."""
    split = dict(unseen=['green square', 'yellow cross'])
    with pytest.raises(ValueError) as e:
        SeenOnlyDataset(_plain_dataset(data, SHAPES_CLASSES, True), split)
    message = str(e.value)
    assert 'reduce_zero_label=False' in message
    assert "'background'" in message and 'value 17' in message
    # the same with the peers' policy (no unseen scan needed otherwise)
    with pytest.raises(ValueError, match='reduce_zero_label=False'):
        SeenOnlyDataset(
            _plain_dataset(data, SHAPES_CLASSES, True), split, policy='ignore')
    # Legitimate uses stay accepted: 0 = unlabelled with no class named
    # background (ADE20K, Context-59), and a background class whose files
    # use the value N for the last class (LoveDA: 0 = no data).
    no_background = SeenOnlyDataset(
        _plain_dataset(data, SHAPES_CLASSES[1:], True), split)
    assert len(no_background) > 0
    _edit_label(
        _ann(data, 'train', 1),
        lambda seg: np.where(seg == 0, 17, seg).astype(np.uint8))
    loveda_like = SeenOnlyDataset(
        _plain_dataset(data, ('background', ) + SHAPES_CLASSES[1:], True),
        split)
    assert len(loveda_like) > 0


# ---------------------------------------------------------------------------
# model vs dataset classes
def _with_num_classes(cfg, n):
    cfg.model.decode_head.num_classes = n
    cfg.model.decode_head.loss_decode.class_weight = [1.0] * n
    return cfg


def test_model_for_another_class_count_is_refused(data, tmp_path):
    """mmseg: predictions of ids 17-20 dropped from the metric, exit 0."""
    cfg = _with_num_classes(_cfg(data, tmp_path, val=True), 21)
    with pytest.raises(ValueError) as e:
        Runner.from_cfg(cfg).test()
    assert 'predicts 21 classes' in str(e.value)
    assert 'has 17' in str(e.value) and 'ZS3ShapesDataset' in str(e.value)
    # in training, before the first iteration (val data checked too)
    cfg = _with_num_classes(_cfg(data, tmp_path, val=True), 21)
    with pytest.raises(ValueError, match='predicts 21 classes'):
        Runner.from_cfg(cfg).train()
    assert not glob.glob(str(tmp_path / 'work' / '*.pth'))


def test_checkpoint_trained_on_another_class_list_is_refused(
        data, tmp_path, trained_checkpoint):
    """Same count, other order (as Context 59 vs 60: labels off by one)."""
    classes = list(SHAPES_CLASSES)
    classes[1], classes[2] = classes[2], classes[1]
    cfg = _cfg(data, tmp_path, val=True)
    cfg.test_dataloader.dataset.metainfo = dict(classes=classes)
    cfg.load_from = trained_checkpoint
    with pytest.raises(ValueError) as e:
        Runner.from_cfg(cfg).test()
    message = str(e.value)
    assert trained_checkpoint in message
    assert "class 1 is 'red circle' there and 'red square' here" in message


def test_check_seg_map_of_another_class_count_is_refused(data, tmp_path):
    cfg = _cfg(data, tmp_path, val=True)
    cfg.test_dataloader.dataset.pipeline[2].num_classes = 21
    with pytest.raises(ValueError, match='num_classes=21.*17 classes'):
        Runner.from_cfg(cfg).test()


def test_wrapper_head_names_its_classes(data, tmp_path, embedding_file,
                                        trained_checkpoint):
    cfg = _stage2_cfg(data, tmp_path, embedding_file, trained_checkpoint)
    classes = list(SHAPES_CLASSES)
    classes[3], classes[4] = classes[4], classes[3]
    cfg.test_dataloader.dataset.metainfo = dict(classes=classes)
    cfg.load_from = None
    with pytest.raises(
            ValueError, match="class 3 is 'red triangle' in the model"):
        Runner.from_cfg(cfg).test()


# ---------------------------------------------------------------------------
# checkpoints of the wrong kind
def test_stage1_checkpoint_on_stage2_config(data, tmp_path, embedding_file,
                                            trained_checkpoint):
    """mmseg: chance-level numbers and a 'missing keys' warning."""
    cfg = _stage2_cfg(data, tmp_path, embedding_file, trained_checkpoint)
    with pytest.raises(ValueError) as e:
        Runner.from_cfg(cfg).test()
    message = str(e.value)
    assert trained_checkpoint in message
    assert 'a stage-1 network' in message and 'testing' in message
    assert 'decode_head.classifier (2 tensors)' in message


def _stage2_checkpoint(data, tmp_path, embedding_file, trained_checkpoint):
    """A stage-2 model's weights, saved as mmengine does (not trained)."""
    from mmseg.registry import MODELS
    cfg = _stage2_cfg(data, tmp_path, embedding_file, trained_checkpoint)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return _save_state(
        model, str(tmp_path / 'stage2.pth'), classes=SHAPES_CLASSES)


def test_stage2_checkpoint_on_stage1_config(data, tmp_path, embedding_file,
                                            trained_checkpoint):
    path = _stage2_checkpoint(data, tmp_path, embedding_file,
                              trained_checkpoint)
    cfg = _cfg(data, tmp_path, SEEN_ONLY_CONFIG, val=True)
    cfg.load_from = path
    with pytest.raises(ValueError) as e:
        Runner.from_cfg(cfg).test()
    message = str(e.value)
    assert 'a ZS3Net stage-2 checkpoint' in message
    assert 'decode_head (' in message and 'decode_head.conv' in message


def test_stage2_training_needs_a_stage1_checkpoint(data, tmp_path,
                                                   embedding_file,
                                                   trained_checkpoint):
    """mmseg: trained on a random frozen network without a word."""
    cfg = _stage2_cfg(data, tmp_path, embedding_file, None, val=False)
    with pytest.raises(ValueError, match='`load_from` is not set'):
        Runner.from_cfg(cfg).train()
    # a file without the backbone (e.g. the decode head only)
    state = torch.load(trained_checkpoint)['state_dict']
    headless = str(tmp_path / 'no_backbone.pth')
    torch.save(
        dict(
            state_dict={
                k: v
                for k, v in state.items() if not k.startswith('backbone.')
            },
            meta=dict()), headless)
    cfg = _stage2_cfg(data, tmp_path, embedding_file, headless, val=False)
    with pytest.raises(ValueError) as e:
        Runner.from_cfg(cfg).train()
    assert 'a decode-head checkpoint without a backbone' in str(e.value)
    assert 'backbone (' in str(e.value)
    assert 'frozen feature extractor' in str(e.value)
    assert not glob.glob(str(tmp_path / 'work' / '*.pth'))


def _wrapper_head_cfg(cfg, classes):
    """The plain model of ``cfg`` with a ZeroShotDecodeHead for
    ``classes``."""
    head = cfg.model.decode_head.to_dict()
    head.update(
        num_classes=len(classes),
        loss_decode=dict(type='IgnoreAwareCrossEntropyLoss'))
    cfg.model.decode_head = dict(
        type='ZeroShotDecodeHead',
        head=head,
        classifier=dict(type='ConvClassifier'),
        split=dict(unseen=[classes[-1]]),
        classes=list(classes))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key):
            cfg[key].dataset.metainfo = dict(classes=list(classes))
    for key in ('val_evaluator', 'test_evaluator'):
        if cfg.get(key):
            cfg[key] = dict(
                type='ZeroShotIoUMetric', split=dict(unseen=[classes[-1]]))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader):
            for t in cfg[loader].dataset.pipeline:
                if t.type == 'CheckSegMap':
                    t.num_classes = len(classes)
    return cfg


def test_wrapper_head_checkpoint_of_another_class_count(data, tmp_path):
    """The guard looked only at keys ending in `conv_seg.weight`: a 7-class
    ZeroShotDecodeHead checkpoint loaded into a 5-class one with mmengine's
    size-mismatch warning and a random classifier."""
    from mmseg.registry import MODELS
    seven = _wrapper_head_cfg(
        _cfg(data, tmp_path, val=True), SHAPES_CLASSES[:7])
    path = _save_state(
        MODELS.build(seven.model),
        str(tmp_path / 'c7.pth'),
        classes=SHAPES_CLASSES[:7])
    five = _wrapper_head_cfg(
        _cfg(data, tmp_path, val=True), SHAPES_CLASSES[:5])
    five.load_from = path
    with pytest.raises(ValueError) as e:
        Runner.from_cfg(five).test()
    message = str(e.value)
    assert path in message and '7 classes' in message
    assert '5 classes' in message
    assert 'decode_head.classifier.conv.weight' in message
    # also through mmseg's own, unmodified tools/test.py
    config = str(tmp_path / 'five.py')
    five.dump(config)
    tool = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'test.py')
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    proc = subprocess.run([
        sys.executable, tool, config, path, '--work-dir',
        str(tmp_path / 'mim')
    ],
                          capture_output=True,
                          text=True,
                          env=env,
                          cwd=str(tmp_path),
                          timeout=300)
    assert proc.returncode != 0
    assert 'ValueError' in proc.stderr and '7 classes' in proc.stderr


# ---------------------------------------------------------------------------
# fine-tuning from another class count
def _classes5(cfg):
    classes = list(SHAPES_CLASSES[:5])
    cfg.train_dataloader.dataset.metainfo = dict(classes=classes)
    cfg.train_dataloader.dataset.pipeline[2].num_classes = 5
    return _with_num_classes(cfg, 5)


class _Capture:
    """A hook that keeps a copy of the weights when training starts."""

    def __init__(self):
        from mmengine.hooks import Hook

        class Capture(Hook):
            priority = 'LOWEST'

            def before_train(hook, runner):
                self.state = {
                    k: v.clone()
                    for k, v in runner.model.state_dict().items()
                }

        self.hook = Capture()


def test_fine_tuning_from_another_class_count(data, tmp_path,
                                              trained_checkpoint):
    """Refused before (with advice to change num_classes); now loaded with
    the classifier re-initialised, and a warning that says so."""
    cfg = _classes5(_cfg(data, tmp_path))
    cfg.log_level = 'WARNING'
    cfg.load_from = trained_checkpoint
    runner = Runner.from_cfg(cfg)
    capture = _Capture()
    runner.register_hook(capture.hook)
    runner.train()
    saved = torch.load(trained_checkpoint)['state_dict']
    for key, value in saved.items():
        if key.startswith('backbone.') and value.dtype.is_floating_point:
            assert torch.equal(capture.state[key], value), key
    classifier = capture.state['decode_head.conv_seg.weight']
    assert classifier.shape[0] == 5
    log = open(glob.glob(osp.join(runner.log_dir, '*.log'))[0]).read()
    assert 'trained for 17 classes' in log
    assert 'loaded without its classifier' in log
    assert 'decode_head.conv_seg.weight' in log

    # --resume with it, and tests, keep refusing
    cfg = _classes5(_cfg(data, tmp_path))
    cfg.load_from = trained_checkpoint
    cfg.resume = True
    with pytest.raises(ValueError, match='--resume continues a run'):
        Runner.from_cfg(cfg).train()


def test_fine_tuning_from_a_foreign_checkpoint_is_refused(data, tmp_path):
    """A file that matches no weight of the model (e.g. a torchvision
    classifier): mmseg listed every key as missing and trained from
    scratch."""
    path = str(tmp_path / 'foreign.pth')
    torch.save({
        'conv1.weight': torch.zeros(3),
        'fc.weight': torch.zeros(2)
    }, path)
    cfg = _cfg(data, tmp_path)
    cfg.load_from = path
    with pytest.raises(ValueError) as e:
        Runner.from_cfg(cfg).train()
    assert path in str(e.value) and 'conv1, fc' in str(e.value)
    assert 'none of its weights belongs to this model' in str(e.value)
    # an empty one, for testing
    torch.save(dict(state_dict={}, meta={}), path)
    cfg = _cfg(data, tmp_path, val=True)
    cfg.load_from = path
    with pytest.raises(ValueError, match='an empty checkpoint.*backbone'):
        Runner.from_cfg(cfg).test()


def test_stage2_refuses_a_stage1_of_other_classes(data, tmp_path,
                                                  embedding_file,
                                                  trained_checkpoint):
    """Fine-tuning does not apply to stage 2: its network stays frozen."""
    checkpoint = torch.load(trained_checkpoint)
    checkpoint['meta']['dataset_meta'] = dict(
        classes=list(reversed(SHAPES_CLASSES)))
    path = str(tmp_path / 'reversed.pth')
    torch.save(checkpoint, path)
    cfg = _stage2_cfg(data, tmp_path, embedding_file, path, val=False)
    with pytest.raises(ValueError, match="stage 2 keeps the stage-1 network"):
        Runner.from_cfg(cfg).train()


# ---------------------------------------------------------------------------
# training
def test_ignore_policy_with_class_weights_trains(data, tmp_path):
    """mmseg 1.2.2: `IndexError: index 255` in its cross-entropy."""
    cfg = _cfg(data, tmp_path, SEEN_ONLY_CONFIG)
    cfg.train_dataloader.dataset.policy = 'ignore'
    assert cfg.model.decode_head.loss_decode.class_weight[0] == 0.2
    runner = Runner.from_cfg(cfg)
    runner.train()
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 2 and np.isfinite(losses).all()


def test_nan_loss_stops_training_at_its_iteration(data, tmp_path):
    """mmseg: `loss: nan` at every iteration, checkpoints of NaN weights,
    exit 0."""
    cfg = _cfg(data, tmp_path, max_iters=3, checkpoint_interval=1)
    cfg.model.decode_head.loss_decode.class_weight = [float('nan')] * 17
    with pytest.raises(FloatingPointError) as e:
        Runner.from_cfg(cfg).train()
    message = str(e.value)
    assert 'iteration 1 ' in message and 'loss=nan' in message
    assert 'decode.loss_ce=nan' in message
    assert not glob.glob(str(tmp_path / 'work' / '*.pth'))


def test_check_invalid_loss_hook_interval():
    from mmseg_zs3.engine.hooks import CheckInvalidLossHook
    with pytest.raises(ValueError, match='interval=0'):
        CheckInvalidLossHook(interval=0)


def test_projection_classifier_width_is_not_a_class_count():
    """A DeViSE checkpoint's ``classifier.conv`` maps to the 50-d embedding
    space: its 50 outputs are not 50 classes (stage 2 from it is legal);
    a conv classifier's outputs are."""
    from mmseg_zs3.utils.checkpoint_checks import find_num_classes_mismatches
    expected = {'decode_head.classifier.conv.weight': 17}
    devise = {
        'decode_head.classifier.conv.weight': torch.zeros(50, 8, 1, 1),
        'decode_head.classifier.class_embedding.embeddings':
        torch.zeros(17, 50)
    }
    assert find_num_classes_mismatches(devise, expected) == []
    conv = {'decode_head.classifier.conv.weight': torch.zeros(50, 8, 1, 1)}
    assert find_num_classes_mismatches(conv, expected) == [
        ('decode_head.classifier.conv.weight', 50, 17)
    ]
