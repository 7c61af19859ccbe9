"""Writes the compositional-shapes dataset (:class:`ZS3ShapesDataset`)."""
import json
import logging
import os
import os.path as osp
import re
import shutil
from typing import Callable, Dict, List, Optional

import cv2
import numpy as np
from mmengine.logging import print_log

from ..fileio import format_bytes, make_temp_dir, remove_orphaned_temps
from ..utils.progress import Progress
from .zs3_shapes import COLOUR_RGB, SHAPES, SHAPES_CLASSES

FORMAT_VERSION = 1
SPLITS = ('train', 'val', 'calib')
# What a root written by generate_shapes_dataset may hold: meta.json, the
# PNGs of each split, and SeenOnlyDataset's class-presence cache.
_CACHE_DIR = '.zs3_cache'
_CACHE_FILE_RE = re.compile(r'^class_presence_[0-9a-f]+\.json$')
# Temporary folders of versions before fileio's writer tag.
_LEGACY_TMP_RE = re.compile(r'^\.shapes-tmp-[a-z0-9_]{8}$')


def _shape_mask(shape: str, size: int, cx: float, cy: float, r: float,
                angle: float) -> np.ndarray:
    """Binary mask of one shape of radius ``r`` centred at (cx, cy)."""
    mask = np.zeros((size, size), np.uint8)
    rot = np.array([[np.cos(angle), -np.sin(angle)],
                    [np.sin(angle), np.cos(angle)]])

    def poly(points):
        pts = np.asarray(points, np.float64) @ rot.T + (cx, cy)
        cv2.fillPoly(
            mask, [np.round(pts * 16).astype(np.int32)],
            1,
            lineType=cv2.LINE_8,
            shift=4)

    if shape == 'circle':
        cv2.circle(
            mask, (int(round(cx * 16)), int(round(cy * 16))),
            int(round(r * 16)),
            1,
            -1,
            lineType=cv2.LINE_8,
            shift=4)
    elif shape == 'square':
        s = r * 0.85
        poly([(-s, -s), (s, -s), (s, s), (-s, s)])
    elif shape == 'triangle':
        poly([(0, -r), (r * 0.95, r * 0.75), (-r * 0.95, r * 0.75)])
    elif shape == 'cross':
        a, b = r, r * 0.33
        poly([(-a, -b), (a, -b), (a, b), (-a, b)])
        poly([(-b, -a), (b, -a), (b, a), (-b, a)])
    else:
        raise ValueError(f'unknown shape {shape!r}; expected one of {SHAPES}')
    return mask.astype(bool)


def _jitter_colour(rng: np.random.Generator, colour: str) -> np.ndarray:
    """The colour's RGB with random value, saturation and hue jitter."""
    rgb = np.array(COLOUR_RGB[colour], np.float32)[None, None] / 255.
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[0, 0]
    hsv[0] = (hsv[0] + rng.uniform(-12, 12)) % 360
    hsv[1] = np.clip(hsv[1] * rng.uniform(0.7, 1.1), 0, 1)
    hsv[2] = np.clip(hsv[2] * rng.uniform(0.65, 1.1), 0, 1)
    out = cv2.cvtColor(hsv[None, None].astype(np.float32), cv2.COLOR_HSV2RGB)
    return out[0, 0] * 255.


def _draw_object(rng: np.random.Generator, img: np.ndarray, label: np.ndarray,
                 cls: int, cx: float, cy: float, r: float,
                 colour: Callable[[], np.ndarray]) -> None:
    """Draw class ``cls`` at (cx, cy), radius ``r``, with a shading across
    the object so that its colour is not one value; ``colour()`` gives its
    RGB (called after the shading's draws, the order of the first dataset
    version)."""
    size = label.shape[0]
    shape = SHAPES_CLASSES[cls].split(' ')[1]
    yy, xx = np.mgrid[0:size, 0:size] / size
    mask = _shape_mask(shape, size, cx, cy, r,
                       np.deg2rad(rng.uniform(-30, 30)))
    shade = 1 + 0.15 * (rng.uniform(-1, 1) *
                        (xx - cx / size) + rng.uniform(-1, 1) *
                        (yy - cy / size)) * 4
    obj = colour()[None, None] * shade[..., None]
    img[mask] = obj[mask]
    label[mask] = cls


def _draw_touching_pairs(rng: np.random.Generator, img: np.ndarray,
                         label: np.ndarray, max_pairs: int,
                         allowed: np.ndarray, tint: float) -> None:
    """The context-rich scene: pairs of objects of two different random
    classes, the second drawn against the first (so they touch), each
    tinted ``tint`` toward the other's colour (its appearance depends on
    what it touches)."""
    size = label.shape[0]
    scale = size / 64.
    for _ in range(rng.integers(1, max_pairs + 1)):
        a = int(rng.choice(allowed))
        others = allowed[allowed != a]
        b = int(rng.choice(others)) if len(others) else a
        ra, rb = rng.uniform(8, 13, size=2) * scale
        ca = rng.uniform(ra * 0.8, size - ra * 0.8, size=2)
        theta = rng.uniform(0, 2 * np.pi)
        cb = np.clip(
            ca + (ra + rb) * 0.7 *
            np.array([np.cos(theta), np.sin(theta)]), rb * 0.6,
            size - rb * 0.6)
        col_a = _jitter_colour(rng, SHAPES_CLASSES[a].split(' ')[0])
        col_b = _jitter_colour(rng, SHAPES_CLASSES[b].split(' ')[0])
        _draw_object(rng, img, label, a, ca[0], ca[1], ra, lambda:
                     (1 - tint) * col_a + tint * col_b)
        _draw_object(rng, img, label, b, cb[0], cb[1], rb, lambda:
                     (1 - tint) * col_b + tint * col_a)


def render_shapes_image(rng: np.random.Generator,
                        size: int = 64,
                        max_objects: int = 3,
                        allowed: Optional[np.ndarray] = None,
                        context_rich: bool = False,
                        context_tint: float = 0.35):
    """Render one image and its label map.

    Args:
        rng (np.random.Generator): Random source.
        size (int): Image side in pixels. Defaults to 64.
        max_objects (int): 1 to ``max_objects`` objects per image.
            Defaults to 3.
        allowed (np.ndarray, optional): Class indices (1..16) to draw from.
            Defaults to all object classes.
        context_rich (bool): Draw 1 to ``max(1, max_objects // 2)`` pairs of
            touching objects of two random classes instead of independent
            objects, each object's colour tinted ``context_tint`` toward the
            colour of the object it touches: the appearance of a class then
            depends on its neighbour in the region graph (the demo of ZS3Net
            + GC). Defaults to False.
        context_tint (float): The tint of ``context_rich``. Defaults to
            0.35.

    Returns:
        tuple[np.ndarray, np.ndarray]: RGB uint8 image (H, W, 3) and uint8
        label map (H, W) of class indices.
    """
    if allowed is None:
        allowed = np.arange(1, len(SHAPES_CLASSES))
    # Textured grey ground: a random grey level, a smooth gradient, blotches.
    base = rng.uniform(70, 170)
    yy, xx = np.mgrid[0:size, 0:size] / size
    ground = base + rng.uniform(-25, 25) * xx + rng.uniform(-25, 25) * yy
    blotch = cv2.GaussianBlur(
        rng.normal(0, 30, (size, size)).astype(np.float32), (0, 0), size / 16)
    img = np.repeat((ground + blotch * 2)[..., None], 3, axis=2)
    img += rng.normal(0, 4, (size, size, 3))  # slight colour cast per pixel
    label = np.zeros((size, size), np.uint8)
    scale = size / 64.
    if context_rich:
        _draw_touching_pairs(rng, img, label, max(1, max_objects // 2),
                             np.asarray(allowed), context_tint)
    for _ in range(0 if context_rich else rng.integers(1, max_objects + 1)):
        cls = int(rng.choice(allowed))
        colour = SHAPES_CLASSES[cls].split(' ')[0]
        r = rng.uniform(7, 15) * scale
        cx, cy = rng.uniform(r * 0.6, size - r * 0.6, size=2)
        _draw_object(
            rng,
            img,
            label,
            cls,
            cx,
            cy,
            r,
            lambda colour=colour: _jitter_colour(rng, colour))
    img += rng.normal(0, 8, img.shape)  # sensor noise
    return np.clip(img, 0, 255).astype(np.uint8), label


def _read_meta(root: str) -> Optional[dict]:
    """``root/meta.json`` as written by :func:`generate_shapes_dataset`, or
    None if absent or not such a file."""
    meta_file = osp.join(root, 'meta.json')
    try:
        with open(meta_file, encoding='utf-8') as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    if (not isinstance(meta, dict) or 'format_version' not in meta
            or meta.get('classes') != list(SHAPES_CLASSES)):
        return None
    return meta


def _foreign_entries(root: str) -> List[str]:
    """Paths under ``root`` (relative) that :func:`generate_shapes_dataset`
    does not write: anything but ``meta.json``, the split folders and PNGs
    of ``img_dir``/``ann_dir``, and ``.zs3_cache`` folders of class-presence
    files."""
    foreign = []

    def scan(folder: str, rel: str, allowed) -> None:
        for name in sorted(os.listdir(folder)):
            path, rel_path = osp.join(folder, name), osp.join(rel, name)
            if name == _CACHE_DIR and osp.isdir(path) and not osp.islink(path):
                for entry in sorted(os.listdir(path)):
                    if not (_CACHE_FILE_RE.match(entry) or '.zs3tmp-'
                            in entry) or not osp.isfile(osp.join(path, entry)):
                        foreign.append(osp.join(rel_path, entry))
            elif not allowed(name, path):
                foreign.append(rel_path)
            elif osp.isdir(path):
                children[rel_path](path, rel_path)

    def is_png(split):
        pattern = re.compile(rf'^{split}_\d{{5}}\.png$')
        return lambda name, path: (
            pattern.match(name) is not None and osp.isfile(path) and not osp.
            islink(path))

    def is_dir(name_set):
        return lambda name, path: (
            name in name_set and osp.isdir(path) and not osp.islink(path))

    children = {}
    for top in ('img_dir', 'ann_dir'):
        children[top] = lambda path, rel: scan(path, rel, is_dir(SPLITS))
        for split in SPLITS:
            children[osp.join(top, split)] = (
                lambda path, rel, split=split: scan(path, rel, is_png(split)))

    def top_level(name, path):
        if name == 'meta.json':
            return osp.isfile(path)
        return is_dir(('img_dir', 'ann_dir'))(name, path)

    scan(root, '', top_level)
    return foreign


def _remove_orphans(parent: str) -> None:
    """Remove temporary folders of killed runs next to the dataset root."""
    removed = remove_orphaned_temps(parent)
    for name in sorted(os.listdir(parent)):
        path = osp.join(parent, name)
        if (_LEGACY_TMP_RE.match(name) and osp.isdir(path)
                and not osp.islink(path) and not _foreign_entries(path)):
            size = sum(
                osp.getsize(osp.join(d, f)) for d, _, fs in os.walk(path)
                for f in fs)
            shutil.rmtree(path)
            removed.append((path, size))
    for path, size in removed:
        print_log(
            f'removed {path} ({format_bytes(size)}), a temporary folder '
            'that a killed run left behind',
            logger='current',
            level=logging.WARNING)


def generate_shapes_dataset(root: str,
                            num_train: int = 2400,
                            num_val: int = 300,
                            num_calib: int = 150,
                            image_size: int = 64,
                            seed: int = 0,
                            calib_unseen=None,
                            overwrite: bool = False,
                            context_rich: bool = False) -> Dict:
    """Write the shapes dataset under ``root`` in mmseg's folder layout.

    ``img_dir/{train,val,calib}`` and ``ann_dir/{train,val,calib}`` hold PNG
    images and label maps. ``train`` and ``val`` draw from all 16 object
    classes; ``calib`` is a held-out set drawn only from the classes *not* in
    ``calib_unseen``, for choosing a calibration constant without any unseen
    label. The dataset is deterministic in ``seed`` and is written to a
    temporary folder first, then moved into place, so an interrupted run never
    leaves a partial dataset; the temporary folders of killed runs next to
    ``root`` are removed first (see :func:`~mmseg_zs3.fileio.temp_prefix`).
    An existing dataset with the same parameters is reused.

    Args:
        root (str): Output folder.
        num_train (int): Training images. Defaults to 2400.
        num_val (int): Validation images. Defaults to 300.
        num_calib (int): Held-out seen-only images. Defaults to 150.
        image_size (int): Image side. Defaults to 64.
        seed (int): Random seed. Defaults to 0.
        calib_unseen (Sequence[str], optional): Classes kept out of the
            ``calib`` split. Defaults to the diagonal ``SHAPES_UNSEEN``.
        overwrite (bool): Replace an existing dataset with other parameters
            instead of raising. Only a folder that holds nothing but this
            function's output (its ``meta.json``, the split PNGs and
            ``SeenOnlyDataset``'s ``.zs3_cache``) is replaced. Defaults to
            False.
        context_rich (bool): Scenes of touching object pairs whose colours
            depend on each other (see :func:`render_shapes_image`), for the
            ZS3Net + GC demo. Recorded in ``meta.json`` only when True, so
            the default dataset's ``meta.json`` is unchanged. Defaults to
            False.

    Returns:
        dict: The parameters written to ``root/meta.json``.

    Raises:
        ValueError: A count, ``image_size`` or class name is invalid.
        FileExistsError: ``root`` is a file; or it holds a dataset with other
            parameters and ``overwrite`` is False; or it holds anything this
            function did not write (then ``overwrite`` does not help: nothing
            of it is deleted).
        OSError: The folder of ``root`` is not writable.
    """
    from .zs3_shapes import SHAPES_UNSEEN
    calib_unseen = tuple(SHAPES_UNSEEN if calib_unseen is
                         None else calib_unseen)
    unknown = [c for c in calib_unseen if c not in SHAPES_CLASSES]
    if unknown:
        raise ValueError(f'calib_unseen has unknown classes {unknown}; '
                         f'expected names from {SHAPES_CLASSES}')
    for name, n in [('num_train', num_train), ('num_val', num_val),
                    ('num_calib', num_calib), ('image_size', image_size)]:
        if int(n) < 0 or (name == 'image_size' and n < 16):
            raise ValueError(f'{name}={n} is invalid; expected a count >= 0 '
                             '(image_size >= 16)')
    meta = dict(
        format_version=FORMAT_VERSION,
        classes=list(SHAPES_CLASSES),
        num_train=num_train,
        num_val=num_val,
        num_calib=num_calib,
        image_size=image_size,
        seed=seed,
        calib_unseen=list(calib_unseen))
    if context_rich:
        meta['context_rich'] = True
    if osp.lexists(root) and (osp.islink(root) or not osp.isdir(root)):
        raise FileExistsError(
            f'{root} exists and is not a folder (a file or a symbolic link); '
            'expected a folder for the shapes dataset')
    replace = osp.isdir(root) and bool(os.listdir(root))
    if replace:
        old = _read_meta(root)
        if old == meta:
            return meta
        if not overwrite:
            if old is not None:
                raise FileExistsError(
                    f'{root} holds a shapes dataset with other parameters '
                    f'({old}); pass overwrite=True (--overwrite) or another '
                    'root')
            raise FileExistsError(
                f'{root} exists, is not empty and has no meta.json of a '
                'shapes dataset; refusing to write into it')
        # Not this tool's output (no meta.json of a shapes dataset): name
        # what is there; else name what this tool did not write.
        foreign = (
            sorted(os.listdir(root))
            if old is None else _foreign_entries(root))
        shown = ', '.join(foreign[:5])
        if len(foreign) > 5:
            shown += f' and {len(foreign) - 5} more'
        if old is None:
            raise FileExistsError(
                f'refusing to overwrite {root}: it is not a shapes dataset '
                'written by this tool (no meta.json of one); it holds '
                f'{shown}. --overwrite replaces nothing but this tool\'s own '
                'output; choose another root.')
        if foreign:
            raise FileExistsError(
                f'refusing to overwrite {root}: besides the shapes dataset '
                f'it holds {shown}, which this tool did not write. '
                '--overwrite replaces nothing but this tool\'s own output; '
                'move those files away or choose another root.')

    parent = osp.dirname(osp.abspath(root))
    try:
        os.makedirs(parent, exist_ok=True)
        _remove_orphans(parent)
        tmp = make_temp_dir(root)
    except OSError as e:
        raise OSError(
            e.errno, f'cannot write the shapes dataset {root}: its folder '
            f'{parent} is not writable ({e.strerror})') from e
    try:
        calib_allowed = np.array([
            i for i in range(1, len(SHAPES_CLASSES))
            if SHAPES_CLASSES[i] not in calib_unseen
        ])
        splits = [('train', num_train, None), ('val', num_val, None),
                  ('calib', num_calib, calib_allowed)]
        total = num_train + num_val + num_calib
        bar = Progress(total, 'shapes dataset: images') \
            if total >= 200 else None
        for split_idx, (split, n, allowed) in enumerate(splits):
            rng = np.random.default_rng([seed, split_idx])
            os.makedirs(osp.join(tmp, 'img_dir', split))
            os.makedirs(osp.join(tmp, 'ann_dir', split))
            for i in range(n):
                img, label = render_shapes_image(
                    rng, image_size, 3, allowed, context_rich=context_rich)
                name = f'{split}_{i:05d}.png'
                for path, array in [(osp.join(tmp, 'img_dir', split, name),
                                     cv2.cvtColor(img, cv2.COLOR_RGB2BGR)),
                                    (osp.join(tmp, 'ann_dir', split,
                                              name), label)]:
                    if not cv2.imwrite(path, array):
                        raise OSError(f'could not write {path}')
                if bar is not None:
                    bar.update()
        with open(osp.join(tmp, 'meta.json'), 'w') as f:
            json.dump(meta, f, indent=1)
        if replace:
            # Files may have appeared in ``root`` while this one was written.
            if _read_meta(root) is None or _foreign_entries(root):
                raise FileExistsError(
                    f'{root} changed while the new dataset was written: it '
                    'no longer holds only a shapes dataset; nothing replaced')
            # Move the old dataset aside under a temporary name, then the
            # new one into place: a crash in between leaves the old one as
            # an orphan that the next run removes (it was to be replaced).
            old_dir = make_temp_dir(root)
            os.replace(root, old_dir)
            os.replace(tmp, root)
            shutil.rmtree(old_dir)
        else:
            try:
                os.replace(tmp, root)  # ``root`` is absent or empty
            except OSError:
                # Another process wrote ``root`` meanwhile: the same dataset
                # is as good as ours; anything else is kept and refused.
                if not osp.isdir(root) or _read_meta(root) != meta:
                    raise FileExistsError(
                        f'{root} was written by another process while this '
                        'one generated the dataset; nothing replaced'
                    ) from None
    finally:
        if osp.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return meta
