"""Tests of SeenOnlyDataset on a tiny dataset in mmseg's VOC layout."""
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.registry import init_default_scope
from PIL import Image

from mmseg_zs3.datasets import SeenOnlyDataset
from mmseg_zs3.datasets.transforms import MapUnseenToIgnore
from mmseg.datasets import PascalVOCDataset  # noqa: E402

VOC_PALETTE = np.array(PascalVOCDataset.METAINFO['palette'],
                       dtype=np.uint8).ravel().tolist()
# name -> label values drawn in the annotation (VOC: bicycle 2, cow 10,
# motorbike 14, person 15, sofa 18).
IMAGES = {
    'a_seen': [0, 2],  # bicycle
    'b_cow': [0, 10],
    'c_motorbike': [0, 14, 255],
    'd_person': [15, 255],
    'e_sofa': [0, 18],
}
TRAIN_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(32, 16), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=(12, 12)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Pad', size=(12, 12)),
    dict(type='PackSegInputs'),
]


@pytest.fixture(autouse=True, scope='module')
def mmseg_scope():
    init_default_scope('mmseg')


def _write_label(path, values, size=16):
    """Stripes of the given values, as a VOC palette PNG."""
    label = np.repeat(np.array(values, dtype=np.uint8),
                      -(-size // len(values)))[:size]
    label = np.tile(label[:, None], (1, size))
    img = Image.fromarray(label, mode='P')
    img.putpalette(VOC_PALETTE + [0] * (768 - len(VOC_PALETTE)))
    img.save(path)


def _write_voc(root, images=IMAGES, list_name='train'):
    for sub in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    rng = np.random.RandomState(0)
    for name, values in images.items():
        Image.fromarray(rng.randint(0, 255, (16, 16, 3), dtype=np.uint8)).save(
            osp.join(root, 'JPEGImages', name + '.jpg'))
        _write_label(osp.join(root, 'SegmentationClass', name + '.png'),
                     values)
    with open(osp.join(root, f'ImageSets/Segmentation/{list_name}.txt'),
              'w') as f:
        f.write('\n'.join(images) + '\n')
    return str(root)


def _voc_cfg(root, list_name='train', **kwargs):
    return dict(
        type='PascalVOCDataset',
        data_root=root,
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file=f'ImageSets/Segmentation/{list_name}.txt',
        pipeline=TRAIN_PIPELINE,
        **kwargs)


def _labels_of_all_samples(dataset, repeats=3):
    seen = set()
    for _ in range(repeats):
        for i in range(len(dataset)):
            gt = dataset[i]['data_samples'].gt_sem_seg.data
            seen |= set(np.unique(gt.numpy()).tolist())
    return seen


@pytest.fixture
def voc_root(tmp_path):
    return _write_voc(tmp_path / 'VOC2012')


def test_drop_image_policy(voc_root):
    ds = SeenOnlyDataset(_voc_cfg(voc_root), split=dict(name='zs3_voc', k=2))
    assert ds.num_dropped == 2 and len(ds) == 3
    kept = {osp.basename(ds.get_data_info(i)['img_path']) for i in range(3)}
    assert kept == {'a_seen.jpg', 'd_person.jpg', 'e_sofa.jpg'}
    assert ds.metainfo['classes'] == PascalVOCDataset.METAINFO['classes']
    labels = _labels_of_all_samples(ds)
    assert not labels & {10, 14}
    assert {0, 2, 15, 18} <= labels  # seen classes keep their global index
    k4 = SeenOnlyDataset(_voc_cfg(voc_root), split=dict(name='voc12', k=4))
    assert k4.num_dropped == 3 and len(k4) == 2
    assert not _labels_of_all_samples(k4) & {1, 10, 14, 18}


def test_ignore_policy(voc_root):
    ds = SeenOnlyDataset(
        _voc_cfg(voc_root), split=dict(name='zs3_voc', k=2), policy='ignore')
    assert ds.num_dropped == 0 and len(ds) == 5
    labels = _labels_of_all_samples(ds)
    assert not labels & {10, 14}
    assert {0, 2, 15, 18, 255} <= labels
    # The label check and the guard sit right after LoadAnnotations, before
    # any augmentation; the check has the dataset's class count.
    transforms = ds.dataset.pipeline.transforms
    names = [type(t).__name__ for t in transforms]
    assert names[1:4] == ['LoadAnnotations', 'CheckSegMap',
                          'MapUnseenToIgnore']
    assert transforms[2].num_classes == 21


def test_concat_dataset_voc12aug_layout(tmp_path):
    root = _write_voc(tmp_path / 'VOC2012')
    _write_voc(tmp_path / 'VOC2012', {'f_cow': [10], 'g_bg': [0]}, 'aug')
    cfg = dict(
        type='ConcatDataset',
        datasets=[_voc_cfg(root), _voc_cfg(root, 'aug')])
    ds = SeenOnlyDataset(cfg, split=dict(name='zs3_voc', k=2))
    assert ds.num_dropped == 3 and len(ds) == 4
    assert ds.cache_dir == osp.join(root, '.zs3_cache')  # next to the data
    assert not _labels_of_all_samples(ds, repeats=1) & {10, 14}
    ign = SeenOnlyDataset(cfg, split=dict(name='zs3_voc', k=2),
                          policy='ignore')
    assert len(ign) == 7
    assert not _labels_of_all_samples(ign, repeats=1) & {10, 14}


def test_reduce_zero_label_custom_dataset(tmp_path):
    # Raw value v is class v - 1; raw 0 becomes ignore.
    root = _write_voc(tmp_path / 'data', {
        'p': [0, 1],  # ignore, 'a'
        'q': [3],  # 'c' (unseen)
        'r': [1, 2],  # 'a', 'b'
    })
    cfg = dict(
        type='BaseSegDataset',
        metainfo=dict(classes=('a', 'b', 'c')),
        data_root=root,
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        img_suffix='.jpg',
        seg_map_suffix='.png',
        ann_file='ImageSets/Segmentation/train.txt',
        reduce_zero_label=True,
        pipeline=TRAIN_PIPELINE[:2] + TRAIN_PIPELINE[-1:])
    ds = SeenOnlyDataset(cfg, split=dict(unseen=['c']))
    assert ds.num_dropped == 1 and len(ds) == 2
    assert _labels_of_all_samples(ds, 1) == {0, 1, 255}
    ign = SeenOnlyDataset(cfg, split=dict(unseen=['b']), policy='ignore')
    assert _labels_of_all_samples(ign, 1) == {0, 2, 255}


def test_cache_is_reused_and_invalidated(voc_root, monkeypatch):
    split = dict(name='zs3_voc', k=2)
    SeenOnlyDataset(_voc_cfg(voc_root), split=split)
    cache_dir = osp.join(voc_root, '.zs3_cache')  # next to the data
    files = os.listdir(cache_dir)
    assert len(files) == 1 and files[0].startswith('class_presence_')
    assert files[0].endswith('.json')  # no temporary file left behind

    scanned = []
    original = SeenOnlyDataset._scan

    def counting_scan(path, backend):
        scanned.append(osp.basename(path))
        return original(path, backend)

    monkeypatch.setattr(SeenOnlyDataset, '_scan', staticmethod(counting_scan))
    again = SeenOnlyDataset(_voc_cfg(voc_root), split=dict(name='voc12', k=4))
    assert scanned == [] and again.num_dropped == 3

    # A changed annotation is rescanned, and only that one.
    path = osp.join(voc_root, 'SegmentationClass', 'a_seen.png')
    _write_label(path, [0, 10])
    os.utime(path, ns=(1, 1))
    changed = SeenOnlyDataset(_voc_cfg(voc_root), split=split)
    assert scanned == ['a_seen.png'] and changed.num_dropped == 3

    # A corrupt cache is not trusted.
    with open(osp.join(cache_dir, files[0]), 'w') as f:
        f.write('{"version": 1, "files": {"trunc')
    scanned.clear()
    SeenOnlyDataset(_voc_cfg(voc_root), split=split)
    assert len(scanned) == 5


def test_custom_cache_dir(voc_root, tmp_path):
    cache = tmp_path / 'cache'
    ds = SeenOnlyDataset(
        _voc_cfg(voc_root), split=dict(unseen=['person']),
        cache_dir=str(cache))
    assert ds.num_dropped == 1 and len(os.listdir(cache)) == 1


def test_bad_input(voc_root):
    split = dict(name='zs3_voc', k=2)
    with pytest.raises(ValueError, match=r"policy='drop'.*'drop_image'"):
        SeenOnlyDataset(_voc_cfg(voc_root), split=split, policy='drop')
    with pytest.raises(ValueError, match=r"\['lion'\].*'aeroplane'"):
        SeenOnlyDataset(_voc_cfg(voc_root), split=dict(unseen=['lion']))
    with pytest.raises(ValueError, match='Unknown split name'):
        SeenOnlyDataset(_voc_cfg(voc_root), split=dict(name='voc', k=2))
    with pytest.raises(ValueError, match=r'k=5.*\[2, 4, 6, 8, 10\]'):
        SeenOnlyDataset(_voc_cfg(voc_root), split=dict(name='voc12', k=5))
    with pytest.raises(ValueError, match='no training image left: all 5'):
        SeenOnlyDataset(
            _voc_cfg(voc_root), split=dict(unseen=['background', 'person']))
    with pytest.raises(ValueError, match='relabels classes'):
        SeenOnlyDataset(
            _voc_cfg(voc_root, metainfo=dict(classes=('background', 'cow'))),
            split=split)

    # Unreadable annotation: the error names the file.
    bad = osp.join(voc_root, 'SegmentationClass', 'd_person.png')
    with open(bad, 'wb') as f:
        f.write(b'not a png')
    with pytest.raises(ValueError, match='cannot read.*d_person.png'):
        SeenOnlyDataset(_voc_cfg(voc_root), split=split)
    ign = SeenOnlyDataset(_voc_cfg(voc_root), split=split, policy='ignore')
    with pytest.raises(RuntimeError, match='d_person.png'):
        ign[3]
    # Missing annotation: the error names the file.
    os.remove(bad)
    for policy in ('drop_image', 'ignore'):
        with pytest.raises(FileNotFoundError, match='d_person.png'):
            SeenOnlyDataset(_voc_cfg(voc_root), split=split, policy=policy)


def test_map_unseen_to_ignore_transform():
    seg = np.array([[0, 10, 14], [255, 15, 10]], dtype=np.uint8)
    out = MapUnseenToIgnore([10, 14])(
        dict(gt_seg_map=seg.copy(), seg_fields=['gt_seg_map']))
    assert out['gt_seg_map'].tolist() == [[0, 255, 255], [255, 15, 255]]
    guard = MapUnseenToIgnore([10], on_unseen='raise')
    with pytest.raises(RuntimeError, match=r"\[10\] found in 'x.png'"):
        guard(dict(gt_seg_map=seg, seg_map_path='x.png'))
    with pytest.raises(ValueError, match="on_unseen='drop'"):
        MapUnseenToIgnore([10], on_unseen='drop')


def test_stage1_config_train_set(tmp_path):
    from mmengine import Config

    from mmseg.registry import DATASETS
    root = _write_voc(tmp_path / 'VOC2012')
    aug = _write_voc(tmp_path / 'VOC2012_aug', {'f_cow': [10], 'g_bg': [0]},
                     'aug')
    os.rename(osp.join(aug, 'SegmentationClass'),
              osp.join(root, 'SegmentationClassAug'))
    for name in ('f_cow', 'g_bg'):
        os.rename(osp.join(aug, 'JPEGImages', name + '.jpg'),
                  osp.join(root, 'JPEGImages', name + '.jpg'))
    os.rename(osp.join(aug, 'ImageSets/Segmentation/aug.txt'),
              osp.join(root, 'ImageSets/Segmentation/aug.txt'))
    cfg = Config.fromfile(osp.join(
        osp.dirname(__file__), '..', 'configs', 'zs3', 'stage1',
        'deeplabv3plus_r101-d16_zs3-voc12aug-k2_seen-only.py'))
    train = cfg.train_dataloader.dataset
    for sub in train.dataset.datasets:
        sub.data_root = root
    ds = DATASETS.build(train)
    assert ds.num_dropped == 3 and len(ds) == 4
    sample = ds[0]
    assert tuple(sample['inputs'].shape[-2:]) == (312, 312)
    assert not set(sample['data_samples'].gt_sem_seg.data.unique().tolist()
                   ) & {10, 14}
