"""Online self-training: pseudo-labels from each training batch."""
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ...splits import SplitSpec, ZeroShotSplit, build_split
from ...utils import pseudo_labels as pl
from .runner_state import unwrapped_model


@HOOKS.register_module()
class OnlinePseudoLabelHook(Hook):
    """Pseudo-labels from the current batch's predictions, every iteration.

    The online variant of ZS5Net's self-training
    (:class:`PseudoLabelHook` labels the whole training set between
    iterations), as transductive ZegCLIP (Zhou et al., CVPR 2023) does:
    before each training step the model predicts the batch as it will be
    trained on (after augmentation; eval mode, no gradient, the model's
    ``inference`` with its ``test_cfg``), and the unlabeled pixels (label
    ``ignore_index``) predicted as an unseen class become that class when
    they are among the top ``percent`` most confident of their class, ranked
    over the batch (``ranking='class'``) or within each image
    (``'image'``). The rules of :class:`PseudoLabelHook` hold: seen labels
    are never changed, and a batch whose labels hold an unseen class (no
    ``MapUnseenToIgnore``) is an error, so no unseen ground truth is used.
    Under DDP each rank ranks its own batch.

    It costs one extra forward pass per iteration. The pseudo-labels are
    written into the batch's ``gt_sem_seg`` before ``train_step``.

    Args:
        percent (float): Share kept, in (0, 100]. Defaults to 25.
        ranking (str): ``'class'`` or ``'image'``. Defaults to 'class'.
        split (dict, optional): The split. Defaults to the model's
            ``ZeroShotDecodeHead`` split.
        begin_iter (int): First iteration that gets pseudo-labels.
            Defaults to 0.

    Raises:
        ValueError: ``percent`` outside (0, 100], an unknown ``ranking``, a
            negative ``begin_iter``; before training, a split without unseen
            classes; in training, an unseen label in a batch.
        TypeError: The batches are not image batches (e.g. the pixel
            batches of ZS3Net's feature-cache stage 2).
    """
    priority = 'NORMAL'

    def __init__(self,
                 percent: float = 25.0,
                 ranking: str = 'class',
                 split: Optional[SplitSpec] = None,
                 begin_iter: int = 0) -> None:
        self.percent = pl.check_percent(percent, 'OnlinePseudoLabelHook')
        self.ranking = pl.check_ranking(ranking, 'OnlinePseudoLabelHook')
        if isinstance(begin_iter, bool) or not isinstance(begin_iter, int) \
                or begin_iter < 0:
            raise ValueError(f'OnlinePseudoLabelHook: begin_iter='
                             f'{begin_iter!r}; expected an integer >= 0')
        self.split_spec = split
        self.begin_iter = begin_iter
        self.split: Optional[ZeroShotSplit] = None
        self.kept = 0  # pseudo-labeled pixels so far (this rank)

    def before_train(self, runner) -> None:
        """Resolve the split against the model's classes.

        Raises:
            ValueError: No split, or one without unseen classes.
        """
        model = unwrapped_model(runner)
        head = getattr(model, 'decode_head', None)
        spec = self.split_spec
        if spec is None:
            spec = getattr(head, 'split', None)
        if spec is None:
            raise ValueError(
                'OnlinePseudoLabelHook: no split: set split=dict(unseen=[...])'
                " on the hook, or use a model whose ZeroShotDecodeHead has "
                'one; a config without unseen classes has nothing to '
                'pseudo-label.')
        classes = runner.train_dataloader.dataset.metainfo['classes']
        self.split = build_split(spec, classes)
        if not self.split.unseen_indices:
            raise ValueError(
                f'OnlinePseudoLabelHook: split {self.split.name!r} has no '
                'unseen class: there is nothing to pseudo-label.')
        self.ignore_index = int(getattr(head, 'ignore_index', 255))

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        """Write the batch's pseudo-labels into its ``gt_sem_seg``."""
        if runner.iter < self.begin_iter or data_batch is None:
            return
        self.kept += self.label_batch(unwrapped_model(runner), data_batch)

    @torch.no_grad()
    def label_batch(self, model, data_batch: dict) -> int:
        """Pseudo-label ``data_batch`` in place.

        Args:
            model (BaseSegmentor): The (unwrapped) segmentor.
            data_batch (dict): ``inputs`` (list of image tensors) and
                ``data_samples`` (with ``gt_sem_seg``), as the dataloader
                yields them.

        Returns:
            int: Pixels pseudo-labeled.
        """
        inputs = data_batch.get('inputs')
        samples = data_batch.get('data_samples')
        if not isinstance(inputs, (list, tuple)) or not samples or \
                not all(isinstance(x, torch.Tensor) and x.dim() == 3
                        for x in inputs):
            raise TypeError(
                'OnlinePseudoLabelHook needs image batches (inputs: a list '
                'of [C, H, W] tensors); got '
                f'{type(inputs).__name__} (a pixel-batch loop such as '
                'ZS3FeatureCacheTrainLoop has no images to predict)')
        unseen = list(self.split.unseen_indices)
        labels = [s.gt_sem_seg.data[0] for s in samples]
        for s, label in zip(samples, labels):
            if torch.isin(label, torch.tensor(unseen,
                                              device=label.device)).any():
                raise ValueError(
                    'OnlinePseudoLabelHook: the label of '
                    f'{s.metainfo.get("seg_map_path")!r} holds unseen classes'
                    '; map them to ignore (SeenOnlyDataset with policy='
                    "'ignore', or MapUnseenToIgnore) so that no unseen "
                    'ground truth is trained on')
        # the preprocessor pads the labels of the samples it gets: clones
        data = model.data_preprocessor(
            dict(
                inputs=list(inputs),
                data_samples=[s.clone() for s in samples]), True)
        x = data['inputs']
        shape = tuple(x.shape[2:])
        metas = [
            dict(
                ori_shape=shape,
                img_shape=shape,
                pad_shape=shape,
                padding_size=[0, 0, 0, 0]) for _ in range(x.shape[0])
        ]
        was_training = model.training
        model.eval()
        try:
            logits = model.inference(x, metas)
        finally:
            model.train(was_training)
        conf, pred = logits.softmax(1).max(1)
        cands = []
        for i, label in enumerate(labels):
            h, w = label.shape  # the stack pads right and bottom
            cands.append(
                pl.candidates(pred[i, :h, :w].cpu().numpy(),
                              conf[i, :h, :w].float().cpu().numpy(),
                              label.cpu().numpy(), unseen, self.ignore_index))
        if self.ranking == 'image':
            cands = [
                pl.keep_top_by_image(c, unseen, self.percent) for c in cands
            ]
            thresholds = {c: 0 for c in unseen}
        else:
            hist = np.zeros((len(unseen), pl.SCORE_LEVELS + 1), np.int64)
            for c in cands:
                pl.add_to_histograms(hist, c, unseen)
            thresholds = {
                c: pl.threshold_of_histogram(h, self.percent)
                for c, h in zip(unseen, hist)
            }
        total = 0
        for s, label, cand in zip(samples, labels, cands):
            new = torch.from_numpy(
                pl.apply_thresholds(cand, thresholds,
                                    self.ignore_index)).to(label)
            fill = (label == self.ignore_index) & (new != self.ignore_index)
            n = int(fill.sum())
            if n:
                label = label.clone()
                label[fill] = new[fill]
                s.gt_sem_seg.data = label[None]
                total += n
        return total
