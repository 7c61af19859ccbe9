"""Self-contained checkpoints: with the class-embedding file deleted after
training, ``tools/test.py``, mmseg's ``init_model`` + ``inference_model`` and
``MMSegInferencer`` predict as before; a trained model survives
``torch.save``/``torch.load`` and ``copy.deepcopy``; training without the file
is refused naming it.

One tiny stage 2 (the shipped shapes config, one epoch on 4 images, through
mmengine's Runner) starts from a stage 1 that already used
``ZeroShotDecodeHead``, so its log also shows the classifier
re-initialisation and the optimizer's one summary line. The DeViSE model
(whose classifier scores classes by their embeddings) shows that the
checkpoint's embeddings are the ones used.
"""
import copy
import glob
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import REPO, use_embedding_file
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from PIL import Image

from mmseg_zs3.apis import MMSegInferencer, inference_model, init_model
from mmseg_zs3.datasets.zs3_shapes import ZS3ShapesDataset
from mmseg_zs3.embeddings import ClassEmbeddings
from mmseg_zs3.utils.extra_state import decode_extra_state, encode_extra_state

SHAPES = osp.join(REPO, 'configs/zs3')
STAGE1_CONFIG = osp.join(
    SHAPES, 'seen-only_unet-s2-fcn_1xb16-1800it_shapes-u4-64x64.py')
STAGE2_CONFIG = osp.join(SHAPES,
                         'zs3net_unet-s2-fcn_1xb16-10e_shapes-u4-64x64.py')
DEVISE_CONFIG = osp.join(SHAPES,
                         'devise_unet-s2-fcn_1xb16-1800it_shapes-u4-64x64.py')
CLASSES = list(ZS3ShapesDataset.METAINFO['classes'])
PALETTE = [list(p) for p in ZS3ShapesDataset.METAINFO['palette']]


def _models():
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    return MODELS


def _write_embeddings(path: str, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(len(CLASSES),
                                                       50)).astype(np.float32)
    ClassEmbeddings(CLASSES, vectors, dict(sources=['test'])).save(path)
    return vectors


def _set_data_root(cfg: Config, data_root: str) -> None:
    for key in ('train_dataloader', 'test_dataloader'):
        loader = cfg[key]
        loader.num_workers = 0
        loader.persistent_workers = False
        dataset = loader.dataset
        while 'dataset' in dataset:  # SeenOnlyDataset wraps the dataset
            dataset = dataset.dataset
        dataset.data_root = data_root
    cfg.test_dataloader.batch_size = 2
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None


def _stage1_devise(root: str, data_root: str, emb: str):
    """An initialised DeViSE model (stage 1 with ZeroShotDecodeHead): its
    config (``dim`` set, so it builds without the file) and checkpoint."""
    cfg = Config.fromfile(DEVISE_CONFIG)
    class_embedding = cfg.model.decode_head.classifier.class_embedding
    class_embedding.embedding_file = emb
    class_embedding.dim = 50
    _set_data_root(cfg, data_root)
    torch.manual_seed(0)
    model = _models().build(cfg.model)
    model.init_weights()
    path = osp.join(root, 'devise.pth')
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dict(classes=CLASSES, palette=PALETTE))),
        path)
    config = osp.join(root, 'devise.py')
    cfg.dump(config)
    return config, path


def _stage1_wrapper(root: str, emb: str) -> str:
    """An initialised seen-only network whose head is already a
    ``ZeroShotDecodeHead`` (with a ``ConvClassifier``), as a checkpoint."""
    cfg = Config.fromfile(STAGE1_CONFIG)
    use_embedding_file(cfg.model, emb)  # its embedding auxiliary head
    cfg.model.decode_head = dict(
        type='ZeroShotDecodeHead', head=cfg.model.decode_head)
    torch.manual_seed(0)
    model = _models().build(cfg.model)
    model.init_weights()
    path = osp.join(root, 'stage1.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


def _predict(config: str, checkpoint: str, images: list) -> list:
    model = init_model(config, checkpoint, device='cpu')
    return [
        r.pred_sem_seg.data[0].numpy() for r in inference_model(model, images)
    ]


@pytest.fixture(scope='module')
def trained(shapes_root, tmp_path_factory):
    """Train, predict with the embedding file, then delete the file."""
    root = str(tmp_path_factory.mktemp('self_contained'))
    emb = osp.join(root, 'emb.npz')
    vectors = _write_embeddings(emb, seed=0)
    devise_config, devise_ckpt = _stage1_devise(root, shapes_root, emb)

    cfg = Config.fromfile(STAGE2_CONFIG)
    cfg.work_dir = osp.join(root, 'work_dir')
    cfg.log_level = 'INFO'
    cfg.load_from = _stage1_wrapper(root, emb)
    cfg.model.class_embedding.embedding_file = emb
    cfg.model.generative_head.num_samples = 16
    _set_data_root(cfg, shapes_root)
    cfg.train_dataloader.batch_size = 4
    cfg.train_dataloader.dataset.dataset.indices = 4
    cfg.train_cfg = dict(
        type='EpochBasedTrainLoop', max_epochs=1, val_interval=1)
    for scheduler in cfg.param_scheduler:
        scheduler.end = 2
    cfg.default_hooks.checkpoint.interval = 1
    cfg.default_hooks.logger.interval = 1
    cfg.randomness = dict(seed=0, deterministic=False)
    config = osp.join(root, 'zs3net.py')
    cfg.dump(config)
    runner = Runner.from_cfg(Config.fromfile(config))
    runner.train()
    ckpt = osp.join(cfg.work_dir, 'epoch_1.pth')
    log_file, = glob.glob(osp.join(cfg.work_dir, '*', '*.log'))

    images = sorted(glob.glob(osp.join(shapes_root, 'img_dir/val/*.png')))
    before = _predict(config, ckpt, images)
    devise_before = _predict(devise_config, devise_ckpt, images)
    os.remove(emb)
    return dict(
        root=root,
        emb=emb,
        vectors=vectors,
        config=config,
        ckpt=ckpt,
        images=images,
        before=before,
        log=log_file,
        devise_config=devise_config,
        devise_ckpt=devise_ckpt,
        devise_before=devise_before)


def _assert_same(preds: list, expected: list) -> None:
    assert len(preds) == len(expected)
    for pred, want in zip(preds, expected):
        np.testing.assert_array_equal(pred, want)


def test_checkpoint_holds_embeddings_names_and_reinit_record(trained):
    ckpt = torch.load(trained['ckpt'], map_location='cpu', weights_only=True)
    state = ckpt['state_dict']
    np.testing.assert_array_equal(state['class_embedding.embeddings'].numpy(),
                                  trained['vectors'])
    extra = decode_extra_state(state['class_embedding._extra_state'])
    assert extra['class_names'] == CLASSES
    assert extra['meta']['sources'] == ['test']
    assert decode_extra_state(
        state['decode_head._extra_state']) == dict(reinit_classifier=True)
    assert list(ckpt['meta']['dataset_meta']['classes']) == CLASSES


def test_init_model_and_inference_model_without_the_file(trained):
    assert not osp.exists(trained['emb'])
    model = init_model(trained['config'], trained['ckpt'], device='cpu')
    assert model.class_embedding.source == 'checkpoint'
    np.testing.assert_array_equal(model.class_embedding().numpy(),
                                  trained['vectors'])
    assert list(model.dataset_meta['classes']) == CLASSES
    preds = [
        r.pred_sem_seg.data[0].numpy()
        for r in inference_model(model, trained['images'])
    ]
    _assert_same(preds, trained['before'])


def test_mmseg_inferencer_without_the_file(trained):
    inferencer = MMSegInferencer(
        trained['config'], trained['ckpt'], device='cpu')
    out = inferencer(trained['images'], return_datasamples=True)
    _assert_same([r.pred_sem_seg.data[0].numpy() for r in out],
                 trained['before'])


def test_tools_test_without_the_file(trained, tmp_path):
    out = str(tmp_path / 'preds')
    proc = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools/test.py'), trained['config'], trained['ckpt'],
        '--out', out, '--work-dir',
        str(tmp_path / 'w')
    ],
                          cwd=str(tmp_path),
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    preds = [
        np.asarray(Image.open(osp.join(out, osp.basename(p))))
        for p in trained['images']
    ]
    _assert_same(preds, trained['before'])


def test_projection_classifier_uses_the_checkpoints_embeddings(trained):
    # DeViSE scores classes by their embeddings: deleting the file changes
    # nothing, and another file at its path is overridden by the checkpoint
    # (the weights were trained with its embeddings), with a warning.
    images = trained['images']
    _assert_same(
        _predict(trained['devise_config'], trained['devise_ckpt'], images),
        trained['devise_before'])
    _write_embeddings(trained['emb'], seed=1)
    try:
        from mmengine.logging import MMLogger
        messages = []
        handler = _ListHandler(messages)
        MMLogger.get_current_instance().addHandler(handler)
        try:
            preds = _predict(trained['devise_config'], trained['devise_ckpt'],
                             images)
        finally:
            MMLogger.get_current_instance().removeHandler(handler)
    finally:
        os.remove(trained['emb'])
    _assert_same(preds, trained['devise_before'])
    assert any('differ from' in m and trained['emb'] in m for m in messages)


def test_trained_model_survives_torch_save_load_and_deepcopy(
        trained, tmp_path):
    model = init_model(trained['config'], trained['ckpt'], device='cpu')
    path = str(tmp_path / 'model.pth')
    torch.save(model, path)
    # a whole pickled model is code: weights_only=False for our own file
    loaded = torch.load(path, weights_only=False)
    for other in (loaded, copy.deepcopy(model)):
        preds = [
            r.pred_sem_seg.data[0].numpy()
            for r in inference_model(other, trained['images'][:2])
        ]
        _assert_same(preds, trained['before'][:2])
        assert torch.equal(other.class_embedding(), model.class_embedding())


def test_stage2_log_reinit_and_optimizer_summary(trained):
    with open(trained['log'], encoding='utf-8') as f:
        log = f.read()
    assert ('reinit_classifier=True and the checkpoint comes from a '
            'ZeroShotDecodeHead without reinit_classifier') in log
    assert 'decode_head.classifier.conv.weight' in log
    assert 'is skipped since its requires_grad=False' not in log
    summary = [line for line in log.splitlines() if 'optimizer: ' in line]
    assert len(summary) == 1
    assert 'frozen parameters (requires_grad=False) left out: backbone, ' \
        'decode_head.head' in summary[0]


def test_training_without_the_file_is_refused_naming_it(trained, tmp_path):
    cfg = Config.fromfile(trained['config'])
    cfg.work_dir = str(tmp_path / 'work_dir')
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)  # builds: testing needs no file
    with pytest.raises(FileNotFoundError) as e:
        runner.train()
    assert trained['emb'] in str(e.value) and 'Training needs it' in str(
        e.value)


class _ListHandler(__import__('logging').Handler):

    def __init__(self, messages: list):
        super().__init__()
        self.messages = messages

    def emit(self, record):
        self.messages.append(record.getMessage())


# ---------------------------------------------------------------------------
# ClassEmbedding without its file: the placeholder and its errors
def _placeholder(path='missing.npz', classes=('a', 'b', 'c'), dim=4):
    return _models().build(
        dict(
            type='ClassEmbedding',
            embedding_file=path,
            classes=list(classes),
            dim=dim))


def test_missing_file_without_shape_names_file_and_fix(tmp_path):
    path = str(tmp_path / 'gone.npz')
    for kwargs in (dict(classes=['a', 'b']), dict(dim=4), {}):
        with pytest.raises(FileNotFoundError) as e:
            _models().build(
                dict(type='ClassEmbedding', embedding_file=path, **kwargs))
        assert path in str(e.value) and 'classes= and dim=' in str(e.value)


def test_placeholder_is_filled_by_a_checkpoint_only(tmp_path):
    path = str(tmp_path / 'gone.npz')
    module = _placeholder(path)
    assert module.source is None and module().shape == (3, 4)
    assert torch.isnan(module()).all()  # never silently zeros
    with pytest.raises(FileNotFoundError, match='Training needs it'):
        module.init_weights()
    good = dict(
        embeddings=torch.arange(12.).view(3, 4),
        _extra_state=encode_extra_state(
            dict(class_names=['a', 'b', 'c'], meta={})))
    # no embeddings in the checkpoint
    with pytest.raises(FileNotFoundError) as e:
        module.load_state_dict({}, strict=False)
    assert path in str(e.value) and '`embeddings`' in str(e.value)
    # another shape
    with pytest.raises(ValueError, match=r'shape \(3, 5\).*\(3, 4\)'):
        module.load_state_dict(dict(good, embeddings=torch.ones(3, 5)))
    # another class order
    with pytest.raises(ValueError, match="another class order.*'c', 'b'"):
        module.load_state_dict(
            dict(
                good,
                _extra_state=encode_extra_state(
                    dict(class_names=['a', 'c', 'b'], meta={}))))
    # a checkpoint saved from an unfilled placeholder
    with pytest.raises(ValueError, match='not finite'):
        module.load_state_dict(dict(good, embeddings=module().clone()))
    assert module.source is None
    module.load_state_dict(good)
    assert module.source == 'checkpoint'
    assert torch.equal(module(), good['embeddings'])
    module.init_weights()  # filled: training may proceed


def test_bad_dim_or_folder_named(tmp_path):
    for dim in ('50', 0, -3, True, 2.5):
        with pytest.raises(
                ValueError, match=f'dim={dim!r}; expected a '
                'positive integer'):
            _placeholder(str(tmp_path / 'gone.npz'), dim=dim)
    with pytest.raises(ValueError) as e:
        _placeholder(str(tmp_path))
    assert str(tmp_path) in str(e.value) and 'is a folder' in str(e.value)


def test_stage1_checkpoint_without_the_file_names_both(trained, tmp_path):
    # a checkpoint without embeddings (here stage 1's) cannot fill them
    stage1 = osp.join(trained['root'], 'stage1.pth')
    with pytest.raises(FileNotFoundError) as e:
        init_model(trained['config'], stage1, device='cpu')
    assert trained['emb'] in str(e.value)
    assert '`class_embedding.embeddings`' in str(e.value)
