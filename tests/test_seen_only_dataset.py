"""Tests of SeenOnlyDataset on a tiny dataset in mmseg's VOC layout."""
import hashlib
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from mmengine.dataset import ConcatDataset
from mmengine.fileio import BaseStorageBackend, LocalBackend, register_backend
from mmengine.registry import init_default_scope
from mmseg.datasets import PascalVOCDataset  # noqa: E402
from PIL import Image

from mmseg_zs3.datasets import SeenOnlyDataset
from mmseg_zs3.datasets import seen_only_dataset as seen_only_module
from mmseg_zs3.datasets.transforms import MapUnseenToIgnore

VOC_PALETTE = np.array(
    PascalVOCDataset.METAINFO['palette'], dtype=np.uint8).ravel().tolist()
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
    dict(
        type='RandomResize',
        scale=(32, 16),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=(12, 12)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Pad', size=(12, 12)),
    dict(type='PackSegInputs'),
]


@pytest.fixture(autouse=True, scope='module')
def mmseg_scope():
    init_default_scope('mmseg')


@pytest.fixture(autouse=True)
def user_cache(tmp_path, monkeypatch):
    """The default class-presence cache folder, under this test's tmp_path
    (``$MMSEG_ZS3_CACHE/class_presence``)."""
    monkeypatch.setenv('MMSEG_ZS3_CACHE', str(tmp_path / 'user_cache'))
    return str(tmp_path / 'user_cache' / 'class_presence')


class URIFiles(BaseStorageBackend):
    """Storage of ``scheme://<absolute path>`` files, a stand-in for remote
    storage: no local-file code (``open``, ``os.stat``, ``osp.isfile``) can
    read these names, only mmengine's fileio with this backend. Counts the
    files read."""

    reads: list = []

    @staticmethod
    def _local(uri):
        scheme, sep, path = str(uri).partition('://')
        assert sep and not osp.exists(str(uri)), uri
        return path

    def get(self, filepath):
        URIFiles.reads.append(str(filepath))
        with open(self._local(filepath), 'rb') as f:
            return f.read()

    def get_text(self, filepath, encoding='utf-8'):
        return self.get(filepath).decode(encoding)

    def exists(self, filepath):
        return osp.exists(self._local(filepath))

    def isfile(self, filepath):
        return osp.isfile(self._local(filepath))

    def join_path(self, filepath, *filepaths):
        return '/'.join([str(filepath).rstrip('/'), *filepaths])

    def list_dir_or_file(self,
                         dir_path,
                         list_dir=True,
                         list_file=True,
                         suffix=None,
                         recursive=False):
        return LocalBackend().list_dir_or_file(
            self._local(dir_path), list_dir, list_file, suffix, recursive)


# found from the URI prefix, as mmengine finds s3:// or http://
register_backend('zs3test_prefixed', URIFiles, force=True, prefixes='zs3test')
# found only through backend_args=dict(backend='zs3test_named')
register_backend('zs3test_named', URIFiles, force=True)


def _write_label(path, values, size=16):
    """Stripes of the given values, as a VOC palette PNG."""
    label = np.repeat(
        np.array(values, dtype=np.uint8), -(-size // len(values)))[:size]
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
        _write_label(
            osp.join(root, 'SegmentationClass', name + '.png'), values)
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


def _tree(root):
    """Every file under ``root`` with its SHA-256."""
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                files[osp.relpath(path, root)] = hashlib.sha256(
                    f.read()).hexdigest()
    return files


def test_drop_image_policy(voc_root):
    ds = SeenOnlyDataset(_voc_cfg(voc_root), split=dict(name='zs3_voc', k=2))
    assert ds.num_dropped == 2 and len(ds) == 3
    # mmengine's bookkeeping: the inner dataset itself, cut to the kept ones
    assert type(ds.dataset) is PascalVOCDataset and len(ds.dataset) == 3
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
    assert names[1:4] == [
        'LoadAnnotations', 'CheckSegMap', 'MapUnseenToIgnore'
    ]
    assert transforms[2].num_classes == 21


def test_concat_dataset_voc12aug_layout(tmp_path):
    root = _write_voc(tmp_path / 'VOC2012')
    _write_voc(tmp_path / 'VOC2012', {'f_cow': [10], 'g_bg': [0]}, 'aug')
    cfg = dict(
        type='ConcatDataset', datasets=[_voc_cfg(root),
                                        _voc_cfg(root, 'aug')])
    ds = SeenOnlyDataset(cfg, split=dict(name='zs3_voc', k=2))
    assert ds.num_dropped == 3 and len(ds) == 4
    # mmengine's ConcatDataset of the cut datasets (3 of 5, 1 of 2 kept)
    assert type(ds.dataset) is ConcatDataset
    assert [len(d) for d in ds.dataset.datasets] == [3, 1]
    kept = [osp.basename(ds.get_data_info(i)['img_path']) for i in range(4)]
    assert kept == ['a_seen.jpg', 'd_person.jpg', 'e_sofa.jpg', 'g_bg.jpg']
    assert not _labels_of_all_samples(ds, repeats=1) & {10, 14}
    ign = SeenOnlyDataset(
        cfg, split=dict(name='zs3_voc', k=2), policy='ignore')
    assert len(ign) == 7
    assert not _labels_of_all_samples(ign, repeats=1) & {10, 14}
    # A built dataset used twice is cut once.
    from mmseg.registry import DATASETS
    inner = DATASETS.build(_voc_cfg(root))
    twice = SeenOnlyDataset(
        ConcatDataset([inner, inner]), split=dict(name='zs3_voc', k=2))
    assert len(twice) == 6 and len(inner) == 3
    assert len(list(twice)) == 6  # iterable (IndexError at the end)
    # A nested ConcatDataset is flattened, in the same order.
    nested = dict(
        type='ConcatDataset',
        datasets=[
            dict(type='ConcatDataset', datasets=[_voc_cfg(root)]),
            _voc_cfg(root, 'aug')
        ])
    flat = SeenOnlyDataset(nested, split=dict(name='zs3_voc', k=2))
    assert [len(d) for d in flat.dataset.datasets] == [3, 1]
    assert [osp.basename(flat.get_data_info(i)['img_path'])
            for i in range(4)] == kept


def test_reduce_zero_label_custom_dataset(tmp_path):
    # Raw value v is class v - 1; raw 0 becomes ignore.
    root = _write_voc(
        tmp_path / 'data',
        {
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


def _count_scans(monkeypatch):
    scanned = []
    original = SeenOnlyDataset._scan

    def counting_scan(path, loader, info):
        scanned.append(osp.basename(path))
        return original(path, loader, info)

    monkeypatch.setattr(SeenOnlyDataset, '_scan', staticmethod(counting_scan))
    return scanned


def test_cache_goes_to_the_user_cache(voc_root, user_cache, tmp_path,
                                      monkeypatch):
    """Not into the dataset folder (read-only or shared storage)."""
    before = _tree(voc_root)
    ds = SeenOnlyDataset(_voc_cfg(voc_root), split=dict(name='zs3_voc', k=2))
    assert _tree(voc_root) == before  # not a byte written next to the data
    assert ds.cache_dir == user_cache
    files = os.listdir(user_cache)
    assert len(files) == 1 and files[0].startswith('class_presence_')
    with open(osp.join(user_cache, files[0])) as f:
        content = json.load(f)
    assert content['version'] == 3
    assert content['decode'] == dict(
        loader='mmseg.datasets.transforms.loading.LoadAnnotations',
        imdecode_backend='pillow',
        reduce_zero_label=False,
        label_map=None)
    path = osp.join(voc_root, 'SegmentationClass', 'c_motorbike.png')
    stat = os.stat(path)
    # local files: size and modification time; the labels as loaded
    assert content['files'][path] == [[stat.st_size, stat.st_mtime_ns],
                                      [0, 14, 255]]
    # Without $MMSEG_ZS3_CACHE: ~/.cache/mmseg_zs3/class_presence.
    monkeypatch.delenv('MMSEG_ZS3_CACHE')
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    home = SeenOnlyDataset(_voc_cfg(voc_root), split=dict(unseen=['cow']))
    assert home.cache_dir == str(tmp_path / 'home' / '.cache' / 'mmseg_zs3' /
                                 'class_presence')
    assert len(os.listdir(home.cache_dir)) == 1
    assert _tree(voc_root) == before


def test_cache_is_reused_and_invalidated(voc_root, user_cache, monkeypatch):
    split = dict(name='zs3_voc', k=2)
    SeenOnlyDataset(_voc_cfg(voc_root), split=split)
    cache_dir = user_cache
    files = os.listdir(cache_dir)
    assert len(files) == 1 and files[0].startswith('class_presence_')
    assert files[0].endswith('.json')  # no temporary file left behind
    scanned = _count_scans(monkeypatch)
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
        f.write('{"version": 3, "files": {"trunc')
    scanned.clear()
    SeenOnlyDataset(_voc_cfg(voc_root), split=split)
    assert len(scanned) == 5
    # Nor an entry that is no list of label values (edited, other version).
    with open(osp.join(cache_dir, files[0])) as f:
        content = json.load(f)
    for entry in content['files'].values():
        entry[1] = 'abc'
    with open(osp.join(cache_dir, files[0]), 'w') as f:
        json.dump(content, f)
    scanned.clear()
    SeenOnlyDataset(_voc_cfg(voc_root), split=split)
    assert len(scanned) == 5

    # The same files loaded otherwise (reduce_zero_label): their own cache.
    scanned.clear()
    cfg = dict(
        _voc_cfg(voc_root),
        type='BaseSegDataset',
        metainfo=dict(classes=tuple(f'c{i}' for i in range(20))),
        img_suffix='.jpg',
        seg_map_suffix='.png',
        reduce_zero_label=True)
    shifted = SeenOnlyDataset(cfg, split=dict(unseen=['c9']))  # file 10
    assert len(scanned) == 5 and len(os.listdir(cache_dir)) == 2
    assert shifted.num_dropped == 2  # a_seen (relabelled above), b_cow
    scanned.clear()
    SeenOnlyDataset(cfg, split=dict(unseen=['c9']))
    assert scanned == []


def test_custom_cache_dir(voc_root, tmp_path, user_cache, monkeypatch):
    cache = tmp_path / 'cache'
    ds = SeenOnlyDataset(
        _voc_cfg(voc_root),
        split=dict(unseen=['person']),
        cache_dir=str(cache))
    assert ds.num_dropped == 1 and len(os.listdir(cache)) == 1
    assert not osp.exists(user_cache)
    # An unwritable cache folder: a warning that names it, and a rescan at
    # the next start; the data are right all the same.
    blocked = tmp_path / 'a_file'
    blocked.write_text('not a folder')
    logged = []
    monkeypatch.setattr(seen_only_module, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    scanned = _count_scans(monkeypatch)
    for _ in range(2):
        ds = SeenOnlyDataset(
            _voc_cfg(voc_root),
            split=dict(unseen=['person']),
            cache_dir=str(blocked / 'cache'))
        assert ds.num_dropped == 1
    assert len(scanned) == 10
    warnings = [m for m in logged if 'could not write' in m]
    assert len(warnings) == 2 and str(blocked / 'cache') in warnings[0]
    assert blocked.read_text() == 'not a folder'


def _uri_cfg(root, named):
    """The VOC data of ``root`` as ``scheme://`` URIs of URIFiles, found
    from the prefix or (``named``) only through ``backend_args``."""
    scheme = 'zs3named' if named else 'zs3test'
    backend_args = dict(backend='zs3test_named') if named else None
    pipeline = [
        dict(type='LoadImageFromFile', backend_args=backend_args),
        dict(type='LoadAnnotations', backend_args=backend_args)
    ] + TRAIN_PIPELINE[2:]
    return dict(
        type='BaseSegDataset',
        metainfo=PascalVOCDataset.METAINFO,
        data_prefix=dict(
            img_path=f'{scheme}://{root}/JPEGImages',
            seg_map_path=f'{scheme}://{root}/SegmentationClass'),
        img_suffix='.jpg',
        seg_map_suffix='.png',
        backend_args=backend_args,
        pipeline=pipeline)


@pytest.mark.parametrize('named', [False, True])
def test_remote_storage(voc_root, user_cache, monkeypatch, named):
    """Annotations are read by the pipeline's LoadAnnotations with its
    backend_args, so any mmengine file backend works; a cache entry is
    checked by the file's SHA-256 there."""
    split = dict(name='zs3_voc', k=2)
    scanned = _count_scans(monkeypatch)
    URIFiles.reads.clear()
    ds = SeenOnlyDataset(_uri_cfg(voc_root, named), split=split)
    assert ds.num_dropped == 2 and len(ds) == 3
    kept = {osp.basename(ds.get_data_info(i)['img_path']) for i in range(3)}
    assert kept == {'a_seen.jpg', 'd_person.jpg', 'e_sofa.jpg'}
    assert not _labels_of_all_samples(ds, repeats=1) & {10, 14}
    assert len(scanned) == 5
    ann = sorted(r for r in URIFiles.reads if r.endswith('.png'))
    assert ann and all(
        r.startswith(('zs3test://', 'zs3named://')) for r in ann)
    # The cache: content digests, reused when unchanged ...
    path = osp.join(voc_root, 'SegmentationClass', 'a_seen.png')
    uri = ('zs3named://' if named else 'zs3test://') + path
    with open(osp.join(user_cache, os.listdir(user_cache)[0])) as f:
        entry = json.load(f)['files'][uri]
    with open(path, 'rb') as f:
        assert entry == [['sha256',
                          hashlib.sha256(f.read()).hexdigest()], [0, 2]]
    scanned.clear()
    SeenOnlyDataset(_uri_cfg(voc_root, named), split=split)
    assert scanned == []
    # ... and rescanned when the content changes, whatever the file times.
    stat = os.stat(path)
    _write_label(path, [0, 10])
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    changed = SeenOnlyDataset(_uri_cfg(voc_root, named), split=split)
    assert scanned == ['a_seen.png'] and changed.num_dropped == 3
    # A missing file is named, as the storage names it.
    os.remove(path)
    for policy in ('drop_image', 'ignore'):
        with pytest.raises(FileNotFoundError) as e:
            SeenOnlyDataset(_uri_cfg(voc_root, named), split, policy)
        assert repr(uri) in str(e.value)


@pytest.mark.parametrize('rank', [0, 1])
def test_ddp_scans_once_with_a_barrier(voc_root, monkeypatch, rank):
    """Rank 0 scans and writes the cache, then all ranks meet at a barrier;
    the others read rank 0's cache. A refusal on rank 0 is raised after the
    barrier (no rank waits for ever)."""
    split = dict(name='zs3_voc', k=2)
    if rank:
        SeenOnlyDataset(_voc_cfg(voc_root), split=split)  # rank 0's scan
    events = []
    scanned = _count_scans(monkeypatch)
    monkeypatch.setattr(seen_only_module, 'get_dist_info', lambda: (rank, 2))
    monkeypatch.setattr(seen_only_module, 'barrier',
                        lambda: events.append(f'barrier after {scanned}'))
    ds = SeenOnlyDataset(_voc_cfg(voc_root), split=split)
    assert ds.num_dropped == 2
    if rank:  # after the barrier: from the cache
        assert events == ['barrier after []'] and scanned == []
    else:  # before the barrier: the scan
        assert events == [f'barrier after {[n + ".png" for n in IMAGES]}']
        bad = osp.join(voc_root, 'SegmentationClass', 'b_cow.png')
        with open(bad, 'wb') as f:
            f.write(b'not a png')
        events.clear()
        with pytest.raises(ValueError, match='cannot read.*b_cow.png'):
            SeenOnlyDataset(_voc_cfg(voc_root), split=split)
        assert len(events) == 1


def test_bad_input(voc_root, tmp_path):
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
    # A decoder that the annotations do not suit: refused before training,
    # as the pipeline would load them (cv2 decodes palette PNGs to colours).
    cv2_cfg = _voc_cfg(voc_root)
    cv2_cfg['pipeline'] = [
        TRAIN_PIPELINE[0],
        dict(type='LoadAnnotations', imdecode_backend='cv2')
    ] + TRAIN_PIPELINE[2:]
    with pytest.raises(
            ValueError,
            match=r"a_seen.png' is loaded as shape "
            r"\(16, 16, 3\).*imdecode_backend='cv2'"):
        SeenOnlyDataset(cv2_cfg, split=split)
    # A colour image as label map, read with pillow: the advice is to save
    # a single-channel map (not to switch to the backend already in use).
    rgb_root = str(tmp_path / 'rgb')
    shutil.copytree(voc_root, rgb_root)
    rgb = osp.join(rgb_root, 'SegmentationClass', 'a_seen.png')
    seg = np.asarray(Image.open(rgb))
    Image.fromarray(np.stack([seg] * 3, -1).astype(np.uint8)).save(rgb)
    with pytest.raises(ValueError) as e:
        SeenOnlyDataset(_voc_cfg(rgb_root), split=split)
    assert 'a_seen.png' in str(e.value) and '(16, 16, 3)' in str(e.value)
    assert 'single-channel (grey or palette) image' in str(e.value)
    assert "use imdecode_backend='pillow'" not in str(e.value)
    # A file backend that mmengine does not know: named, with the known.
    s4_cfg = _voc_cfg(voc_root)
    s4_cfg['pipeline'] = [
        TRAIN_PIPELINE[0],
        dict(type='LoadAnnotations', backend_args=dict(backend='s4'))
    ] + TRAIN_PIPELINE[2:]
    with pytest.raises(
            ValueError,
            match=r"backend='s4'.*no such file "
            r"backend \(registered: \[.*'local'"):
        SeenOnlyDataset(s4_cfg, split=split)
    # An empty annotation file.
    open(bad, 'wb').close()
    with pytest.raises(ValueError, match=r"d_person.png': it is empty"):
        SeenOnlyDataset(_voc_cfg(voc_root), split=split)
    # Missing annotation, or a folder in its place: the error names it.
    os.remove(bad)
    for policy in ('drop_image', 'ignore'):
        with pytest.raises(FileNotFoundError, match='d_person.png'):
            SeenOnlyDataset(_voc_cfg(voc_root), split=split, policy=policy)
    os.mkdir(bad)
    with pytest.raises(FileNotFoundError, match='d_person.png.*is no file'):
        SeenOnlyDataset(_voc_cfg(voc_root), split=split)


def test_map_unseen_to_ignore_transform():
    seg = np.array([[0, 10, 14], [255, 15, 10]], dtype=np.uint8)
    out = MapUnseenToIgnore([10, 14])(
        dict(gt_seg_map=seg.copy(), seg_fields=['gt_seg_map']))
    assert out['gt_seg_map'].tolist() == [[0, 255, 255], [255, 15, 255]]
    guard = MapUnseenToIgnore([10], on_unseen='raise')
    with pytest.raises(
            RuntimeError,
            match=r"\[10\] found in 'x.png'.*"
            'cache_dir.*mmseg_zs3/class_presence'):
        guard(dict(gt_seg_map=seg, seg_map_path='x.png'))
    with pytest.raises(ValueError, match="on_unseen='drop'"):
        MapUnseenToIgnore([10], on_unseen='drop')


def test_stage1_config_train_set(tmp_path):
    from mmengine import Config
    from mmseg.registry import DATASETS
    root = _write_voc(tmp_path / 'VOC2012')
    aug = _write_voc(tmp_path / 'VOC2012_aug', {
        'f_cow': [10],
        'g_bg': [0]
    }, 'aug')
    os.rename(
        osp.join(aug, 'SegmentationClass'),
        osp.join(root, 'SegmentationClassAug'))
    for name in ('f_cow', 'g_bg'):
        os.rename(
            osp.join(aug, 'JPEGImages', name + '.jpg'),
            osp.join(root, 'JPEGImages', name + '.jpg'))
    os.rename(
        osp.join(aug, 'ImageSets/Segmentation/aug.txt'),
        osp.join(root, 'ImageSets/Segmentation/aug.txt'))
    cfg = Config.fromfile(
        osp.join(
            osp.dirname(__file__), '..', 'configs', 'zs3',
            'seen-only_deeplabv3plus_r101-d16-mg248_1xb16-200e_'
            'voc12aug-zs3k2-312x312.py'))
    train = cfg.train_dataloader.dataset
    for sub in train.dataset.datasets:
        sub.data_root = root
    ds = DATASETS.build(train)
    assert ds.num_dropped == 3 and len(ds) == 4
    sample = ds[0]
    assert tuple(sample['inputs'].shape[-2:]) == (312, 312)
    assert not set(
        sample['data_samples'].gt_sem_seg.data.unique().tolist()) & {10, 14}
