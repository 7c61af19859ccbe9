"""Calibrated stacking: choose the seen-score offset without unseen labels."""
from typing import Dict, Sequence

import numpy as np
import torch
from mmengine.model import is_model_wrapper


def _miou(conf: np.ndarray, classes: Sequence[int]) -> float:
    """Mean IoU over ``classes`` that occur (in GT or prediction)."""
    tp = np.diag(conf)
    union = conf.sum(0) + conf.sum(1) - tp
    ious = [tp[c] / union[c] for c in classes if union[c] > 0]
    return float(np.mean(ious)) if ious else 0.0


@torch.no_grad()
def collect_logits(model, dataloader, max_pixels: int = 2_000_000):
    """Scores (uncalibrated) and labels of every valid pixel of a loader.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``[N, C]`` float32 scores and ``[N]``
        labels (ignore pixels removed), at most ``max_pixels`` (a random
        subset beyond that).
    """
    model = model.module if is_model_wrapper(model) else model
    head = model.decode_head
    saved, head.calibration = getattr(head, 'calibration', 0.0), 0.0
    model.eval()
    scores, labels = [], []
    try:
        for batch in dataloader:
            for sample in model.test_step(batch):
                logits = sample.seg_logits.data  # [C, H, W]
                gt = sample.gt_sem_seg.data[0]
                valid = gt != head.ignore_index
                scores.append(logits[:, valid].T.float().cpu().numpy())
                labels.append(gt[valid].cpu().numpy())
    finally:
        head.calibration = saved
    scores, labels = np.concatenate(scores), np.concatenate(labels)
    if len(labels) > max_pixels:
        keep = np.random.default_rng(0).choice(
            len(labels), max_pixels, replace=False)
        scores, labels = scores[keep], labels[keep]
    return scores, labels


def choose_calibration(scores: np.ndarray,
                       labels: np.ndarray,
                       seen: Sequence[int],
                       max_seen_drop: float = 2.0,
                       num_candidates: int = 200) -> Dict[str, float]:
    """The largest seen-score offset that costs at most ``max_seen_drop``.

    Calibrated stacking (Chao et al., 2016; used by SPNet, CaGNet, ZegCLIP)
    subtracts ``gamma`` from the scores of seen classes. Chosen here on
    held-out images that contain **seen classes only**: no unseen label is
    used. Among candidate offsets (quantiles of the margin between the best
    seen and the best unseen score), the largest one whose seen mIoU on these
    images stays within ``max_seen_drop`` mIoU points of the uncalibrated one.

    Args:
        scores (np.ndarray): ``[N, C]`` uncalibrated scores.
        labels (np.ndarray): ``[N]`` labels, all of seen classes.
        seen (Sequence[int]): Seen class indices.
        max_seen_drop (float): Allowed drop of seen mIoU, in points (%).
            Defaults to 2.0.
        num_candidates (int): Candidate offsets. Defaults to 200.

    Returns:
        dict: ``gamma``, ``seen_mIoU`` at 0 and at ``gamma`` (percent).
    """
    seen = np.asarray(sorted(seen))
    num_classes = scores.shape[1]
    unseen = np.setdiff1d(np.arange(num_classes), seen)
    if len(unseen) == 0:
        raise ValueError('calibration needs at least one unseen class')
    bad = np.setdiff1d(np.unique(labels), seen)
    if len(bad):
        raise ValueError(f'calibration images must hold seen classes only; '
                         f'found labels {bad.tolist()}')
    offset = np.zeros(num_classes, np.float32)
    offset[seen] = 1.0

    def seen_miou(gamma: float) -> float:
        pred = np.argmax(scores - gamma * offset, axis=1)
        conf = np.bincount(
            labels * num_classes + pred,
            minlength=num_classes**2).reshape(num_classes, num_classes)
        return 100 * _miou(conf, seen)

    margin = scores[:, seen].max(1) - scores[:, unseen].max(1)
    candidates = np.unique(
        np.quantile(margin[margin > 0], np.linspace(
            0, 1, num_candidates))) if (margin > 0).any() else np.zeros(1)
    base = seen_miou(0.0)
    lo, hi = 0, len(candidates) - 1  # seen mIoU falls as gamma grows
    best = 0.0
    while lo <= hi:
        mid = (lo + hi) // 2
        if seen_miou(float(candidates[mid])) >= base - max_seen_drop:
            best, lo = float(candidates[mid]), mid + 1
        else:
            hi = mid - 1
    return dict(
        gamma=best,
        seen_mIoU_uncalibrated=base,
        seen_mIoU_calibrated=seen_miou(best))
