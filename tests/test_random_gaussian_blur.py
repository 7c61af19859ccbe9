"""RandomGaussianBlur: ZS3Net's stage-1 blur, against a float64 reference."""
import numpy as np
import pytest

from mmseg_zs3.datasets.transforms import RandomGaussianBlur


def _reference_blur(img: np.ndarray, sigma: float, reach: int) -> np.ndarray:
    """Separable Gaussian in float64: kernel size by OpenCV's rule
    ``round(2 * reach * sigma + 1) | 1``, border reflected without repeating
    the edge pixel (numpy's 'reflect')."""
    size = int(np.round(2 * reach * sigma + 1)) | 1
    r = size // 2
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-x**2 / (2 * sigma**2))
    k /= k.sum()
    out = img.astype(np.float64)
    pad = [(r, r), (0, 0)] + [(0, 0)] * (img.ndim - 2)
    for axis in (0, 1):
        p = np.pad(
            out,
            pad if axis == 0 else [pad[1], pad[0]] + pad[2:],
            mode='reflect')
        out = sum(k[i] * np.take(p, range(i, i + out.shape[axis]), axis=axis)
                  for i in range(size))
    return out


def _always(sigma):
    return RandomGaussianBlur(prob=1., sigma_range=(sigma, sigma))


@pytest.mark.parametrize('sigma', [0.4, 0.8, 1.0, 2.5])
def test_float_image_matches_reference(sigma):
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 255, (13, 17, 3)).astype(np.float32)
    img[6, 8] = 1000.  # an impulse next to noise
    out = _always(sigma)(dict(img=img.copy()))['img']
    assert out.dtype == np.float32 and out.shape == img.shape
    np.testing.assert_allclose(out, _reference_blur(img, sigma, 4), atol=2e-3)


def test_uint8_image_matches_reference_and_keeps_dtype():
    img = np.zeros((15, 15, 3), np.uint8)
    img[7, 7] = 255
    img[0, :, 1] = 200  # an edge row: reflected border
    out = _always(1.0)(dict(img=img.copy()))['img']
    assert out.dtype == np.uint8
    ref = _reference_blur(img, 1.0, 3)
    assert np.abs(out.astype(np.float64) - ref).max() <= 1.0  # rounding


def test_labels_untouched_and_sigma_zero_is_identity():
    img = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    seg = np.arange(64, dtype=np.uint8).reshape(8, 8)
    res = _always(1.0)(dict(img=img.copy(), gt_seg_map=seg.copy()))
    np.testing.assert_array_equal(res['gt_seg_map'], seg)
    assert not np.array_equal(res['img'], img)
    res = _always(0.)(dict(img=img.copy()))
    np.testing.assert_array_equal(res['img'], img)
    res = RandomGaussianBlur(prob=0.)(dict(img=img.copy()))
    np.testing.assert_array_equal(res['img'], img)


def test_probability_and_sigma_are_drawn_per_image():
    np.random.seed(0)
    t = RandomGaussianBlur(prob=0.5, sigma_range=(0.5, 1.0))
    img = np.zeros((9, 9), np.float32)
    img[4, 4] = 1.
    centres = [t(dict(img=img.copy()))['img'][4, 4] for _ in range(400)]
    blurred = [c for c in centres if c < 1.]
    assert 160 < len(blurred) < 240  # binomial(400, 0.5): mean 200, sd 10
    # the centre of a blurred impulse is 1/(2 pi sigma^2)-ish: sigma varies
    assert len(set(np.round(blurred, 4))) > 50
    assert min(blurred) > _reference_blur(img, 1.0, 4)[4, 4] - 1e-3
    assert max(blurred) < _reference_blur(img, 0.5, 4)[4, 4] + 1e-3


@pytest.mark.parametrize('kwargs, match', [
    (dict(prob=1.5), r'prob=1\.5; expected a probability'),
    (dict(prob=-0.1), r'prob=-0\.1'),
    (dict(sigma_range=(1., 0.5)), r'sigma_range=\(1\.0, 0\.5\)'),
    (dict(sigma_range=(-1., 0.5)), r'sigma_range=\(-1\.0, 0\.5\)'),
    (dict(sigma_range=(1., )), r'sigma_range=\(1\.0,\)'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RandomGaussianBlur(**kwargs)


def test_builds_from_registry():
    from mmseg.registry import TRANSFORMS
    t = TRANSFORMS.build(dict(type='RandomGaussianBlur'))
    assert isinstance(t, RandomGaussianBlur)
    assert t.prob == 0.5 and t.sigma_range == (0., 1.)
