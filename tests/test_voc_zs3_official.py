"""tools/dataset_converters/voc_zs3_official.py on a tiny hand-made
VOCdevkit + SBD: the official ZS3Net list (VOC train + SBD train_noval minus
VOC val), its labels, reruns and bad input."""
import importlib.util
import os
import os.path as osp

import numpy as np
import pytest
import scipy.io
from conftest import REPO
from PIL import Image

from mmseg_zs3.datasets.convert_voc_zs3 import OFFICIAL_LIST, official_voc_ids

VOC_TRAIN = ['2007_000001', '2007_000002', '2007_000003']
VOC_VAL = ['2007_000010', '2007_000011']
# SBD train: one VOC train image, one VOC val image, a duplicate line, a
# blank line; SBD val holds one more image (in voc12aug, not official)
SBD_TRAIN = [
    '2007_000002', '2007_000010', '2008_000001', '', '2008_000002',
    '2008_000001', '2008_000003'
]
SBD_VAL = ['2008_000009']
OFFICIAL_SBD = ['2008_000001', '2008_000002', '2008_000003']


def _mask(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mask = rng.integers(0, 21, size=(6, 8)).astype(np.uint8)
    mask[0, 0] = 255
    return mask


def _write_list(path, ids):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.writelines(f'{i}\n' for i in ids)


@pytest.fixture
def layout(tmp_path):
    """``VOCdevkit/VOC2012`` and ``benchmark_RELEASE`` with 8x6 images."""
    devkit = tmp_path / 'VOCdevkit'
    voc = devkit / 'VOC2012'
    sbd = voc / 'benchmark_RELEASE'
    sets = voc / 'ImageSets' / 'Segmentation'
    _write_list(str(sets / 'train.txt'), VOC_TRAIN)
    _write_list(str(sets / 'val.txt'), VOC_VAL)
    _write_list(str(sbd / 'dataset' / 'train.txt'), SBD_TRAIN)
    _write_list(str(sbd / 'dataset' / 'val.txt'), SBD_VAL)
    for folder in ('JPEGImages', 'SegmentationClass'):
        (voc / folder).mkdir(parents=True)
    (sbd / 'dataset' / 'cls').mkdir(parents=True)
    ids = VOC_TRAIN + VOC_VAL + [i for i in SBD_TRAIN if i] + SBD_VAL
    for n, i in enumerate(dict.fromkeys(ids)):
        Image.new('RGB', (8, 6),
                  (n, 0, 0)).save(voc / 'JPEGImages' / f'{i}.jpg')
        if i in VOC_TRAIN + VOC_VAL:
            Image.fromarray(_mask(n)).save(voc / 'SegmentationClass' /
                                           f'{i}.png')
        if i in SBD_TRAIN + SBD_VAL:
            scipy.io.savemat(
                str(sbd / 'dataset' / 'cls' / f'{i}.mat'),
                {'GTcls': {
                    'Segmentation': _mask(100 + n)
                }})
    return dict(devkit=str(devkit), voc=str(voc), sbd=str(sbd))


def _tool():
    spec = importlib.util.spec_from_file_location(
        'voc_zs3_official',
        osp.join(REPO, 'tools', 'dataset_converters', 'voc_zs3_official.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _list(layout) -> str:
    return osp.join(layout['voc'], 'ImageSets', 'Segmentation', OFFICIAL_LIST)


def _aug(layout, i) -> str:
    return osp.join(layout['voc'], 'SegmentationClassAug', f'{i}.png')


def _files(folder: str) -> dict:
    out = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = osp.join(root, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, folder)] = f.read()
    return out


def test_official_ids_follow_combine_dbs():
    ids = official_voc_ids(VOC_TRAIN + ['2007_000010'], VOC_VAL,
                           [i for i in SBD_TRAIN if i])
    assert ids == dict(voc=VOC_TRAIN, sbd=OFFICIAL_SBD)


def test_tool_writes_the_official_list_and_labels(layout, capsys):
    _tool().main([layout['devkit'], layout['sbd']])
    with open(_list(layout)) as f:
        assert f.read() == ''.join(f'{i}\n' for i in OFFICIAL_SBD)
    out = capsys.readouterr().out
    assert '3 SBD images (written)' in out and ', 6 images' in out
    assert '3 written, 0 already there' in out
    for i in OFFICIAL_SBD:
        mat = scipy.io.loadmat(
            osp.join(layout['sbd'], 'dataset', 'cls', f'{i}.mat'))
        png = np.asarray(Image.open(_aug(layout, i)))
        assert np.array_equal(png, mat['GTcls'][0]['Segmentation'][0])
    # SBD val, VOC val and VOC train images get no SBD label here
    for i in SBD_VAL + VOC_VAL + VOC_TRAIN:
        assert not osp.exists(_aug(layout, i))
    # mmseg's dataset reads the two parts as voc12aug's train + aug
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    part = DATASETS.build(
        dict(
            type='PascalVOCDataset',
            data_root=layout['voc'],
            data_prefix=dict(
                img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
            ann_file=f'ImageSets/Segmentation/{OFFICIAL_LIST}',
            pipeline=[dict(type='LoadAnnotations')]))
    assert len(part) == 3
    assert part[0]['gt_seg_map'].shape == (6, 8)


def test_rerun_keeps_labels_and_list(layout, capsys):
    tool = _tool()
    # a label voc_aug.py made already is kept, its .mat not even read
    os.makedirs(osp.dirname(_aug(layout, OFFICIAL_SBD[1])))
    kept = np.full((6, 8), 7, np.uint8)
    Image.fromarray(kept).save(_aug(layout, OFFICIAL_SBD[1]))
    os.remove(
        osp.join(layout['sbd'], 'dataset', 'cls', f'{OFFICIAL_SBD[1]}.mat'))
    tool.main([layout['devkit'], layout['sbd']])
    assert '2 written, 1 already there' in capsys.readouterr().out
    assert np.array_equal(
        np.asarray(Image.open(_aug(layout, OFFICIAL_SBD[1]))), kept)
    before = _files(layout['voc'])
    tool.main([layout['devkit'], layout['sbd']])
    assert '(unchanged)' in capsys.readouterr().out
    assert _files(layout['voc']) == before


def test_list_of_other_contents_needs_overwrite(layout):
    _write_list(_list(layout), ['2008_000001'])
    with pytest.raises(ValueError, match=OFFICIAL_LIST + '.*--overwrite'):
        _tool().main([layout['devkit'], layout['sbd']])
    assert not osp.exists(_aug(layout, OFFICIAL_SBD[0]))  # nothing written
    _tool().main([layout['devkit'], layout['sbd'], '--overwrite'])
    with open(_list(layout)) as f:
        assert f.read().split() == OFFICIAL_SBD


@pytest.mark.parametrize('damage, error, match', [
    ('no_sbd', FileNotFoundError, r'dataset/train\.txt does not exist'),
    ('empty_val', ValueError, r'val\.txt lists no image'),
    ('bad_id', ValueError, r"\['a/b'\] are no image ids"),
    ('no_mat', FileNotFoundError, r'1 SBD labels .*2008_000003\.mat'),
    ('no_jpg', FileNotFoundError, r'1 images .*2008_000002\.jpg'),
    ('no_voc_label', FileNotFoundError,
     r'VOC train labels .*2007_000001\.png'),
])
def test_bad_input_named_before_any_write(layout, damage, error, match):
    sbd_cls = osp.join(layout['sbd'], 'dataset', 'cls')
    sets = osp.join(layout['voc'], 'ImageSets', 'Segmentation')
    if damage == 'no_sbd':
        os.remove(osp.join(layout['sbd'], 'dataset', 'train.txt'))
    elif damage == 'empty_val':
        _write_list(osp.join(sets, 'val.txt'), [])
    elif damage == 'bad_id':
        _write_list(osp.join(sets, 'train.txt'), VOC_TRAIN + ['a/b'])
    elif damage == 'no_mat':
        os.remove(osp.join(sbd_cls, '2008_000003.mat'))
    elif damage == 'no_jpg':
        os.remove(osp.join(layout['voc'], 'JPEGImages', '2008_000002.jpg'))
    else:
        os.remove(
            osp.join(layout['voc'], 'SegmentationClass', '2007_000001.png'))
    before = _files(layout['voc'])
    with pytest.raises(error, match=match):
        _tool().main([layout['devkit'], layout['sbd']])
    assert _files(layout['voc']) == before


@pytest.mark.parametrize(
    'content, match', [({
        'other': np.zeros((2, 2))
    }, 'no SBD class annotation'),
                       ({
                           'GTcls': {
                               'Segmentation': np.full((6, 8), 30, np.uint8)
                           }
                       }, r'values \[30\]')],
    ids=['no_GTcls', 'class_30'])
def test_bad_mat_named_and_no_list_written(layout, content, match):
    path = osp.join(layout['sbd'], 'dataset', 'cls', '2008_000002.mat')
    scipy.io.savemat(path, content)
    with pytest.raises(ValueError, match=r'2008_000002\.mat.*' + match):
        _tool().main([layout['devkit'], layout['sbd']])
    assert not osp.exists(_list(layout))
    assert not osp.exists(_aug(layout, '2008_000002'))
