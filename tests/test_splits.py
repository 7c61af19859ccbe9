"""Tests of the named zero-shot splits (ZS3NET.md section 7)."""
import pytest
from mmseg.datasets import PascalContextDataset  # noqa
from mmseg.datasets import COCOStuffDataset, PascalVOCDataset

from mmseg_zs3.splits import ZeroShotSplit, build_split, get_split, list_splits

VOC = PascalVOCDataset.METAINFO['classes']
CONTEXT = PascalContextDataset.METAINFO['classes']
COCO = COCOStuffDataset.METAINFO['classes']

# ZS3NET.md section 7, cumulative.
ZS3_VOC = {
    2: {'cow', 'motorbike'},
    4: {'cow', 'motorbike', 'aeroplane', 'sofa'},
    6: {'cow', 'motorbike', 'aeroplane', 'sofa', 'cat', 'tvmonitor'},
    8: {
        'cow', 'motorbike', 'aeroplane', 'sofa', 'cat', 'tvmonitor', 'train',
        'bottle'
    },
    10: {
        'cow', 'motorbike', 'aeroplane', 'sofa', 'cat', 'tvmonitor', 'train',
        'bottle', 'chair', 'pottedplant'
    },
}
ZS3_CONTEXT = {
    2: {'cow', 'motorbike'},
    4: {'cow', 'motorbike', 'sofa', 'cat'},
    6: {'cow', 'motorbike', 'sofa', 'cat', 'boat', 'fence'},
    8:
    {'cow', 'motorbike', 'sofa', 'cat', 'boat', 'fence', 'bird', 'tvmonitor'},
    10: {
        'cow', 'motorbike', 'sofa', 'cat', 'boat', 'fence', 'bird',
        'tvmonitor', 'keyboard', 'aeroplane'
    },
}
# Indices read off mmseg's class tuples by hand.
VOC_INDICES_K10 = (1, 5, 8, 9, 10, 14, 16, 18, 19, 20)
CONTEXT_INDICES_K10 = (1, 7, 8, 15, 20, 25, 32, 34, 49, 55)  # alphabetical
COCO_INDICES = (19, 23, 28, 29, 36, 51, 76, 88, 94, 112, 133, 136, 137, 157,
                160)


@pytest.mark.parametrize('name,table', [('zs3_voc', ZS3_VOC),
                                        ('voc12', ZS3_VOC),
                                        ('zs3_context', ZS3_CONTEXT),
                                        ('context60', ZS3_CONTEXT)])
def test_zs3_splits_match_the_paper(name, table):
    assert list_splits()[name] == (2, 4, 6, 8, 10)
    for k, unseen in table.items():
        split = get_split(name, k)
        assert set(split.unseen_names) == unseen
        assert len(split.unseen_indices) == k
        assert set(split.seen_names) | unseen == set(split.classes)
        assert 'background' in split.seen_names
        assert split.name.endswith(f'_k{k}')


def test_default_class_lists_are_mmseg_datasets():
    assert get_split('zs3_voc', 2).classes == tuple(VOC)
    context = get_split('zs3_context', 2).classes
    assert context == tuple(CONTEXT) and len(context) == 60
    assert get_split('spnet_cocostuff').classes == tuple(COCO)
    assert len(COCO) == 171


def test_indices_are_global_mmseg_indices():
    voc = get_split('voc12', 2)
    assert voc.unseen_indices == (10, 14)
    assert voc.seen_indices == tuple(i for i in range(21) if i not in (10, 14))
    assert get_split('voc12', 10).unseen_indices == VOC_INDICES_K10
    ctx = get_split('context60', 2)
    assert ctx.unseen_indices == (20, 34)
    assert get_split('context60', 10).unseen_indices == CONTEXT_INDICES_K10
    coco = get_split('spnet_cocostuff', 15)
    assert coco.unseen_indices == COCO_INDICES
    for split in (voc, ctx, coco):
        for i, name in zip(split.unseen_indices, split.unseen_names):
            assert split.classes[i] == name


def test_peer_splits():
    voc = get_split('spnet_voc')
    assert voc.unseen_names == ('pottedplant', 'sheep', 'sofa', 'train',
                                'tvmonitor')
    assert voc.unseen_indices == (16, 17, 18, 19, 20)
    coco = get_split('spnet_cocostuff', 15)
    assert set(coco.unseen_names) == {
        'cow', 'giraffe', 'suitcase', 'frisbee', 'skateboard', 'carrot',
        'scissors', 'cardboard', 'clouds', 'grass', 'playingfield', 'river',
        'road', 'tree', 'wall-concrete'
    }


def test_resolved_by_name_in_any_class_order():
    # ZS3's own Context order puts the VOC classes first; indices follow.
    # (Context calls VOC's 'diningtable' 'table', so 19 + background first.)
    first = tuple(c for c in VOC if c in CONTEXT)
    reordered = first + tuple(c for c in CONTEXT if c not in first)
    assert len(first) == 20 and sorted(reordered) == sorted(CONTEXT)
    split = get_split('zs3_context', 2, classes=reordered)
    assert split.unseen_indices == (10, 13)
    rebuilt = build_split(get_split('zs3_context', 2), CONTEXT)
    assert rebuilt.unseen_indices == (20, 34)


def test_build_split_specs():
    named = build_split(dict(name='zs3_voc', k=4), VOC)
    assert named == get_split('zs3_voc', 4)
    custom = build_split(dict(unseen=['sofa', 'cat']), ['a', 'cat', 'sofa'])
    assert custom.name == 'custom'
    assert custom.unseen_names == ('cat', 'sofa')
    assert custom.unseen_indices == (1, 2) and custom.seen_indices == (0, )
    assert build_split(custom, None) is custom
    empty = build_split(dict(unseen=[], name='supervised'), VOC)
    assert empty.unseen_indices == () and len(empty.seen_indices) == 21


def test_bad_input():
    with pytest.raises(ValueError, match=r"\['lion'\].*'background'"):
        build_split(dict(unseen=['cow', 'lion']), VOC)
    with pytest.raises(
            ValueError, match="Unknown split name 'zs3_ade'.*"
            'spnet_voc'):
        get_split('zs3_ade', 2)
    with pytest.raises(ValueError, match=r'k=3.*\[2, 4, 6, 8, 10\]'):
        get_split('zs3_voc', 3)
    with pytest.raises(ValueError, match=r'needs k, one of \[2, 4'):
        get_split('zs3_context')
    with pytest.raises(ValueError, match=r'k=2.*\[5\]'):
        build_split(dict(name='spnet_voc', k=2))
    with pytest.raises(ValueError, match='wall-concrete.*not classes'):
        get_split('spnet_cocostuff', classes=VOC)
    with pytest.raises(ValueError, match='repeated'):
        build_split(dict(unseen=['cow', 'cow']), VOC)
    with pytest.raises(ValueError, match='at least one seen class'):
        build_split(dict(unseen=['a', 'b']), ['a', 'b'])
    with pytest.raises(ValueError, match='unexpected keys'):
        build_split(dict(name='zs3_voc', k=2, unseen=['cow']), VOC)
    with pytest.raises(ValueError, match='needs either'):
        build_split(dict(k=2), VOC)
    with pytest.raises(ValueError, match='list of class names'):
        build_split(dict(unseen='cow'), VOC)
    with pytest.raises(TypeError, match='ZeroShotSplit or a dict'):
        build_split('zs3_voc', VOC)


def test_split_is_frozen():
    split = ZeroShotSplit(('a', 'b', 'c'), ('c', 'a'))
    assert split.unseen_names == ('a', 'c')
    with pytest.raises(Exception):
        split.name = 'other'


def test_stage1_configs_use_one_split_everywhere():
    import glob
    import os.path as osp
    import re

    from mmengine import Config
    files = sorted(
        glob.glob(
            osp.join(
                osp.dirname(__file__), '..', 'configs', 'zs3',
                'seen-only_deeplabv3plus_r101-d16-mg248_*-zs3k*.py')))
    assert len(files) == 10
    # Loading one config takes ~1 s (mmengine reads mmseg's metafiles for
    # every `mmseg::` base), so check the extreme K of each dataset.
    for path in [f for f in files if re.search(r'-zs3k(2|10)-', f)]:
        dataset, k = re.search(r'_(voc12aug|context60)-zs3k(\d+)-',
                               path).groups()
        cfg = Config.fromfile(path)
        split = cfg.train_dataloader.dataset.split
        assert split == dict(
            name='zs3_voc' if dataset == 'voc12aug' else 'zs3_context',
            k=int(k))
        assert cfg.val_evaluator.split == split
        assert cfg.test_evaluator.split == split
        assert cfg.val_evaluator.type == 'ZeroShotIoUMetric'
        assert cfg.train_dataloader.dataset.policy == 'drop_image'
        num_classes = len(get_split(split['name'], split['k']).classes)
        assert cfg.model.decode_head.num_classes == num_classes
        assert cfg.train_dataloader.batch_size == (16 if dataset == 'voc12aug'
                                                   else 10)


def test_class_indices_instead_of_names():
    """``unseen=[1, 6]`` was a TypeError from inside difflib."""
    with pytest.raises(TypeError) as e:
        build_split(dict(unseen=[1, 6]), classes=VOC)
    msg = str(e.value)
    assert 'by name (str), not int: got [1, 6]' in msg
    assert "unseen=['aeroplane', 'bus']" in msg  # what the indices stand for
    assert repr(list(VOC)) in msg
    with pytest.raises(TypeError, match=r"not int: got \['cow', 99\]"):
        ZeroShotSplit(VOC, ('cow', 99))  # out of range: no name suggested
    with pytest.raises(TypeError, match='class names'):
        ZeroShotSplit((0, 1, 2), ('cow', ))
