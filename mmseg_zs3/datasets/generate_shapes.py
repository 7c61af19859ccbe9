"""Writes the compositional-shapes dataset (:class:`ZS3ShapesDataset`)."""
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, Optional

import cv2
import numpy as np
from mmengine.utils import ProgressBar

from .zs3_shapes import COLOUR_RGB, COLOURS, SHAPES, SHAPES_CLASSES

FORMAT_VERSION = 1


def _shape_mask(shape: str, size: int, cx: float, cy: float, r: float,
                angle: float) -> np.ndarray:
    """Binary mask of one shape of radius ``r`` centred at (cx, cy)."""
    mask = np.zeros((size, size), np.uint8)
    rot = np.array([[np.cos(angle), -np.sin(angle)],
                    [np.sin(angle), np.cos(angle)]])

    def poly(points):
        pts = np.asarray(points, np.float64) @ rot.T + (cx, cy)
        cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 1,
                     lineType=cv2.LINE_8, shift=4)

    if shape == 'circle':
        cv2.circle(mask, (int(round(cx * 16)), int(round(cy * 16))),
                   int(round(r * 16)), 1, -1, lineType=cv2.LINE_8, shift=4)
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


def render_shapes_image(rng: np.random.Generator,
                        size: int = 64,
                        max_objects: int = 3,
                        allowed: Optional[np.ndarray] = None):
    """Render one image and its label map.

    Args:
        rng (np.random.Generator): Random source.
        size (int): Image side in pixels. Defaults to 64.
        max_objects (int): 1 to ``max_objects`` objects per image.
            Defaults to 3.
        allowed (np.ndarray, optional): Class indices (1..16) to draw from.
            Defaults to all object classes.

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
    for _ in range(rng.integers(1, max_objects + 1)):
        cls = int(rng.choice(allowed))
        colour, shape = SHAPES_CLASSES[cls].split(' ')
        r = rng.uniform(7, 15) * scale
        cx, cy = rng.uniform(r * 0.6, size - r * 0.6, size=2)
        mask = _shape_mask(shape, size, cx, cy, r,
                           np.deg2rad(rng.uniform(-30, 30)))
        # Shading across the object so that its colour is not one value.
        shade = 1 + 0.15 * (rng.uniform(-1, 1) * (xx - cx / size) +
                            rng.uniform(-1, 1) * (yy - cy / size)) * 4
        obj = _jitter_colour(rng, colour)[None, None] * shade[..., None]
        img[mask] = obj[mask]
        label[mask] = cls
    img += rng.normal(0, 8, img.shape)  # sensor noise
    return np.clip(img, 0, 255).astype(np.uint8), label


def generate_shapes_dataset(root: str,
                            num_train: int = 2400,
                            num_val: int = 300,
                            num_calib: int = 150,
                            image_size: int = 64,
                            seed: int = 0,
                            calib_unseen=None,
                            overwrite: bool = False) -> Dict:
    """Write the shapes dataset under ``root`` in mmseg's folder layout.

    ``img_dir/{train,val,calib}`` and ``ann_dir/{train,val,calib}`` hold PNG
    images and label maps. ``train`` and ``val`` draw from all 16 object
    classes; ``calib`` is a held-out set drawn only from the classes *not* in
    ``calib_unseen``, for choosing a calibration constant without any unseen
    label. The dataset is deterministic in ``seed`` and is written to a
    temporary folder first, then moved into place, so an interrupted run never
    leaves a partial dataset. An existing dataset with the same parameters is
    reused.

    Args:
        root (str): Output folder.
        num_train (int): Training images. Defaults to 2400.
        num_val (int): Validation images. Defaults to 300.
        num_calib (int): Held-out seen-only images. Defaults to 150.
        image_size (int): Image side. Defaults to 64.
        seed (int): Random seed. Defaults to 0.
        calib_unseen (Sequence[str], optional): Classes kept out of the
            ``calib`` split. Defaults to the diagonal ``SHAPES_UNSEEN``.
        overwrite (bool): Rewrite an existing dataset with other parameters
            instead of raising. Defaults to False.

    Returns:
        dict: The parameters written to ``root/meta.json``.
    """
    from .zs3_shapes import SHAPES_UNSEEN
    calib_unseen = tuple(SHAPES_UNSEEN if calib_unseen is None else
                         calib_unseen)
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
    meta_file = osp.join(root, 'meta.json')
    if osp.isfile(meta_file):
        with open(meta_file) as f:
            old = json.load(f)
        if old == meta:
            return meta
        if not overwrite:
            raise FileExistsError(
                f'{root} holds a shapes dataset with other parameters '
                f'({old}); pass overwrite=True (--overwrite) or another root')
    elif osp.isdir(root) and os.listdir(root) and not overwrite:
        raise FileExistsError(f'{root} exists, is not empty and has no '
                              'meta.json; refusing to write into it')

    parent = osp.dirname(osp.abspath(root))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.shapes-tmp-', dir=parent)
    try:
        calib_allowed = np.array([
            i for i in range(1, len(SHAPES_CLASSES))
            if SHAPES_CLASSES[i] not in calib_unseen
        ])
        splits = [('train', num_train, None), ('val', num_val, None),
                  ('calib', num_calib, calib_allowed)]
        total = num_train + num_val + num_calib
        bar = ProgressBar(total) if total >= 200 else None
        for split_idx, (split, n, allowed) in enumerate(splits):
            rng = np.random.default_rng([seed, split_idx])
            os.makedirs(osp.join(tmp, 'img_dir', split))
            os.makedirs(osp.join(tmp, 'ann_dir', split))
            for i in range(n):
                img, label = render_shapes_image(rng, image_size, 3, allowed)
                name = f'{split}_{i:05d}.png'
                cv2.imwrite(
                    osp.join(tmp, 'img_dir', split, name),
                    cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                cv2.imwrite(osp.join(tmp, 'ann_dir', split, name), label)
                if bar is not None:
                    bar.update()
        with open(osp.join(tmp, 'meta.json'), 'w') as f:
            json.dump(meta, f, indent=1)
        if osp.exists(root):
            shutil.rmtree(root)
        os.replace(tmp, root)
    finally:
        if osp.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return meta
