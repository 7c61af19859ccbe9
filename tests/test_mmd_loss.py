import math

import numpy as np
import pytest
import torch
from mmseg.registry import MODELS

import mmseg_zs3  # noqa: F401
from mmseg_zs3.models.losses import mmd2_multi_kernel

BANDWIDTHS = (2, 5, 10, 20, 40, 80)


def reference_loss(x, y, bandwidths=BANDWIDTHS):
    """Direct O(n^2) double loop in float64."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)

    def mean_k(a, b, v):
        total = 0.0
        for p in a:
            for q in b:
                total += math.exp(-((p - q)**2).sum() / (2 * v))
        return total / (len(a) * len(b))

    s = 0.0
    for v in bandwidths:
        s += mean_k(x, x, v) + mean_k(y, y, v) - 2 * mean_k(x, y, v)
    return math.sqrt(max(s, 0.0))


@pytest.mark.parametrize('n, m', [(6, 6), (4, 9), (11, 3)])
def test_matches_float64_reference(n, m):
    g = torch.Generator().manual_seed(n * 100 + m)
    x = torch.randn(n, 5, generator=g) * 2
    y = torch.randn(m, 5, generator=g) * 2 + 0.7
    loss = MODELS.build(dict(type='MMDLoss'))
    assert abs(float(loss(x, y)) - reference_loss(x, y)) < 1e-5


def test_vectorised_groups_with_padding_equal_separate_calls():
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(k, 3, generator=g) for k in (5, 8)]
    ys = [torch.randn(k, 3, generator=g) + 1 for k in (7, 4)]
    x = torch.zeros(2, 8, 3)
    y = torch.zeros(2, 7, 3)
    xm = torch.zeros(2, 8)
    ym = torch.zeros(2, 7)
    for i in range(2):
        x[i, :len(xs[i])] = xs[i]
        xm[i, :len(xs[i])] = 1
        y[i, :len(ys[i])] = ys[i]
        ym[i, :len(ys[i])] = 1
    loss = MODELS.build(dict(type='MMDLoss'))
    expected = np.mean([reference_loss(xs[i], ys[i]) for i in range(2)])
    assert abs(float(loss(x, y, xm, ym)) - expected) < 1e-5
    per = mmd2_multi_kernel(x, y, BANDWIDTHS, xm, ym)
    assert per.shape == (2, len(BANDWIDTHS))


def test_identical_is_zero_finite_gradient_and_grows_with_shift():
    loss = MODELS.build(dict(type='MMDLoss'))
    x = torch.randn(32, 4, requires_grad=True)
    value = loss(x, x.detach().clone())
    assert float(value) < 1e-5
    value.backward()
    assert torch.isfinite(x.grad).all()
    g = torch.Generator().manual_seed(1)
    a = torch.randn(200, 4, generator=g)
    b = torch.randn(200, 4, generator=g)
    values = [float(loss(a, b + s)) for s in (0.0, 0.5, 1.0, 2.0)]
    assert values == sorted(values) and values[-1] > 5 * values[0]


def test_bad_input():
    with pytest.raises(ValueError, match='bandwidths'):
        MODELS.build(dict(type='MMDLoss', bandwidths=(0, 2)))
    loss = MODELS.build(dict(type='MMDLoss'))
    with pytest.raises(ValueError, match='expected x'):
        loss(torch.randn(2, 3, 4), torch.randn(3, 3, 4))
    with pytest.raises(ValueError, match='at least one sample'):
        loss(
            torch.randn(1, 3, 2), torch.randn(1, 3, 2), torch.zeros(1, 3),
            None)


def test_sum_kernels_gradient_matches_autograd_reference():
    """The fused kernel-sum node gives autograd's value and gradients (per
    kernel path, float64), with masks and unequal counts."""
    torch.manual_seed(0)
    x = torch.randn(3, 7, 5, dtype=torch.float64, requires_grad=True)
    y = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    xm = (torch.rand(3, 7) > 0.3).double()
    xm[:, 0] = 1
    ym = torch.ones(3, 4, dtype=torch.float64)
    ym[1, 3] = 0
    fused = mmd2_multi_kernel(x, y, BANDWIDTHS, xm, ym, sum_kernels=True)
    gx, gy = torch.autograd.grad((fused * torch.arange(1., 4.)[:, None]).sum(),
                                 (x, y))
    reference = mmd2_multi_kernel(x, y, BANDWIDTHS, xm, ym).sum(
        1, keepdim=True)
    rx, ry = torch.autograd.grad(
        (reference * torch.arange(1., 4.)[:, None]).sum(), (x, y))
    torch.testing.assert_close(fused, reference, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gx, rx, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gy, ry, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(
        lambda a, b: mmd2_multi_kernel(a, b, BANDWIDTHS, sum_kernels=True),
        (x[:1, :3].detach().requires_grad_(), y[:1].detach().requires_grad_()))


def test_mmd_loss_is_float32_under_autocast():
    """Under (CPU bfloat16) autocast the loss equals the float32 loss."""
    torch.manual_seed(0)
    x, y = torch.randn(2, 64, 16), torch.randn(2, 64, 16) + 0.3
    loss = MODELS.build(dict(type='MMDLoss'))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        mixed = loss(x, y)
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, loss(x, y))


def test_sum_kernels_with_repeated_and_unrelated_bandwidths():
    """The fused kernel sum derives kernels by squaring (a scale twice the
    previous one's) and by ``exp`` (others): with a bandwidth that has no
    half (3), a repeated one (10, counted twice) and large distances, its
    value and gradients equal the per-kernel path in float64."""
    torch.manual_seed(0)
    bandwidths = (2, 5, 10, 20, 40, 80, 10, 3)
    x = (torch.randn(2, 9, 4, dtype=torch.float64) * 6).requires_grad_()
    y = torch.randn(2, 7, 4, dtype=torch.float64).requires_grad_()
    fused = mmd2_multi_kernel(x, y, bandwidths, sum_kernels=True)
    reference = mmd2_multi_kernel(x, y, bandwidths).sum(1, keepdim=True)
    torch.testing.assert_close(fused, reference, rtol=1e-11, atol=1e-13)
    grads = torch.autograd.grad(fused.sum(), (x, y))
    expected = torch.autograd.grad(reference.sum(), (x, y))
    for g, e in zip(grads, expected):
        torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-13)
