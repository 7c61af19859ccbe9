"""Segment images from the command line and draw the result with a legend.

The logic of ``tools/image_demo.py`` (mmseg's ``demo/image_demo.py``, for one
image or a folder): the prediction is overlaid by mmseg's
``SegLocalVisualizer``, without its in-image labels, which cover small
images (at 64x64 one label hides an object); a legend strip below the image
names the classes found, largest first, with a ``*`` on classes that were
unseen in training (zero-shot: the split's unseen classes, and classes added
with :func:`~mmseg_zs3.apis.add_classes.add_classes`). Images smaller than
``min_size`` are enlarged first (nearest neighbour, whole factors, so the
pixels stay sharp) so that the overlay and the legend text are readable.
"""
import itertools
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.config import Config

from mmseg_zs3.fileio import atomic_open

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
OUTPUT_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp')
UNSEEN_MARK = '*'
TEST_SIZE_DIVISOR = 32
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_VISUALIZER_IDS = itertools.count()


class ImageDemoError(ValueError):
    """A bad input of the image demo: the message names it."""


def list_images(path: str) -> List[str]:
    """The images to segment: ``path`` itself, or the images in the folder
    ``path`` and its subfolders (by suffix, sorted).

    Args:
        path (str): An image file or a folder.

    Returns:
        list[str]: Image paths.

    Raises:
        ImageDemoError: ``path`` does not exist, or is a folder without
            images.
    """
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise ImageDemoError(f'image {path!r} not found: give an image file '
                             'or a folder of images')
    found = []
    for folder, _, files in os.walk(path):
        found += [
            osp.join(folder, f) for f in files
            if f.lower().endswith(IMAGE_SUFFIXES)
        ]
    if not found:
        raise ImageDemoError(f'the folder {path!r} holds no image (suffixes '
                             f'{list(IMAGE_SUFFIXES)})')
    return sorted(found)


def check_readable_image(path: str) -> None:
    """Raise unless ``path`` is an image that can be decoded (header check
    with pillow, no full decode).

    Raises:
        ImageDemoError: Naming the file and why.
    """
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as img:
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageDemoError(f'cannot read the image {path!r}: '
                             f'{e.__class__.__name__}: {e}') from None


def output_paths(images: Sequence[str], source: str, out_file: Optional[str],
                 out_dir: Optional[str]) -> List[str]:
    """Where each result goes, checked before any work.

    One image: ``out_file``, or ``out_dir/<name>.png``. A folder:
    ``out_dir/<path relative to the folder>.png``.

    Args:
        images (Sequence[str]): The inputs (:func:`list_images`).
        source (str): The image or folder given.
        out_file (str, optional): ``--out-file``.
        out_dir (str, optional): ``--out-dir``.

    Returns:
        list[str]: One output path per image.

    Raises:
        ImageDemoError: Neither or both options, ``--out-file`` for a folder
            or with an unknown suffix, two images that would write one file,
            an output that is an input image, or a path that cannot be
            written (its folder cannot be created or written).
    """
    from mmseg_zs3.embeddings import check_output_path
    if (out_file is None) == (out_dir is None):
        raise ImageDemoError(
            'give --out-file (one image) or --out-dir (an image or a '
            'folder), not ' + ('both' if out_file else 'neither'))
    if out_file is not None:
        if osp.isdir(source):
            raise ImageDemoError(f'{source!r} is a folder: give --out-dir, '
                                 'not --out-file')
        if not out_file.lower().endswith(OUTPUT_SUFFIXES):
            raise ImageDemoError(f'--out-file {out_file!r}: expected a file '
                                 f'name ending in one of {OUTPUT_SUFFIXES}')
        outs, option = [out_file], '--out-file'
    else:
        if osp.isfile(out_dir):
            raise ImageDemoError(f'--out-dir {out_dir!r} is a file, not a '
                                 'folder')
        base = source if osp.isdir(source) else osp.dirname(source)
        outs = [
            osp.join(out_dir,
                     osp.splitext(osp.relpath(p, base))[0] + '.png')
            for p in images
        ]
        option = '--out-dir'
    seen: Dict[str, str] = {}
    for image, out in zip(images, outs):
        key = osp.abspath(out)
        if key in seen:
            raise ImageDemoError(
                f'{seen[key]!r} and {image!r} would both be written to '
                f'{out!r}; rename one of them')
        seen[key] = image
    inputs = {osp.abspath(p) for p in images}
    first_in_folder: Dict[str, str] = {}
    for out in outs:
        first_in_folder.setdefault(osp.dirname(osp.abspath(out)), out)
        if osp.abspath(out) in inputs:
            raise ImageDemoError(f'{option}: the result {out!r} would '
                                 'overwrite that input image; choose another '
                                 'output folder')
        if osp.isdir(out):
            raise ImageDemoError(f'{option}: the result {out!r} is a folder')
    try:
        # one probe per output folder (a folder of many images)
        for out in first_in_folder.values():
            check_output_path(out, option)
    except ValueError as e:
        raise ImageDemoError(str(e)) from None
    return outs


def _legend_entries(labels: np.ndarray, classes: Sequence[str],
                    unseen: Sequence[str]) -> List[Tuple[int, str]]:
    ids, counts = np.unique(labels, return_counts=True)
    order = np.argsort(-counts, kind='stable')
    entries = []
    for i in ids[order]:
        if 0 <= i < len(classes):
            name = classes[i]
            entries.append(
                (int(i), name + (f' {UNSEEN_MARK}' if name in unseen else '')))
    return entries


def legend_strip(entries: Sequence[Tuple[int, str]],
                 palette: Sequence[Sequence[int]],
                 width: int,
                 note: Optional[str] = None,
                 scale: float = 0.5) -> np.ndarray:
    """A white RGB strip with a colour swatch and a name per entry, wrapped
    to ``width`` (wider when one entry needs it), and an optional note.

    Args:
        entries (Sequence[tuple[int, str]]): ``(class index, text)``.
        palette (Sequence[Sequence[int]]): RGB colour per class index.
        width (int): Strip width in pixels.
        note (str, optional): A last line (e.g. what ``*`` means).
        scale (float): OpenCV font scale. Defaults to 0.5 (about 11 px).

    Returns:
        np.ndarray: ``(h, w, 3)`` uint8 RGB.
    """
    thick = max(1, int(round(scale * 2)))
    (_, text_h), base = cv2.getTextSize('Ag', _FONT, scale, thick)
    row_h = text_h + base + 10
    box = text_h + base
    pad = 6
    items = []
    for idx, text in entries:
        w = cv2.getTextSize(text, _FONT, scale, thick)[0][0]
        items.append((idx, text, box + 4 + w + 2 * pad))
    width = max([width] + [w + 2 * pad for _, _, w in items])
    rows: List[list] = [[]]
    x = pad
    for item in items:
        if rows[-1] and x + item[2] > width:
            rows.append([])
            x = pad
        rows[-1].append((x, item))
        x += item[2]
    lines = len(rows) + (1 if note else 0)
    strip = np.full((lines * row_h + pad, width, 3), 255, dtype=np.uint8)
    for r, row in enumerate(rows):
        y = pad + r * row_h
        for x, (idx, text, _) in row:
            color = tuple(int(c) for c in palette[idx])
            cv2.rectangle(strip, (x, y), (x + box, y + box), color, -1)
            cv2.rectangle(strip, (x, y), (x + box, y + box), (0, 0, 0), 1)
            cv2.putText(strip, text, (x + box + 4, y + text_h), _FONT, scale,
                        (0, 0, 0), thick, cv2.LINE_AA)
    if note:
        y = pad + len(rows) * row_h
        cv2.putText(strip, note, (pad, y + text_h), _FONT, scale * 0.9,
                    (80, 80, 80), thick, cv2.LINE_AA)
    return strip


def draw_segmentation(image: np.ndarray,
                      labels: np.ndarray,
                      classes: Sequence[str],
                      palette: Sequence[Sequence[int]],
                      unseen: Sequence[str] = (),
                      opacity: float = 0.5,
                      min_size: int = 256,
                      visualizer=None) -> np.ndarray:
    """The prediction over the image, with a legend strip below.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB.
        labels (np.ndarray): ``(H, W)`` class indices.
        classes (Sequence[str]): Class names by index.
        palette (Sequence[Sequence[int]]): RGB colour by index.
        unseen (Sequence[str]): Classes to mark with ``*``.
        opacity (float): Weight of the colours over the image, in [0, 1].
            Defaults to 0.5.
        min_size (int): Images whose shorter side is smaller are enlarged
            by a whole factor to at least this (nearest neighbour). Defaults
            to 256.
        visualizer (SegLocalVisualizer, optional): One to reuse; a new one
            otherwise.

    Returns:
        np.ndarray: ``(H', W', 3)`` uint8 RGB.
    """
    import torch
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    from mmseg.visualization import SegLocalVisualizer
    h, w = labels.shape
    factor = max(1, -(-int(min_size) // max(1, min(h, w))))
    if factor > 1:
        image = cv2.resize(
            image, (w * factor, h * factor), interpolation=cv2.INTER_NEAREST)
        labels = cv2.resize(
            labels.astype(np.int32), (w * factor, h * factor),
            interpolation=cv2.INTER_NEAREST)
    if visualizer is None:
        visualizer = SegLocalVisualizer(
            name=f'zs3_image_demo_{os.getpid()}_{next(_VISUALIZER_IDS)}')
    visualizer.alpha = float(opacity)
    visualizer.set_dataset_meta(list(classes), [list(p) for p in palette])
    sample = SegDataSample(
        pred_sem_seg=PixelData(
            data=torch.from_numpy(
                np.ascontiguousarray(labels, dtype=np.int64))[None]))
    visualizer.add_datasample(
        'image_demo',
        image,
        sample,
        draw_gt=False,
        draw_pred=True,
        with_labels=False)
    drawn = visualizer.get_image()
    entries = _legend_entries(labels, classes, unseen)
    marked = any(t.endswith(UNSEEN_MARK) for _, t in entries)
    strip = legend_strip(
        entries,
        palette,
        drawn.shape[1],
        note=f'{UNSEEN_MARK} unseen in training (zero-shot)'
        if marked else None,
        scale=0.5 * max(1.0, drawn.shape[1] / 640))  # grows with big images
    if strip.shape[1] > drawn.shape[1]:
        pad = np.full((drawn.shape[0], strip.shape[1] - drawn.shape[1], 3),
                      255,
                      dtype=np.uint8)
        drawn = np.concatenate([drawn, pad], axis=1)
    return np.concatenate([drawn, strip], axis=0)


def write_image(path: str, rgb: np.ndarray) -> None:
    """Encode ``rgb`` by ``path``'s suffix and write it atomically."""
    ok, data = cv2.imencode(
        osp.splitext(path)[1].lower(), np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise ImageDemoError(f'cannot encode an image as {path!r}')
    with atomic_open(path) as f:
        f.write(data.tobytes())


def run_image_demo(source: str,
                   config: str,
                   checkpoint: str,
                   out_file: Optional[str] = None,
                   out_dir: Optional[str] = None,
                   opacity: float = 0.5,
                   device: str = 'cpu',
                   classes: Sequence[str] = (),
                   word_vectors=None,
                   min_size: int = 256,
                   progress: Optional[bool] = None) -> List[dict]:
    """Segment an image or a folder and write the drawn results.

    Every input is checked before the model is built: the images exist and
    can be read, the outputs can be written and overwrite no input,
    ``opacity`` lies in [0, 1]. Images of any size work: when the config's
    data preprocessor does not say how test images are padded
    (``test_cfg``), they are padded to a multiple of 32 and the prediction
    cropped back (mmseg's mechanism; the demo's U-Net needs it).

    Args:
        source (str): An image or a folder of images.
        config (str): The model's config.
        checkpoint (str): Its checkpoint.
        out_file (str, optional): The result of one image.
        out_dir (str, optional): Folder of results (``<name>.png``).
        opacity (float): See :func:`draw_segmentation`. Defaults to 0.5.
        device (str): Defaults to 'cpu'.
        classes (Sequence[str]): Class names to add to the model first (in
            memory, with :func:`~mmseg_zs3.apis.add_classes.add_classes`).
        word_vectors: Their word vectors (see
            :func:`~mmseg_zs3.apis.add_classes.embed_new_classes`).
        min_size (int): See :func:`draw_segmentation`.
        progress (bool, optional): Progress bar (None: when stdout is a
            terminal; log lines otherwise).

    Returns:
        list[dict]: Per image ``image``, ``out``, ``classes`` (the names
        found, largest first) and ``unseen`` (the model's classes unseen in
        training, added ones included).

    Raises:
        ImageDemoError: A bad input (named).
    """
    from mmseg_zs3.utils.progress import track

    from .add_classes import (add_classes, find_feature_caches,
                              unseen_class_names)
    from .inference import inference_model, init_model
    if not (isinstance(opacity, (int, float)) and 0 <= opacity <= 1):
        raise ImageDemoError(f'--opacity {opacity!r}: expected a number in '
                             '[0, 1]')
    images = list_images(source)
    outs = output_paths(images, source, out_file, out_dir)
    for image in images:
        check_readable_image(image)
    for path, what in ((config, 'config'), (checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            raise ImageDemoError(f'{what} {path!r} not found')
    cfg = Config.fromfile(config)
    preprocessor = cfg.model.get('data_preprocessor')
    if isinstance(preprocessor, dict) and not preprocessor.get('test_cfg'):
        # images of any size: padded to a multiple of 32 and cropped back
        # after (mmseg's test_cfg of the data preprocessor; a U-Net needs it)
        preprocessor['test_cfg'] = dict(size_divisor=TEST_SIZE_DIVISOR)
    model = init_model(cfg, checkpoint, device=device)
    if classes:
        # the stage-2 run's stored seen features, if they are next to the
        # checkpoint (else the generator draws them)
        model = add_classes(
            model,
            list(classes),
            word_vectors=word_vectors,
            seen_features=find_feature_caches(checkpoint))
    names = list(model.dataset_meta['classes'])
    palette = model.dataset_meta.get('palette')
    if not palette or len(palette) != len(names):
        from .add_classes import new_class_palette
        palette = new_class_palette([], len(names))
    unseen = unseen_class_names(model)
    from mmseg.visualization import SegLocalVisualizer
    visualizer = SegLocalVisualizer(
        name=f'zs3_image_demo_{os.getpid()}_{next(_VISUALIZER_IDS)}')
    results = []
    for image, out in track(
            list(zip(images, outs)),
            description='image_demo',
            interactive=progress):
        import mmcv
        bgr = mmcv.imread(image)
        if bgr is None:
            raise ImageDemoError(f'cannot read the image {image!r}')
        labels = inference_model(model, bgr).pred_sem_seg.data[0].cpu().numpy()
        drawn = draw_segmentation(bgr[..., ::-1], labels, names, palette,
                                  unseen, opacity, min_size, visualizer)
        write_image(out, drawn)
        results.append(
            dict(
                image=image,
                out=out,
                classes=[
                    names[i]
                    for i, _ in _legend_entries(labels, names, unseen)
                ],
                unseen=list(unseen)))
    return results
