import numpy as np
import pytest

from mmseg_zs3.apis.calibration import choose_calibration


def test_largest_offset_within_the_allowed_seen_drop():
    # classes: 0, 1 seen; 2 unseen. Calibration images hold seen classes only.
    # Pixel margins (best seen - best unseen) are 0.1, 0.2, ..., 1.0; each
    # pixel is predicted right until gamma exceeds its margin, then it turns
    # into the unseen class 2.
    margins = np.linspace(0.1, 1.0, 10)
    labels = np.array([0] * 5 + [1] * 5)
    scores = np.zeros((10, 3), np.float32)
    scores[np.arange(10), labels] = margins
    out = choose_calibration(scores, labels, seen=[0, 1], max_seen_drop=100)
    # any gamma is allowed: the largest candidate is the largest margin
    assert out['gamma'] == pytest.approx(1.0)
    out = choose_calibration(scores, labels, seen=[0, 1], max_seen_drop=0.0)
    # no drop allowed: gamma must keep every pixel, i.e. stay below 0.1
    assert out['gamma'] < 0.1 + 1e-6
    assert out['seen_mIoU_calibrated'] == pytest.approx(100.0)
    # allow losing pixel 0 only (class 0: 4/5 right -> IoU 0.8; class 1 1.0;
    # seen mIoU 90): a drop of 10 points, for any gamma in [0.1, 0.2)
    out = choose_calibration(scores, labels, seen=[0, 1], max_seen_drop=10)
    assert 0.1 <= out['gamma'] < 0.2
    assert out['seen_mIoU_calibrated'] == pytest.approx(90.0)


def test_bad_input():
    scores = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match='seen classes only'):
        choose_calibration(scores, np.array([0, 2]), seen=[0, 1])
    with pytest.raises(ValueError, match='unseen class'):
        choose_calibration(scores, np.array([0, 1]), seen=[0, 1, 2])
