"""Pseudo-label maps of ZS5Net's self-training: format, ranking, manifest.

Shared by :class:`~mmseg_zs3.engine.hooks.PseudoLabelHook` (writes the maps),
:class:`~mmseg_zs3.engine.hooks.OnlinePseudoLabelHook` (ranks a batch) and
:class:`~mmseg_zs3.datasets.transforms.LoadPseudoLabels` (reads them).

**Candidates.** A pixel is a candidate of unseen class ``c`` when the model's
prediction (argmax over all classes, as in validation) is ``c`` and its
training label is the ignore index (unseen ground truth is mapped to ignore
before anything reads it). Its score is the softmax probability of ``c``,
quantised to ``0 .. SCORE_LEVELS`` (16 bits).

**Ranking.** Of the candidates of each unseen class only the top ``percent``
are kept (ZS5Net, Bucher et al., NeurIPS 2019, section 3.3: p = 25 on VOC,
75 on Pascal-Context): ``k = ceil(percent / 100 * n)`` of ``n`` candidates;
the threshold is the k-th highest quantised score, and every candidate at or
above it is kept (ties at the threshold are all kept, so a class keeps ``k``
pixels or, on ties, a few more). ``'class'`` ranks each class over the whole
pass (one threshold per class, from a fixed-size histogram of the scores, so
memory does not grow with the number of images); ``'image'`` ranks within
each image (the official directory names say ``top_by_image``).

**Map files.** One PNG per image, ``<image stem>.png``, three 8-bit
channels written and read with OpenCV: channel 0 the candidate's class
(``NO_LABEL`` = 255 for none), channels 1 and 2 the high and low byte of its
quantised score. The class thresholds live in the manifest
(``pseudo_labels.json``, written atomically when a pass is complete), so a
map holds every candidate and the pseudo-label of a pixel is its class where
its score reaches the class threshold (:func:`apply_thresholds`).
"""
import hashlib
import json
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

SCORE_LEVELS = 65535  # quantised scores 0 .. SCORE_LEVELS (uint16)
NO_LABEL = 255  # channel 0 of a map pixel without candidate
RANKINGS = ('class', 'image')
MANIFEST_NAME = 'pseudo_labels.json'
MANIFEST_FORMAT = 'mmseg_zs3.pseudo_labels/1'
MAP_SUFFIX = '.png'
NEVER = SCORE_LEVELS + 1  # threshold of a class with no candidate


def check_percent(percent, owner: str) -> float:
    """Return ``percent`` as a float after checking it is in (0, 100].

    Args:
        percent (float): Share of the candidates of a class to keep, in %.
        owner (str): The component, for the message.

    Returns:
        float: ``percent``.

    Raises:
        ValueError: ``percent`` is not a number in (0, 100].
    """
    if isinstance(percent, bool) or not isinstance(percent, (int, float)) \
            or not (0 < percent <= 100) or math.isnan(percent):
        raise ValueError(
            f'{owner}: percent={percent!r}; expected a number in (0, 100] '
            '(the share of the candidate pixels of each unseen class to keep, '
            'in %: 25 for VOC and 75 for Pascal-Context in ZS5Net)')
    return float(percent)


def check_ranking(ranking, owner: str) -> str:
    """Return ``ranking`` after checking it is one of :data:`RANKINGS`.

    Raises:
        ValueError: Another value.
    """
    if ranking not in RANKINGS:
        raise ValueError(f'{owner}: ranking={ranking!r}; expected one of '
                         f'{list(RANKINGS)}')
    return ranking


def quantize(prob: np.ndarray) -> np.ndarray:
    """Probabilities in [0, 1] to ``uint16`` scores ``0 .. SCORE_LEVELS``."""
    q = np.rint(np.clip(prob, 0.0, 1.0) * SCORE_LEVELS)
    return q.astype(np.uint16)


def keep_count(percent: float, n: int) -> int:
    """``ceil(percent / 100 * n)``: candidates a class keeps (before ties).

    Computed in exact rational arithmetic on ``percent``'s decimal value,
    so that e.g. 25 % of 8 is 2 and not 3 through a rounding error.
    """
    from fractions import Fraction
    return int(math.ceil(Fraction(str(percent)) * n / 100))


def threshold_of_scores(scores: np.ndarray, percent: float) -> int:
    """The threshold that keeps the top ``percent`` of ``scores``.

    Args:
        scores (np.ndarray): Quantised scores of one class's candidates.
        percent (float): Share to keep, in (0, 100].

    Returns:
        int: The k-th highest score (keep ``scores >= threshold``), or
        :data:`NEVER` without candidates.
    """
    n = int(scores.size)
    if n == 0:
        return NEVER
    k = keep_count(percent, n)
    return int(np.partition(scores.ravel(), n - k)[n - k])


def threshold_of_histogram(hist: np.ndarray, percent: float) -> int:
    """:func:`threshold_of_scores` of the scores counted in ``hist``.

    Args:
        hist (np.ndarray): ``[SCORE_LEVELS + 1]`` counts per score.
        percent (float): Share to keep, in (0, 100].

    Returns:
        int: The threshold (:data:`NEVER` for an empty histogram).
    """
    n = int(hist.sum())
    if n == 0:
        return NEVER
    k = keep_count(percent, n)
    # counts of scores >= t, for t = 0 .. SCORE_LEVELS
    at_least = np.cumsum(hist[::-1])[::-1]
    return int(np.flatnonzero(at_least >= k)[-1])


def candidates(pred: np.ndarray, conf: np.ndarray, label: np.ndarray,
               unseen: Sequence[int], ignore_index: int) -> np.ndarray:
    """Candidate map of one image: class and quantised score per pixel.

    Args:
        pred (np.ndarray): ``[H, W]`` predicted class (argmax over all
            classes).
        conf (np.ndarray): ``[H, W]`` its softmax probability.
        label (np.ndarray): ``[H, W]`` training label, unseen classes
            already mapped to ``ignore_index``.
        unseen (Sequence[int]): Unseen class indices (each < 255).
        ignore_index (int): The ignore label.

    Returns:
        np.ndarray: ``[H, W, 3]`` uint8 map (see the module docstring).
    """
    is_candidate = np.isin(pred, unseen) & (label == ignore_index)
    return encode(
        np.where(is_candidate, pred, NO_LABEL).astype(np.uint8),
        np.where(is_candidate, quantize(conf), 0).astype(np.uint16))


def encode(cls: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Stack class (uint8) and score (uint16) maps into a ``[H, W, 3]``
    uint8 map."""
    return np.stack(
        [cls, (score >> 8).astype(np.uint8),
         (score & 255).astype(np.uint8)], -1)


def decode(cand: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Split a ``[H, W, 3]`` map into class (uint8) and score (uint16)."""
    cls = cand[..., 0]
    score = (cand[..., 1].astype(np.uint16) << 8) | cand[..., 2]
    return cls, score


def keep_top_by_image(cand: np.ndarray, unseen: Sequence[int],
                      percent: float) -> np.ndarray:
    """Drop the candidates outside each class's top ``percent`` of this
    image (ranking ``'image'``).

    Args:
        cand (np.ndarray): A ``[H, W, 3]`` candidate map.
        unseen (Sequence[int]): Unseen class indices.
        percent (float): Share to keep, in (0, 100].

    Returns:
        np.ndarray: The map with dropped candidates set to no label.
    """
    cls, score = decode(cand)
    keep = np.zeros(cls.shape, dtype=bool)
    for c in unseen:
        mine = cls == c
        if mine.any():
            keep |= mine & (score >= threshold_of_scores(score[mine], percent))
    return encode(
        np.where(keep, cls, NO_LABEL).astype(np.uint8),
        np.where(keep, score, 0).astype(np.uint16))


def add_to_histograms(hist: np.ndarray, cand: np.ndarray,
                      unseen: Sequence[int]) -> None:
    """Count the candidate scores of one map into ``hist``.

    Args:
        hist (np.ndarray): ``[len(unseen), SCORE_LEVELS + 1]`` int64
            counts, updated in place.
        cand (np.ndarray): A ``[H, W, 3]`` candidate map.
        unseen (Sequence[int]): Unseen class indices, in ``hist``'s order.
    """
    cls, score = decode(cand)
    rows = np.full(256, -1, np.int64)
    rows[list(unseen)] = np.arange(len(unseen))
    row = rows[cls]
    mine = row >= 0
    if not mine.any():
        return
    # one sort over this map's candidates, not one histogram-sized array
    # per class
    keys, counts = np.unique(
        row[mine] * (SCORE_LEVELS + 1) + score[mine], return_counts=True)
    hist.reshape(-1)[keys] += counts


def apply_thresholds(cand: np.ndarray,
                     thresholds: Dict[int, int],
                     ignore_index: int = 255) -> np.ndarray:
    """The pseudo-label map of a candidate map.

    Args:
        cand (np.ndarray): A ``[H, W, 3]`` candidate map.
        thresholds (dict[int, int]): Class index -> threshold.
        ignore_index (int): The label of pixels without pseudo-label.
            Defaults to 255.

    Returns:
        np.ndarray: ``[H, W]`` uint8 labels: the class where its score
        reaches the class threshold, ``ignore_index`` elsewhere.
    """
    cls, score = decode(cand)
    out = np.full(cls.shape, ignore_index, dtype=np.uint8)
    for c, t in thresholds.items():
        keep = (cls == c) & (score >= t)
        out[keep] = c
    return out


def encode_png(cand: np.ndarray) -> bytes:
    """A candidate map as PNG bytes (lossless)."""
    import cv2
    ok, buf = cv2.imencode(MAP_SUFFIX, cand)
    if not ok:
        raise RuntimeError('OpenCV could not encode a pseudo-label map')
    return buf.tobytes()


def read_map(path: str) -> np.ndarray:
    """Read a candidate map written by :func:`encode_png`.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not a ``[H, W, 3]`` 8-bit PNG.
    """
    import cv2
    with open(path, 'rb') as f:
        data = f.read()
    cand = None
    if data:  # OpenCV asserts on an empty buffer
        cand = cv2.imdecode(
            np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if cand is None or cand.dtype != np.uint8 or cand.ndim != 3 or \
            cand.shape[2] != 3:
        raise ValueError(
            f'{path} is not a pseudo-label map (an 8-bit 3-channel PNG '
            'written by PseudoLabelHook); delete its folder and rerun the '
            'pass')
    return cand


def map_name(img_path: str) -> str:
    """The map file name of an image: its stem plus ``.png``."""
    return osp.splitext(osp.basename(str(img_path)))[0] + MAP_SUFFIX


def digest(obj) -> str:
    """SHA-256 of ``obj`` as sorted JSON."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def read_manifest(folder: str) -> Optional[dict]:
    """The manifest of a pseudo-label folder, or None if it has none.

    Raises:
        ValueError: The manifest is no JSON object of this format.
    """
    path = osp.join(folder, MANIFEST_NAME)
    try:
        with open(path, encoding='utf-8') as f:
            manifest = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise ValueError(f'{path} is not a readable pseudo-label manifest '
                         f'({e}); delete it and rerun the pass') from None
    found = manifest.get('format') if isinstance(manifest, dict) else None
    if found != MANIFEST_FORMAT:
        raise ValueError(f'{path} is not a pseudo-label manifest of format '
                         f'{MANIFEST_FORMAT!r} (got format {found!r})')
    return manifest


def manifest_thresholds(manifest: dict) -> Dict[int, int]:
    """Class index -> threshold, from a manifest."""
    classes: List[str] = manifest['classes']
    return {
        classes.index(name): int(t)
        for name, t in manifest['thresholds'].items()
    }
