"""Maximum mean discrepancy loss of GMMN."""
from collections import Counter
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmseg.registry import MODELS


def _weights(mask: Optional[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Per-sample weights 1/n_k of each group (0 for padded samples)."""
    if mask is None:
        mask = x.new_ones(x.shape[:2])
    mask = mask.to(x.dtype)
    counts = mask.sum(dim=1, keepdim=True)
    if (counts == 0).any():
        raise ValueError('every group needs at least one sample on each side; '
                         f'got sample counts {counts.flatten().tolist()}')
    return mask / counts


class _PairKernelSum(torch.autograd.Function):
    """``sum_ij wp_i wq_j sum_v exp(c_v max(d2_ij, 0))`` per group, [G],
    with ``d2_ij = ||p_i - q_j||^2``.

    The ``sum_kernels`` path of :func:`mmd2_multi_kernel` as one autograd
    node that goes from the samples to the kernel sum, so that the
    ``[G, n, m]`` block is touched as few times as possible (on the CPU the
    loss is bound by passes over that block):

    - forward: ``c_0 d2`` (``c_0`` the scale of least magnitude) as one
      batched product of augmented samples ``[-2 c_0 p, c_0 |p|^2, c_0]``
      and ``[q, 1, |q|^2]`` (no broadcast sum), then every kernel in place
      in one buffer (a scale twice the previous one is its square, others
      one ``exp``), accumulated into the kernel sum and, for the backward,
      the slope ``sum_v c_v exp(c_v d2)``: four ``[G, n, m]`` buffers in all;
    - backward: ``dL/dp_i = 2 g wp_i ((S wq)_i p_i - (S (wq q))_i)`` (and
      likewise for ``q`` with ``S^T``), two batched products with the slope
      ``S``, no element-wise pass over the block.

    The gradient of the clamp at 0 is taken as 1: rounding makes ``d2`` of
    two equal samples a tiny negative or positive number, and the kernels'
    slope there is ``c_v``, not 0.
    """

    @staticmethod
    def forward(ctx, p: torch.Tensor, q: torch.Tensor, wp: torch.Tensor,
                wq: torch.Tensor, scales: Sequence[float]) -> torch.Tensor:
        need_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        mult = Counter(scales)  # a repeated bandwidth counts each time
        order = sorted(mult, key=abs)
        c0 = order[0]
        ones = p.new_ones(p.shape[:2] + (1, ))
        p_aug = torch.cat(
            [p * (-2 * c0), (p * p).sum(-1, keepdim=True) * c0, ones * c0], -1)
        q_aug = torch.cat([
            q,
            q.new_ones(q.shape[:2] + (1, )), (q * q).sum(-1, keepdim=True)
        ], -1)
        e = torch.bmm(p_aug, q_aug.transpose(1, 2)).clamp_max_(0)  # c0 * d2
        k = torch.exp(e)
        total = k * mult[c0]
        slope = k * (c0 * mult[c0]) if need_grad else None
        last = c0
        for c in order[1:]:
            if c == 2 * last:
                k.mul_(k)
            else:
                torch.mul(e, c / c0, out=k).exp_()
            total.add_(k, alpha=mult[c])
            if need_grad:
                slope.add_(k, alpha=c * mult[c])
            last = c
        ctx.save_for_backward(p, q, wp, wq, slope)
        # sum_ij wp_i total_ij wq_j, as a mat-vec and a dot product
        return (torch.bmm(total, wq[:, :, None])[:, :, 0] * wp).sum(1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        p, q, wp, wq, slope = ctx.saved_tensors
        grad_p = grad_q = None
        g = 2 * grad[:, None, None]
        if ctx.needs_input_grad[0]:
            m = torch.bmm(slope,
                          torch.cat([q * wq[:, :, None], wq[:, :, None]], -1))
            grad_p = g * wp[:, :, None] * (m[..., -1:] * p - m[..., :-1])
        if ctx.needs_input_grad[1]:
            m = torch.bmm(
                slope.transpose(1, 2),
                torch.cat([p * wp[:, :, None], wp[:, :, None]], -1))
            grad_q = g * wq[:, :, None] * (m[..., -1:] * q - m[..., :-1])
        return grad_p, grad_q, None, None, None


def mmd2_multi_kernel(x: torch.Tensor,
                      y: torch.Tensor,
                      bandwidths: Sequence[float],
                      x_mask: Optional[torch.Tensor] = None,
                      y_mask: Optional[torch.Tensor] = None,
                      sum_kernels: bool = False) -> torch.Tensor:
    """Biased MMD^2 per group and per kernel, for any sample counts.

    ``MMD_v^2 = E[k_v(x, x')] + E[k_v(y, y')] - 2 E[k_v(x, y)]`` with Gaussian
    kernels ``k_v(a, b) = exp(-||a - b||^2 / (2 v))``, every expectation the
    mean over all pairs (the biased estimate). Each side is weighted by its own
    sample count, so unequal counts are right (the official weight vector is
    only right for equal counts).

    Args:
        x (Tensor): ``[G, n, D]`` samples of the first distribution per group
            (e.g. generated features of G classes).
        y (Tensor): ``[G, m, D]`` samples of the second distribution.
        bandwidths (Sequence[float]): The kernel variances ``v``.
        x_mask (Tensor, optional): ``[G, n]`` 1 for real samples, 0 for
            padding, so groups can hold different counts.
        y_mask (Tensor, optional): ``[G, m]`` likewise.
        sum_kernels (bool): Return ``sum_v MMD_v^2`` only, ``[G, 1]``: the
            kernels are summed before the weighted sum (the same value,
            fewer operations). Defaults to False.

    Returns:
        Tensor: ``[G, len(bandwidths)]`` MMD^2 values (clamped at 0), or
        ``[G, 1]`` with ``sum_kernels``.
    """
    if x.dim() != 3 or y.dim() != 3 or x.shape[0] != y.shape[0] or \
            x.shape[2] != y.shape[2]:
        raise ValueError(f'expected x [G, n, D] and y [G, m, D]; got '
                         f'{tuple(x.shape)} and {tuple(y.shape)}')
    a = _weights(x_mask, x)
    b = _weights(y_mask, y)
    scales = [-0.5 / float(v) for v in bandwidths]

    def kernels(p: torch.Tensor, wp: torch.Tensor, q: torch.Tensor,
                wq: torch.Tensor) -> torch.Tensor:
        """``[G, V or 1]``: weighted kernel sums over the pairs of p and q."""
        if sum_kernels:
            return _PairKernelSum.apply(p, q, wp, wq, scales)[:, None]
        pp, qq = (p * p).sum(-1), (q * q).sum(-1)
        d2 = torch.baddbmm(
            pp[:, :, None] + qq[:, None, :], p, q.transpose(1, 2), alpha=-2)
        d2 = d2.clamp_min(0)
        w = wp[:, :, None] * wq[:, None, :]
        return torch.stack([(torch.exp(d2 * c) * w).sum((1, 2))
                            for c in scales],
                           dim=1)

    # Three blocks, so that a side without gradient (the real features) has
    # its k(y, y) block computed without autograd: about half the backward.
    kxx = kernels(x, a, x, a)
    kxy = kernels(x, a, y, b)
    if y.requires_grad:
        kyy = kernels(y, b, y, b)
    else:
        with torch.no_grad():
            kyy = kernels(y, b, y, b)
    mmd2 = kxx + kyy - 2 * kxy
    return mmd2.clamp_min(0)


@MODELS.register_module()
class MMDLoss(nn.Module):
    """GMMN loss: ``sqrt(sum_v MMD_v^2)`` per group, averaged over groups.

    The loss of ZS3Net's generator (Bucher et al., NeurIPS 2019), vectorised
    over groups (classes): one call compares generated and real features of
    every class at once. The square root is taken of a value clamped at
    ``eps``, so identical inputs give a finite loss and finite gradients.

    Args:
        bandwidths (Sequence[float]): Kernel variances. Defaults to the
            official code's (2, 5, 10, 20, 40, 80); the paper lists
            (2, 5, 10, 20, 40, 60).
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        eps (float): Lower clamp before the square root. Defaults to 1e-12.
        loss_name (str): Name in the loss dict. Defaults to 'loss_mmd'.
    """

    def __init__(self,
                 bandwidths: Sequence[float] = (2, 5, 10, 20, 40, 80),
                 loss_weight: float = 1.0,
                 eps: float = 1e-12,
                 loss_name: str = 'loss_mmd'):
        super().__init__()
        if len(bandwidths) == 0 or any(float(v) <= 0 for v in bandwidths):
            raise ValueError(f'bandwidths={bandwidths} must be positive '
                             'kernel variances')
        self.bandwidths = tuple(float(v) for v in bandwidths)
        self.loss_weight = loss_weight
        self.eps = eps
        self._loss_name = loss_name

    def forward(self,
                x: torch.Tensor,
                y: torch.Tensor,
                x_mask: Optional[torch.Tensor] = None,
                y_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Loss between ``x`` [G, n, D] and ``y`` [G, m, D] (2-D: 1 group)."""
        if x.dim() == 2 and y.dim() == 2:
            x, y = x[None], y[None]
        # A difference of kernel sums: in float16 (AMP) it was 4-11% off
        # float32 on real features, so it is always taken in float32.
        with torch.autocast(x.device.type, enabled=False):
            mmd2 = mmd2_multi_kernel(
                x.float(),
                y.float(),
                self.bandwidths,
                x_mask,
                y_mask,
                sum_kernels=True)
        per_group = torch.sqrt(mmd2.sum(dim=1).clamp_min(self.eps))
        return self.loss_weight * per_group.mean()

    @property
    def loss_name(self) -> str:
        return self._loss_name
