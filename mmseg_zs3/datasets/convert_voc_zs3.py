"""The official ZS3Net VOC training list, from VOCdevkit and SBD.

The official ZS3Net code trains on VOC2012 ``train`` plus SBD
``train_noval`` (SBD ``train`` without the images of VOC2012 ``val``),
duplicates removed, VOC first (``CombineDBs([voc_train, sbd_train_noval],
excluded=[voc_val])``): at most 1,464 + 5,623 = 7,087 images. mmseg's
``voc12aug`` (``train.txt`` + ``aug.txt``, 10,582 images) also holds SBD
``val``. This module writes the SBD part of the official list in mmseg's
voc12aug layout, so that a config trains on it as on voc12aug: VOC2012
``train.txt`` with ``SegmentationClass`` labels, plus the written list with
``SegmentationClassAug`` labels (the SBD ``.mat`` files as PNGs, made as
mmseg's ``tools/dataset_converters/voc_aug.py`` makes them; PNGs already
there are kept, never rewritten).
"""
import os
import os.path as osp
from typing import Dict, List, Sequence

import numpy as np
from PIL import Image

from ..fileio import atomic_open
from ..utils.progress import Progress

OFFICIAL_LIST = 'aug_zs3_official.txt'
MAX_OFFICIAL_IMAGES = 7087
VOC_NUM_CLASSES = 21


def _read_ids(path: str) -> List[str]:
    """Image ids of a list file, one a line (blank lines skipped)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} does not exist (expected an image '
                                'list, one id a line)')
    with open(path, encoding='utf-8') as f:
        ids = [line.strip() for line in f if line.strip()]
    if not ids:
        raise ValueError(f'{path} lists no image')
    bad = [i for i in ids if '/' in i or ' ' in i or i.startswith('.')]
    if bad:
        raise ValueError(f'{path}: {bad[:3]} are no image ids (expected '
                         'names like 2008_000008, one a line)')
    return ids


def _missing(paths: Sequence[str], what: str) -> None:
    missing = [p for p in paths if not osp.isfile(p)]
    if missing:
        raise FileNotFoundError(
            f'{len(missing)} {what} missing, e.g. {missing[:3]}')


def official_voc_ids(voc_train: Sequence[str], voc_val: Sequence[str],
                     sbd_train: Sequence[str]) -> Dict[str, List[str]]:
    """The official list, as ``CombineDBs`` builds it.

    Args:
        voc_train (Sequence[str]): VOC2012 ``train`` ids, in file order.
        voc_val (Sequence[str]): VOC2012 ``val`` ids.
        sbd_train (Sequence[str]): SBD ``train`` ids, in file order.

    Returns:
        dict: ``voc``: the VOC train ids not in val; ``sbd``: the SBD train
        ids in neither VOC val nor VOC train (their labels come from SBD),
        each in file order without duplicates.
    """
    val = set(voc_val)
    voc = list(dict.fromkeys(i for i in voc_train if i not in val))
    taken = set(voc)
    sbd = list(
        dict.fromkeys(i for i in sbd_train if i not in val and i not in taken))
    return dict(voc=voc, sbd=sbd)


def _mat_to_png(mat_path: str, png_path: str) -> None:
    """Write the ``GTcls`` segmentation of an SBD ``.mat`` as a PNG."""
    from scipy.io import loadmat
    try:
        mask = loadmat(mat_path)['GTcls'][0]['Segmentation'][0]
    except (KeyError, IndexError, ValueError, TypeError) as e:
        raise ValueError(f'{mat_path} is no SBD class annotation (expected '
                         f"GTcls.Segmentation): {type(e).__name__}: {e}")
    mask = np.asarray(mask)
    values = np.unique(mask)
    bad = values[(values >= VOC_NUM_CLASSES) & (values != 255)]
    if mask.ndim != 2 or len(bad) or values.min() < 0:
        raise ValueError(f'{mat_path}: a {mask.shape} label map with values '
                         f'{values.tolist()[:10]}; expected a 2-D map of '
                         f'0..{VOC_NUM_CLASSES - 1} (255 = ignore)')
    with atomic_open(png_path, 'wb') as f:
        Image.fromarray(mask.astype(np.uint8)).save(f, format='PNG')


def write_official_voc_list(devkit_path: str,
                            sbd_path: str,
                            out_dir: str = None,
                            overwrite: bool = False) -> dict:
    """Write the SBD part of the official list and its missing PNG labels.

    Every input is checked before anything is written.

    Args:
        devkit_path (str): The ``VOCdevkit`` folder (with ``VOC2012/``).
        sbd_path (str): The SBD ``benchmark_RELEASE`` folder (with
            ``dataset/train.txt`` and ``dataset/cls/*.mat``).
        out_dir (str, optional): Where the PNG labels go. Defaults to
            ``VOC2012/SegmentationClassAug``.
        overwrite (bool): Replace a list file of other contents. Defaults to
            False.

    Returns:
        dict: ``list``: the written list's path, ``voc`` and ``sbd``: the
        image counts, ``converted`` / ``kept``: PNG labels written / already
        there, ``unchanged``: whether the list file was already identical.

    Raises:
        FileNotFoundError: A list, image, label or ``.mat`` file missing
            (the message names it).
        ValueError: A list with no id or a bad one, a ``.mat`` file that is
            no SBD class annotation, or a list file of other contents without
            ``overwrite``.
    """
    voc_root = osp.join(devkit_path, 'VOC2012')
    sets = osp.join(voc_root, 'ImageSets', 'Segmentation')
    voc_train = _read_ids(osp.join(sets, 'train.txt'))
    voc_val = _read_ids(osp.join(sets, 'val.txt'))
    sbd_train = _read_ids(osp.join(sbd_path, 'dataset', 'train.txt'))
    ids = official_voc_ids(voc_train, voc_val, sbd_train)
    out_dir = out_dir or osp.join(voc_root, 'SegmentationClassAug')
    _missing([
        osp.join(voc_root, 'JPEGImages', f'{i}.jpg')
        for i in ids['voc'] + ids['sbd']
    ], 'images (JPEGImages/*.jpg)')
    _missing([
        osp.join(voc_root, 'SegmentationClass', f'{i}.png') for i in ids['voc']
    ], 'VOC train labels (SegmentationClass)')
    todo = [
        i for i in ids['sbd'] if not osp.isfile(osp.join(out_dir, f'{i}.png'))
    ]
    _missing([osp.join(sbd_path, 'dataset', 'cls', f'{i}.mat') for i in todo],
             'SBD labels (dataset/cls/*.mat)')
    list_path = osp.join(sets, OFFICIAL_LIST)
    text = ''.join(f'{i}\n' for i in ids['sbd'])
    unchanged = False
    if osp.exists(list_path):
        with open(list_path, encoding='utf-8') as f:
            unchanged = f.read() == text
        if not unchanged and not overwrite:
            raise ValueError(
                f'{list_path} exists with other contents; pass overwrite '
                '(--overwrite) to replace it')
    for folder in (sets, out_dir):
        probe = folder if osp.isdir(folder) else osp.dirname(folder)
        if not os.access(probe, os.W_OK):
            raise PermissionError(f'{probe} is not writable')
    bar = Progress(len(todo), 'SBD labels to PNG') if todo else None
    for i in todo:
        _mat_to_png(
            osp.join(sbd_path, 'dataset', 'cls', f'{i}.mat'),
            osp.join(out_dir, f'{i}.png'))
        bar.update()
    if not unchanged:
        with atomic_open(list_path, 'w', encoding='utf-8') as f:
            f.write(text)
    return dict(
        list=list_path,
        voc=len(ids['voc']),
        sbd=len(ids['sbd']),
        converted=len(todo),
        kept=len(ids['sbd']) - len(todo),
        unchanged=unchanged)
