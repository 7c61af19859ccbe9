"""ZS3Net on any mmseg backbone: each backbone's shipped stage-1 and ZS3Net
configs train a few iterations and evaluate on the tiny shapes data (CPU).

The model, optimizer and schedule settings are the shipped leaves' (VOC,
K = 2); the data, split and class embeddings are the shapes demo's, and the
networks are narrowed (fewer channels, same types and wiring) so that the
whole file runs in seconds: what is tested is that each backbone and decode
head goes through both stages (the decode head wrapped by
ZeroShotDecodeHead, the generator's feature width taken from the head's
``channels``, the frozen network, the feature cache, the zero-shot metric).
test_configs.py builds the full-size networks.
"""
import glob
import os.path as osp

import numpy as np
import pytest
import test_configs
import test_zs3_stage2
from conftest import REPO, unique_experiment_name
from mmengine.config import Config
from mmengine.runner import Runner

from mmseg_zs3.embeddings import ClassEmbeddings, dataset_classes

# one torch thread, no yapf on config dumps; mmseg's metafiles read once
fast_runs = test_zs3_stage2.fast_runs
memoised_mmseg_metafiles = test_configs._memoised_mmseg_metafiles

CONFIGS = osp.join(REPO, 'configs', 'zs3')
SHAPES_STAGE1 = osp.join(
    CONFIGS, 'seen-only_unet-s2-fcn_1xb16-1800it_shapes-u4-64x64.py')
SHAPES_STAGE2 = osp.join(CONFIGS,
                         'zs3net_unet-s2-fcn_1xb16-10e_shapes-u4-64x64.py')
DATA_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader',
             'val_evaluator', 'test_evaluator')
# backbone of the config name -> the narrowing of its model (same types)
NARROW = {
    'deeplabv3plus_r50-d16-mg248':
    dict(
        backbone=dict(base_channels=8, stem_channels=8),
        decode_head=dict(
            in_channels=256, c1_in_channels=32, c1_channels=8, channels=24)),
    'deeplabv3plus_r101-d16-mg248':
    dict(
        backbone=dict(base_channels=8, stem_channels=8),
        decode_head=dict(
            in_channels=256, c1_in_channels=32, c1_channels=8, channels=24)),
    'deeplabv3plus_m-v2-d8':
    dict(
        backbone=dict(widen_factor=0.5),
        decode_head=dict(
            in_channels=160, c1_in_channels=16, c1_channels=8, channels=24)),
    'fcn_hr18':
    dict(
        backbone=dict(
            extra=dict(
                stage1=dict(num_blocks=(1, ), num_channels=(16, )),
                stage2=dict(num_blocks=(1, 1), num_channels=(8, 16)),
                stage3=dict(
                    num_modules=1,
                    num_blocks=(1, 1, 1),
                    num_channels=(8, 16, 24)),
                stage4=dict(
                    num_modules=1,
                    num_blocks=(1, 1, 1, 1),
                    num_channels=(8, 16, 24, 32)))),
        decode_head=dict(in_channels=[8, 16, 24, 32], channels=80)),
    'segformer_mit-b0':
    dict(
        backbone=dict(embed_dims=16),
        decode_head=dict(in_channels=[16, 32, 80, 128], channels=24)),
    'upernet_swin-t':
    dict(
        backbone=dict(embed_dims=24, num_heads=[1, 2, 3, 6]),
        decode_head=dict(in_channels=[24, 48, 96, 192], channels=24)),
}


def _leaf(algorithm: str, backbone: str) -> str:
    paths = glob.glob(
        osp.join(CONFIGS,
                 f'{algorithm}_{backbone}_*_voc12aug-zs3k2-312x312.py'))
    assert len(paths) == 1, (algorithm, backbone, paths)
    return paths[0]


def _narrowed(model: dict, backbone: str) -> dict:
    """``model`` (a segmentor config) with the backbone and head narrowed,
    the shapes' 17 classes, 64x64 inputs and no pretrained weights."""
    model = Config(dict(model=model))
    model.merge_from_dict(dict(model=NARROW[backbone]))
    model = model.model.to_dict()
    model['pretrained'] = None
    model['backbone'].pop('init_cfg', None)
    model['decode_head']['num_classes'] = 17
    model['data_preprocessor']['size'] = (64, 64)
    return model


def _shapes_run(cfg: Config, shapes: Config, data_root: str, work_dir: str):
    """``cfg`` on the shapes data of ``shapes``: tiny batches, no workers."""
    for key in DATA_KEYS:
        cfg[key] = shapes[key]
    for key in DATA_KEYS[:3]:
        loader = cfg[key]
        loader.batch_size = 4
        loader.num_workers = 0
        loader.persistent_workers = False
        inner = loader.dataset.get('dataset', loader.dataset)
        inner.data_root = data_root
    cfg.val_cfg = None
    cfg.val_dataloader = None
    cfg.val_evaluator = None
    cfg.work_dir = work_dir
    cfg.experiment_name = unique_experiment_name()
    cfg.log_level = 'WARNING'
    cfg.randomness = dict(seed=0)
    cfg.default_hooks.logger.interval = 1


def stage1_config(backbone: str, data_root: str, work_dir: str) -> Config:
    """The backbone's seen-only leaf: two iterations on the shapes."""
    cfg = Config.fromfile(_leaf('seen-only', backbone))
    _shapes_run(cfg, Config.fromfile(SHAPES_STAGE1), data_root, work_dir)
    cfg.model = _narrowed(cfg.model.to_dict(), backbone)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', by_epoch=False, interval=2)
    return cfg


def stage2_config(backbone: str, data_root: str, work_dir: str,
                  stage1_checkpoint: str, embedding_file: str) -> Config:
    """The backbone's ZS3Net leaf: one epoch on the shapes' seen-only
    images, from the stage-1 checkpoint."""
    cfg = Config.fromfile(_leaf('zs3net', backbone))
    shapes = Config.fromfile(SHAPES_STAGE2)
    _shapes_run(cfg, shapes, data_root, work_dir)
    model = cfg.model.to_dict()
    model['decode_head']['head'] = _narrowed(
        dict(cfg.model.to_dict(), decode_head=model['decode_head']['head']),
        backbone)['decode_head']
    model = dict(_narrowed(model, backbone), decode_head=model['decode_head'])
    model['decode_head'].update(
        split=shapes.zs3_split.to_dict(), classes='ZS3ShapesDataset')
    model['class_embedding'].update(
        embedding_file=embedding_file, classes='ZS3ShapesDataset')
    model['generative_head']['num_samples'] = 16
    cfg.model = model
    cfg.load_from = stage1_checkpoint
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.val_interval = 1
    return cfg


@pytest.fixture(scope='module')
def embedding_file(tmp_path_factory):
    """300-d vectors (the leaves' word2vec width) for the shapes classes."""
    names = list(dataset_classes('ZS3ShapesDataset'))
    path = str(tmp_path_factory.mktemp('emb') / 'shapes_300d.npz')
    vectors = np.random.default_rng(0).standard_normal((len(names), 300))
    ClassEmbeddings(names, vectors, dict(sources=['test'])).save(path)
    return path


@pytest.mark.parametrize('backbone', sorted(NARROW))
def test_backbone_trains_both_stages_and_evaluates(backbone, shapes_root,
                                                   embedding_file, tmp_path,
                                                   monkeypatch):
    monkeypatch.setenv('MMSEG_ZS3_CACHE', str(tmp_path / 'cache'))
    stage1 = Runner.from_cfg(
        stage1_config(backbone, shapes_root, str(tmp_path / 'stage1')))
    stage1.train()
    checkpoint = str(tmp_path / 'stage1' / 'iter_2.pth')
    assert osp.isfile(checkpoint)

    cfg = stage2_config(backbone, shapes_root, str(tmp_path / 'stage2'),
                        checkpoint, embedding_file)
    assert cfg.model.type == 'ZS3EncoderDecoder'
    assert 'feat_dim' not in cfg.model.generative_head.generator
    stage2 = Runner.from_cfg(cfg)
    head = stage2.model.decode_head
    # the generated features are as wide as what enters the classifier
    assert stage2.model.generative_head.feat_dim == head.channels == \
        NARROW[backbone]['decode_head']['channels']
    assert type(head.head).__name__ == cfg.model.decode_head.head.type
    stage2.train()
    assert stage2.epoch == 1 and stage2.iter > 0
    metrics = stage2.test()
    for key in ('mIoU_seen', 'mIoU_unseen', 'hIoU'):
        assert 0 <= metrics[key] <= 100, metrics
