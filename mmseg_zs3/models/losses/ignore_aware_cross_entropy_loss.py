"""mmseg's cross-entropy loss, with class weights that allow ignored pixels."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmseg.models.losses import CrossEntropyLoss
from mmseg.models.losses.utils import weight_reduce_loss
from mmseg.registry import MODELS
from torch import Tensor


def cross_entropy(pred: Tensor,
                  label: Tensor,
                  weight: Optional[Tensor] = None,
                  class_weight: Optional[Tensor] = None,
                  reduction: str = 'mean',
                  avg_factor: Optional[float] = None,
                  ignore_index: int = -100,
                  avg_non_ignore: bool = False) -> Tensor:
    """Softmax cross-entropy as mmseg 1.x's, correct with ignored pixels.

    mmseg 1.2.2's ``cross_entropy`` computes the class-weighted mean's
    denominator as ``torch.stack([class_weight[cls] for cls in label])``,
    which indexes the class weights with every label, the ignore index
    included: any ignored pixel (255) raises ``IndexError: index 255 is out of
    bounds`` (open-mmlab/mmsegmentation#3734). This version looks the weights
    up for labelled pixels only (one vectorised gather) and gives ignored
    pixels the weight they have without class weights:

    - ``avg_non_ignore=True``: ``sum_i w[y_i] l_i / sum_i w[y_i]`` over the
      labelled pixels, i.e. exactly ``F.cross_entropy(weight=w,
      ignore_index=..., reduction='mean')``;
    - ``avg_non_ignore=False`` (mmseg's default): ignored pixels count 1 in
      the denominator, ``sum_i w[y_i] l_i / (sum_i w[y_i] + n_ignored)``, as
      each pixel counts 1 in mmseg's unweighted mean over all pixels.

    Without ignored pixels, and without class weights, the result is the
    same as mmseg's (bit for bit: the same tensors are summed).

    Args:
        pred (Tensor): Scores ``(N, C, H, W)`` or ``(N, C)``.
        label (Tensor): Labels ``(N, H, W)`` or ``(N,)``.
        weight (Tensor, optional): Per-pixel weights. Defaults to None.
        class_weight (Tensor, optional): ``(C,)`` class weights. Defaults to
            None.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to
            'mean'.
        avg_factor (float, optional): Denominator of the mean; computed as
            above when None. Defaults to None.
        ignore_index (int): Label of pixels without a class. Defaults to -100.
        avg_non_ignore (bool): Average over labelled pixels only. Defaults to
            False.

    Returns:
        Tensor: The loss.
    """
    loss = F.cross_entropy(
        pred,
        label,
        weight=class_weight,
        reduction='none',
        ignore_index=ignore_index)
    if avg_factor is None and reduction == 'mean':
        valid = label != ignore_index
        if class_weight is None:
            avg_factor = (
                valid.sum().item() if avg_non_ignore else label.numel())
        else:
            safe = torch.where(valid, label, torch.zeros_like(label))
            label_weights = class_weight[safe] * valid.to(class_weight.dtype)
            avg_factor = label_weights.sum()
            if not avg_non_ignore:
                avg_factor = avg_factor + (~valid).sum()
    if weight is not None:
        weight = weight.float()
    return weight_reduce_loss(
        loss, weight=weight, reduction=reduction, avg_factor=avg_factor)


@MODELS.register_module()
class IgnoreAwareCrossEntropyLoss(CrossEntropyLoss):
    """mmseg's ``CrossEntropyLoss`` whose ``class_weight`` works with ignored
    pixels.

    With mmseg 1.2.2's loss, ``class_weight`` and any pixel labelled
    ``ignore_index`` (VOC's object borders, or unseen classes under the
    peers' ``policy='ignore'``) crash with ``IndexError: index 255 is out of
    bounds``; see :func:`cross_entropy` for the fix and how ignored pixels
    are averaged. Everything else (arguments, sigmoid and mask modes, the
    loss name) is mmseg's. The zs3 model configs use it.

    Args:
        **kwargs: Arguments of mmseg's ``CrossEntropyLoss``.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if not self.use_sigmoid and not self.use_mask:
            self.cls_criterion = cross_entropy

    def forward(self, cls_score: Tensor, label: Tensor, *args,
                **kwargs) -> Tensor:
        """As mmseg's; a ``class_weight`` of another length is an error.

        Raises:
            ValueError: If ``class_weight`` has another length than the
                scores have classes (torch: "weight tensor should be defined
                either for all or no classes").
        """
        if (self.class_weight is not None and not self.use_sigmoid
                and len(self.class_weight) != cls_score.shape[1]):
            raise ValueError(
                f'{type(self).__name__}: class_weight has '
                f'{len(self.class_weight)} entries, but the head predicts '
                f'{cls_score.shape[1]} classes: give one weight per class.')
        return super().forward(cls_score, label, *args, **kwargs)
