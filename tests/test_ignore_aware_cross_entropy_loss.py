"""IgnoreAwareCrossEntropyLoss against a float64 reference computed by hand.

mmseg 1.2.2's cross-entropy raises ``IndexError: index 255`` as soon as the
loss has ``class_weight`` and a pixel is labelled ``ignore_index``.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmseg.models.losses.cross_entropy_loss import \
    cross_entropy as mmseg_cross_entropy
from mmseg.registry import MODELS

import mmseg_zs3  # noqa: F401  (registers the loss)

IGNORE = 255


def _reference(pred, label, class_weight, avg_non_ignore):
    """The weighted mean by hand, in float64, one pixel at a time.

    Each labelled pixel contributes ``w[y] * -log softmax(x)[y]`` to the sum
    and ``w[y]`` to the denominator; an ignored pixel contributes nothing to
    the sum and 1 to the denominator unless ``avg_non_ignore``.
    """
    x = pred.double().permute(0, 2, 3, 1).reshape(-1, pred.shape[1]).numpy()
    y = label.reshape(-1).numpy()
    w = (
        np.ones(pred.shape[1])
        if class_weight is None else class_weight.double().numpy())
    total, count = 0.0, 0.0
    for scores, target in zip(x, y):
        if target == IGNORE:
            count += 0.0 if avg_non_ignore else 1.0
            continue
        log_p = scores[target] - np.log(np.exp(scores).sum())
        total += -w[target] * log_p
        count += w[target]
    return total / count


def _inputs(seed=0, ignore_fraction=0.3):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(2, 5, 6, 7, generator=g)
    label = torch.randint(0, 5, (2, 6, 7), generator=g)
    label[torch.rand(2, 6, 7, generator=g) < ignore_fraction] = IGNORE
    weight = torch.rand(5, generator=g) + 0.1
    return pred, label, weight


@pytest.mark.parametrize('avg_non_ignore', [False, True])
@pytest.mark.parametrize('weighted', [True, False])
def test_matches_float64_reference_with_ignored_pixels(avg_non_ignore,
                                                       weighted):
    pred, label, weight = _inputs()
    assert (label == IGNORE).any()
    loss = MODELS.build(
        dict(
            type='IgnoreAwareCrossEntropyLoss',
            class_weight=weight.tolist() if weighted else None,
            avg_non_ignore=avg_non_ignore,
            loss_weight=1.0))
    out = loss(pred, label, ignore_index=IGNORE)
    expected = _reference(pred, label, weight if weighted else None,
                          avg_non_ignore)
    assert out.item() == pytest.approx(expected, rel=1e-6)
    if avg_non_ignore and weighted:  # PyTorch's own weighted mean
        torch.testing.assert_close(
            out,
            F.cross_entropy(pred, label, weight=weight, ignore_index=IGNORE))


def test_mmseg_crashes_where_it_works():
    pred, label, weight = _inputs()
    with pytest.raises(IndexError, match='255'):
        mmseg_cross_entropy(
            pred, label, class_weight=weight, ignore_index=IGNORE)
    loss = MODELS.build(
        dict(type='IgnoreAwareCrossEntropyLoss', class_weight=weight.tolist()))
    assert torch.isfinite(loss(pred, label, ignore_index=IGNORE))


@pytest.mark.parametrize('avg_non_ignore', [False, True])
def test_same_as_mmseg_without_ignored_pixels(avg_non_ignore):
    """Bit for bit: the demo's stage 1 trains exactly as before."""
    pred, label, weight = _inputs(seed=1, ignore_fraction=0)
    ours = MODELS.build(
        dict(
            type='IgnoreAwareCrossEntropyLoss',
            class_weight=weight.tolist(),
            avg_non_ignore=avg_non_ignore))
    theirs = MODELS.build(
        dict(
            type='CrossEntropyLoss',
            class_weight=weight.tolist(),
            avg_non_ignore=avg_non_ignore))
    assert torch.equal(
        ours(pred, label, ignore_index=IGNORE),
        theirs(pred, label, ignore_index=IGNORE))


def test_gradient_ignores_ignored_pixels():
    pred, label, weight = _inputs(seed=2)
    pred.requires_grad_(True)
    loss = MODELS.build(
        dict(type='IgnoreAwareCrossEntropyLoss', class_weight=weight.tolist()))
    loss(pred, label, ignore_index=IGNORE).backward()
    ignored = (label == IGNORE).unsqueeze(1).expand_as(pred)
    assert torch.all(pred.grad[ignored] == 0)
    assert torch.any(pred.grad[~ignored] != 0)


def test_sigmoid_mode_is_mmseg_s():
    loss = MODELS.build(
        dict(type='IgnoreAwareCrossEntropyLoss', use_sigmoid=True))
    assert loss.cls_criterion.__module__.startswith('mmseg.')


def test_class_weight_of_another_length_is_named():
    """torch: 'weight tensor should be defined either for all or no
    classes'."""
    pred, label, _ = _inputs()
    loss = MODELS.build(
        dict(type='IgnoreAwareCrossEntropyLoss', class_weight=[1.0] * 4))
    with pytest.raises(ValueError, match='4 entries.*predicts 5 classes'):
        loss(pred, label, ignore_index=IGNORE)
