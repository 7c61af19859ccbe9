"""Generalized zero-shot IoU: seen, unseen and harmonic mean IoU."""
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmengine.logging import MMLogger, print_log
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS
from prettytable import PrettyTable

from ...splits import SplitSpec, ZeroShotSplit, build_split

NAN_POLICIES = ('ignore', 'zero')


def harmonic_mean(seen: float, unseen: float) -> float:
    """The harmonic mean ``2SU / (S + U)``; 0 when either side is 0.

    Args:
        seen (float): Seen-class score.
        unseen (float): Unseen-class score.

    Returns:
        float: The harmonic mean (NaN if an input is NaN).
    """
    if np.isnan(seen) or np.isnan(unseen):
        return float('nan')
    if seen <= 0 or unseen <= 0:
        return 0.
    return 2 * seen * unseen / (seen + unseen)


@METRICS.register_module()
class ZeroShotIoUMetric(IoUMetric):
    """IoU metric of generalized zero-shot segmentation.

    Predictions are the argmax over **all** classes (seen and unseen), as in
    ZS3Net (Bucher et al., "Zero-Shot Semantic Segmentation", NeurIPS 2019).
    Besides ``aAcc``, ``mIoU`` and ``mAcc`` over all classes, it reports
    ``mIoU_seen``, ``mIoU_unseen``, ``mAcc_seen``, ``mAcc_unseen`` and the
    harmonic mean ``hIoU = 2 S U / (S + U)`` of the seen and unseen mIoU
    (0 when either is 0), all in percent. Background counts as seen. The
    per-class table has a seen/unseen column. With an empty unseen set only
    the overall and seen numbers are reported (no unseen keys, no ``hIoU``).

    Unlike mmseg's ``IoUMetric``, which drops them from the scores without a
    word, a predicted class id or a label value outside the dataset's
    classes (other than ``ignore_index``), a prediction of another size than
    its label map, and ground truth that is all ``ignore_index`` (every
    metric NaN) are errors that say which file and value.

    Args:
        split (dict | ZeroShotSplit): The split, e.g.
            ``dict(name='zs3_voc', k=2)``, resolved against
            ``dataset_meta['classes']`` once the evaluator sets it.
        nan_policy (str): What a class absent from both ground truth and
            prediction (NaN IoU) contributes to the means. ``'ignore'``
            leaves it out; ``'zero'`` counts it as 0, as the official ZS3Net
            code does. The same applies to the accuracy of a class absent
            from the ground truth. Defaults to ``'ignore'``.
        vanilla_zsl (bool): Also report ``mIoU_unseen_vanilla``, the
            paper's "vanilla" zero-shot number: on unseen ground-truth pixels
            only, the argmax over the unseen classes only. Needs
            ``seg_logits`` in the predictions. Defaults to False.
        **kwargs: Arguments of ``IoUMetric`` (``ignore_index``,
            ``iou_metrics``, ``output_dir``, ...) except ``nan_to_num``,
            which ``nan_policy`` replaces.
    """

    def __init__(self,
                 split: SplitSpec,
                 nan_policy: str = 'ignore',
                 vanilla_zsl: bool = False,
                 **kwargs) -> None:
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f'ZeroShotIoUMetric: nan_policy={nan_policy!r} '
                             'is not supported; valid values are '
                             f'{list(NAN_POLICIES)}.')
        if kwargs.get('nan_to_num') is not None:
            raise ValueError('ZeroShotIoUMetric: use nan_policy=\'zero\' '
                             f'instead of nan_to_num={kwargs["nan_to_num"]}.')
        if not isinstance(split, (dict, ZeroShotSplit)):
            raise TypeError('ZeroShotIoUMetric: split must be a dict or a '
                            f'ZeroShotSplit, got {split!r}.')
        super().__init__(**kwargs)
        if 'mIoU' not in self.metrics:
            self.metrics = ['mIoU'] + list(self.metrics)
        self.split_spec = split
        self.nan_policy = nan_policy
        self.vanilla_zsl = vanilla_zsl
        self._split: Optional[ZeroShotSplit] = None

    @property
    def split(self) -> ZeroShotSplit:
        """ZeroShotSplit: The split resolved against the dataset classes."""
        classes = (self.dataset_meta or {}).get('classes')
        if self._split is None or (classes is not None
                                   and tuple(classes) != self._split.classes):
            self._split = build_split(self.split_spec, classes)
        return self._split

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Accumulate the areas of one batch (and the vanilla-ZSL areas).

        Args:
            data_batch (dict): A batch of data from the dataloader.
            data_samples (Sequence[dict]): A batch of outputs from the model.
        """
        self._check_samples(data_samples)
        num_before = len(self.results)
        super().process(data_batch, data_samples)
        if not self.vanilla_zsl or self.format_only:
            return
        unseen = torch.as_tensor(self.split.unseen_indices, dtype=torch.long)
        num_classes = len(self.dataset_meta['classes'])
        for n, data_sample in enumerate(data_samples):
            if 'seg_logits' not in data_sample:
                raise KeyError('ZeroShotIoUMetric(vanilla_zsl=True) needs '
                               '`seg_logits` in the predictions; got keys '
                               f'{sorted(data_sample)}.')
            logits = data_sample['seg_logits']['data']
            label = data_sample['gt_sem_seg']['data'].to(
                logits.device).reshape(logits.shape[-2:])
            if len(unseen):
                unseen_dev = unseen.to(logits.device)
                pixels = torch.isin(label, unseen_dev)
                pred = unseen_dev[logits[unseen_dev].argmax(dim=0)]
                pred, label = pred[pixels], label[pixels]
            else:
                pred = label = label.new_zeros(0)
            areas = self.intersect_and_union(pred, label, num_classes,
                                             self.ignore_index)
            index = num_before + n
            self.results[index] = tuple(self.results[index]) + tuple(areas)

    def _check_samples(self, data_samples: Sequence[dict]) -> None:
        """Refuse ids that ``IoUMetric`` would silently leave out.

        Raises:
            ValueError: Naming the image or label file: a predicted class id
                or a label value that is no class of the dataset, or a
                prediction of another size than its label map.
        """
        num_classes = len(self.dataset_meta['classes'])
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data']
            if not self.format_only:
                self._check_label(sample, pred, num_classes)
            if pred.numel() and int(pred.max()) >= num_classes:
                raise ValueError(
                    f'ZeroShotIoUMetric: the model predicts class id '
                    f'{int(pred.max())} for {sample.get("img_path")!r}, but '
                    f'the dataset has {num_classes} classes (ids 0..'
                    f'{num_classes - 1}): the model was built for another '
                    'class list; its extra classes would be left out of the '
                    'scores.')

    def _check_label(self, sample: dict, pred, num_classes: int) -> None:
        """Refuse a label map of another size or with non-class values.

        Raises:
            ValueError: Naming the label file and the sizes or values.
        """
        label = sample['gt_sem_seg']['data']
        path = sample.get('seg_map_path', sample.get('img_path'))
        if label.shape[-2:] != pred.shape[-2:]:
            raise ValueError(
                f'ZeroShotIoUMetric: the label map {path!r} is '
                f'{tuple(label.shape[-2:])} (H, W) but the prediction is '
                f'{tuple(pred.shape[-2:])}: a label map must have the size '
                'of its image.')
        bad = (label >= num_classes) & (label != self.ignore_index)
        if bad.any():
            values = sorted(set(label[bad].tolist()))
            raise ValueError(
                f'ZeroShotIoUMetric: the label map {path!r} holds the '
                f'value(s) {values[:8]} in {int(bad.sum())} pixels, but the '
                f'dataset has {num_classes} classes (labels 0..'
                f'{num_classes - 1}) and ignore_index {self.ignore_index}; '
                'these pixels would be left out of the scores. Fix the '
                'label file or the class list.')

    def _nan(self, values: np.ndarray) -> np.ndarray:
        if self.nan_policy == 'zero':
            return np.nan_to_num(values, nan=0.)
        return values

    def _mean(self, values: np.ndarray, indices: Sequence[int]) -> float:
        """Mean in percent over ``indices`` under the NaN policy."""
        chosen = self._nan(np.asarray(values, dtype=np.float64)[list(indices)])
        if chosen.size == 0 or np.all(np.isnan(chosen)):
            return float('nan')
        return float(np.nanmean(chosen) * 100)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Compute the zero-shot metrics from the processed results.

        Args:
            results (list): The processed results of each sample.

        Returns:
            dict[str, float]: ``aAcc``, ``mIoU``, ``mAcc``, ``mIoU_seen``,
            ``mAcc_seen`` and, with unseen classes, ``mIoU_unseen``,
            ``mAcc_unseen``, ``hIoU`` (and ``mIoU_unseen_vanilla``), in
            percent, rounded to 2 decimals.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        if self.format_only:
            return super().compute_metrics(results)
        if not results:
            raise ValueError('ZeroShotIoUMetric: no image was evaluated (the '
                             'dataset is empty).')
        columns = tuple(zip(*results))
        area = [sum(c).double() for c in columns]
        if float(area[3].sum()) == 0:
            raise ValueError(
                f'ZeroShotIoUMetric: no pixel to score: the ground truth of '
                f'all {len(results)} evaluated images is ignore_index='
                f'{self.ignore_index}, so every metric would be NaN. Check '
                'the label files (and reduce_zero_label, which turns the '
                'label 0 into ignore_index); for images without labels, set '
                'format_only=True.')
        ret = self.total_area_to_metrics(area[0], area[1], area[2], area[3],
                                         self.metrics, None, self.beta)
        split = self.split
        seen, unseen = split.seen_indices, split.unseen_indices
        everything = range(split.num_classes)
        iou, acc = ret['IoU'], ret['Acc']

        metrics = OrderedDict(aAcc=float(ret['aAcc']) * 100)
        metrics['mIoU'] = self._mean(iou, everything)
        metrics['mAcc'] = self._mean(acc, everything)
        for key in ('Dice', 'Fscore', 'Precision', 'Recall'):
            if key in ret:
                metrics['m' + key] = self._mean(ret[key], everything)
        metrics['mIoU_seen'] = self._mean(iou, seen)
        metrics['mAcc_seen'] = self._mean(acc, seen)
        vanilla_iou = None
        if unseen:
            metrics['mIoU_unseen'] = self._mean(iou, unseen)
            metrics['mAcc_unseen'] = self._mean(acc, unseen)
            metrics['hIoU'] = harmonic_mean(metrics['mIoU_seen'],
                                            metrics['mIoU_unseen'])
            if self.vanilla_zsl:
                if len(area) != 8:
                    raise RuntimeError('ZeroShotIoUMetric: vanilla-ZSL areas '
                                       'are missing from the results.')
                vanilla_iou = (area[4] / area[5]).numpy()
                metrics['mIoU_unseen_vanilla'] = self._mean(
                    vanilla_iou, unseen)
            if np.isnan(metrics['mIoU_unseen']):
                print_log(
                    'ZeroShotIoUMetric: no unseen class appears in the '
                    'ground truth or the predictions; mIoU_unseen and hIoU '
                    'are NaN.', logger)

        self._log_class_table(ret, vanilla_iou, logger)
        return OrderedDict((k, round(v, 2) if not np.isnan(v) else v)
                           for k, v in metrics.items())

    def _log_class_table(self, ret: dict, vanilla_iou: Optional[np.ndarray],
                         logger: MMLogger) -> None:
        """Print the per-class table with a seen/unseen column."""
        split = self.split
        unseen = set(split.unseen_indices)
        table = PrettyTable()
        table.add_column('Class', list(split.classes))
        table.add_column('Split', [
            'unseen' if i in unseen else 'seen'
            for i in range(split.num_classes)
        ])
        for key, values in ret.items():
            if key != 'aAcc':
                table.add_column(key, np.round(values * 100, 2).tolist())
        if vanilla_iou is not None:
            table.add_column('IoU_vanilla', [
                round(float(v) * 100, 2) if i in unseen else '-'
                for i, v in enumerate(vanilla_iou)
            ])
        print_log(
            f'per class results ({split.name}, NaN policy '
            f"'{self.nan_policy}'):", logger)
        print_log('\n' + table.get_string(), logger=logger)
