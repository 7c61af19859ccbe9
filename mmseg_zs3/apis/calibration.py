"""Calibrated stacking: choose the seen-score offset without unseen labels."""
import copy
from typing import Dict, Sequence, Tuple

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
    subtracts ``gamma`` from the scores of seen classes. Chosen here on the
    **seen pixels** of held-out images: images that contain seen classes
    only (the shapes demo's ``calib`` split) or, where a dataset has no such
    images (CamVid: every val and test image shows every class), the
    training images that ZS3Net's drop-image rule left out of both stages,
    with their unseen pixels ignored (:func:`held_out_calibration_loader`).
    No unseen label is scored. Among candidate offsets (quantiles of the
    margin between the best seen and the best unseen score), the largest
    one whose seen mIoU on these images stays within ``max_seen_drop`` mIoU
    points of the uncalibrated one.

    Args:
        scores (np.ndarray): ``[N, C]`` uncalibrated scores.
        labels (np.ndarray): ``[N]`` labels, all of seen classes (unseen
            pixels mapped to the ignore index are dropped by
            :func:`collect_logits`).
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


def held_out_calibration_loader(dataset: dict, pipeline: Sequence[dict],
                                dataloader: dict,
                                unseen_indices: Sequence[int]) -> Tuple:
    """Held-out images for :func:`choose_calibration` where no image holds
    seen classes only: the images of ``dataset`` that show an unseen class.

    Under ZS3Net's drop-image rule these are the training images that
    neither stage trains on (stage 1 and the strict stage 2 use the others).
    ``MapUnseenToIgnore`` is inserted after ``LoadAnnotations``, so only
    their seen pixels are scored; which images show an unseen class is read
    as the drop-image rule reads it (the pipeline's ``LoadAnnotations``).

    Args:
        dataset (dict): Config of the training dataset (a ``BaseSegDataset``,
            e.g. the ``dataset`` inside ``SeenOnlyDataset``).
        pipeline (Sequence[dict]): A test pipeline with ``LoadAnnotations``.
        dataloader (dict): Dataloader settings (``batch_size``,
            ``num_workers``, ``sampler``...); its ``dataset`` is replaced.
        unseen_indices (Sequence[int]): The unseen classes.

    Returns:
        tuple: The ``DataLoader`` and its number of images.

    Raises:
        ValueError: ``pipeline`` has no ``LoadAnnotations``, or no image of
            ``dataset`` shows an unseen class.
    """
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmseg'):
        return _held_out_calibration_loader(dataset, pipeline, dataloader,
                                            unseen_indices)


def _held_out_calibration_loader(dataset, pipeline, dataloader,
                                 unseen_indices) -> Tuple:
    from mmengine.runner import Runner
    from mmseg.registry import DATASETS, TRANSFORMS
    pipeline = [dict(t) for t in pipeline]
    at = [i for i, t in enumerate(pipeline) if t['type'] == 'LoadAnnotations']
    if not at:
        raise ValueError('held_out_calibration_loader: the pipeline has no '
                         f'LoadAnnotations: {[t["type"] for t in pipeline]}')
    load = TRANSFORMS.build(pipeline[at[0]])
    pipeline.insert(
        at[0] + 1,
        dict(type='MapUnseenToIgnore', unseen_indices=list(unseen_indices)))
    cfg = copy.deepcopy(dict(dataset))
    cfg.pop('indices', None)
    cfg['pipeline'] = pipeline
    built = DATASETS.build(copy.deepcopy(cfg))
    held_out = []
    for i in range(len(built)):
        info = built.get_data_info(i)
        labels = load(dict(info, seg_fields=[]))['gt_seg_map']
        if np.isin(labels, list(unseen_indices)).any():
            held_out.append(i)
    if not held_out:
        raise ValueError(
            'held_out_calibration_loader: no image of the dataset '
            f'({len(built)} images) shows an unseen class '
            f'{list(unseen_indices)}')
    cfg['indices'] = held_out
    loader = copy.deepcopy(dict(dataloader))
    loader['dataset'] = cfg
    return Runner.build_dataloader(loader), len(held_out)
