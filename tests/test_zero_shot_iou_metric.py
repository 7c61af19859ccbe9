"""Tests of ZeroShotIoUMetric against hand-computed values."""
import pytest
import torch
from mmseg.registry import METRICS  # noqa: E402

from mmseg_zs3.evaluation.metrics import ZeroShotIoUMetric
from mmseg_zs3.evaluation.metrics.zero_shot_iou_metric import harmonic_mean

CLASSES = ('background', 'cat', 'dog', 'cow', 'sheep')
# Two 1x5 images. 255 is ignored. 'sheep' (4) is absent from both sides.
GT = [[0, 0, 0, 1, 1], [2, 2, 3, 3, 255]]
PRED = [[0, 0, 1, 1, 1], [2, 3, 3, 0, 0]]
# Per class, by hand (9 valid pixels):
#   background: inter 2, union 4 -> IoU 1/2, acc 2/3
#   cat:        inter 2, union 3 -> IoU 2/3, acc 1
#   dog:        inter 1, union 2 -> IoU 1/2, acc 1/2
#   cow:        inter 1, union 3 -> IoU 1/3, acc 1/2
#   sheep:      absent            -> IoU NaN, acc NaN
# aAcc = 6/9. Seen = background, cat, dog; unseen = cow, sheep.
S = (1 / 2 + 2 / 3 + 1 / 2) / 3  # 5/9
S_ACC = (2 / 3 + 1 + 1 / 2) / 3  # 13/18


def _samples(gt=GT, pred=PRED, logits=None):
    samples = []
    for n, (g, p) in enumerate(zip(gt, pred)):
        sample = dict(
            gt_sem_seg=dict(data=torch.tensor([[g]])),
            pred_sem_seg=dict(data=torch.tensor([[p]])))
        if logits is not None:
            sample['seg_logits'] = dict(data=logits[n])
        samples.append(sample)
    return samples


def _evaluate(samples, classes=CLASSES, **kwargs):
    metric = METRICS.build(dict(type='ZeroShotIoUMetric', **kwargs))
    metric.dataset_meta = dict(classes=classes)
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def test_seen_unseen_harmonic_ignore_nan():
    out = _evaluate(_samples(), split=dict(unseen=['cow', 'sheep']))
    u = 1 / 3  # sheep is left out
    assert out['aAcc'] == pytest.approx(100 * 6 / 9, abs=0.005)
    assert out['mIoU'] == pytest.approx(100 * (S * 3 + u) / 4, abs=0.005)
    assert out['mIoU_seen'] == pytest.approx(100 * S, abs=0.005)
    assert out['mIoU_unseen'] == pytest.approx(100 * u, abs=0.005)
    assert out['mAcc_seen'] == pytest.approx(100 * S_ACC, abs=0.005)
    assert out['mAcc_unseen'] == pytest.approx(50., abs=0.005)
    assert out['hIoU'] == pytest.approx(100 * 5 / 12, abs=0.005)  # 2SU/(S+U)


def test_zero_nan_policy_reproduces_official_code():
    out = _evaluate(
        _samples(), split=dict(unseen=['cow', 'sheep']), nan_policy='zero')
    u = (1 / 3 + 0) / 2
    assert out['mIoU'] == pytest.approx(100 * (S * 3 + 1 / 3) / 5, abs=0.005)
    assert out['mIoU_unseen'] == pytest.approx(100 * u, abs=0.005)
    assert out['mAcc_unseen'] == pytest.approx(25., abs=0.005)
    assert out['hIoU'] == pytest.approx(100 * 10 / 39, abs=0.005)


def test_named_split_on_a_dataset_class_list():
    classes = ('background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle',
               'bus', 'car', 'cat', 'chair', 'cow', 'diningtable', 'dog',
               'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa',
               'train', 'tvmonitor')
    gt = [[0, 0, 10, 14, 15]]
    pred = [[0, 15, 10, 10, 15]]
    # seen: background 1/2, person 1/2 (13 seen classes absent -> left out)
    # unseen: cow 1/2, motorbike 0
    out = _evaluate(
        _samples(gt, pred), classes=classes, split=dict(name='zs3_voc', k=2))
    assert out['mIoU_seen'] == pytest.approx(50.)
    assert out['mIoU_unseen'] == pytest.approx(25.)
    assert out['hIoU'] == pytest.approx(100 * 2 * .5 * .25 / .75, abs=0.005)


def test_zero_unseen_miou_gives_zero_hiou():
    pred = [[0, 0, 1, 1, 1], [2, 3, 0, 0, 0]]  # cow never right
    out = _evaluate(_samples(pred=pred), split=dict(unseen=['cow']))
    assert out['mIoU_unseen'] == 0.
    assert out['hIoU'] == 0.
    assert harmonic_mean(0., 70.) == 0. and harmonic_mean(70., 0.) == 0.


def test_empty_unseen_set_reports_seen_numbers_only():
    out = _evaluate(_samples(), split=dict(unseen=[]))
    assert set(out) == {'aAcc', 'mIoU', 'mAcc', 'mIoU_seen', 'mAcc_seen'}
    assert out['mIoU_seen'] == out['mIoU']
    assert out['mIoU'] == pytest.approx(100 * (S * 3 + 1 / 3) / 4, abs=0.005)
    assert not any(v != v for v in out.values())  # no NaN


def test_vanilla_zsl_restricts_argmax_to_unseen_classes():
    pred = torch.tensor(PRED)
    logits = 10. * torch.nn.functional.one_hot(pred, 5).permute(0, 2, 1)
    logits = logits.unsqueeze(2)  # [image, C, 1, W]
    # Second image, pixel 3 (GT cow, predicted background): sheep > cow.
    logits[1, 4, 0, 3] = 1.
    out = _evaluate(
        _samples(logits=logits),
        split=dict(unseen=['cow', 'sheep']),
        vanilla_zsl=True)
    # On the two cow pixels, unseen-only argmax: cow, sheep.
    # cow: inter 1, union 2 -> 1/2; sheep: inter 0, union 1 -> 0.
    assert out['mIoU_unseen_vanilla'] == pytest.approx(25.)
    assert out['mIoU_unseen'] == pytest.approx(100 / 3, abs=0.005)


def test_bad_input():
    with pytest.raises(ValueError, match=r"nan_policy='nan'.*'ignore'"):
        ZeroShotIoUMetric(split=dict(unseen=[]), nan_policy='nan')
    with pytest.raises(ValueError, match='nan_policy'):
        ZeroShotIoUMetric(split=dict(unseen=[]), nan_to_num=0)
    with pytest.raises(ValueError, match=r"\['horse'\].*'background'"):
        _evaluate(_samples(), split=dict(unseen=['horse']))
    with pytest.raises(ValueError, match=r'k=3.*\[2, 4, 6, 8, 10\]'):
        _evaluate(_samples(), split=dict(name='zs3_voc', k=3))
    with pytest.raises(KeyError, match='seg_logits'):
        _evaluate(_samples(), split=dict(unseen=['cow']), vanilla_zsl=True)


def _named(samples):
    for n, sample in enumerate(samples):
        sample['seg_map_path'] = f'ann_{n}.png'
        sample['img_path'] = f'img_{n}.jpg'
    return samples


def test_label_value_outside_the_classes_is_refused():
    """mmseg's IoUMetric leaves such pixels out: a perfect prediction of an
    image with a label 40 scored aAcc 100 but mIoU 75, without a word."""
    gt = [[0, 0, 40, 40, 1], [2, 2, 3, 3, 255]]
    with pytest.raises(ValueError) as e:
        _evaluate(_named(_samples(gt=gt, pred=gt)), split=dict(unseen=['cow']))
    assert "'ann_0.png'" in str(e.value) and '[40]' in str(e.value)
    assert '5 classes' in str(e.value) and '2 pixels' in str(e.value)
    # the ignore index stays legal (GT above has 255 in the second image)
    assert _evaluate(_named(_samples()), split=dict(unseen=['cow']))


def test_predicted_class_outside_the_classes_is_refused():
    """A model for more classes than the dataset: its extra predictions were
    left out of the scores."""
    pred = [[0, 0, 1, 1, 7], [2, 3, 3, 0, 0]]
    with pytest.raises(
            ValueError, match="class id 7 for 'img_0.jpg'.*5 "
            'classes'):
        _evaluate(_named(_samples(pred=pred)), split=dict(unseen=['cow']))


def test_prediction_of_another_size_is_refused():
    samples = _named(_samples())
    samples[1]['pred_sem_seg']['data'] = torch.zeros(1, 1, 4, dtype=torch.long)
    with pytest.raises(ValueError, match=r"'ann_1.png' is \(1, 5\).*\(1, 4\)"):
        _evaluate(samples, split=dict(unseen=['cow']))


def test_all_ignore_ground_truth_says_why():
    """mmseg: every metric NaN, no word why."""
    gt = [[255] * 5, [255] * 5]
    with pytest.raises(ValueError) as e:
        _evaluate(_named(_samples(gt=gt)), split=dict(unseen=['cow']))
    assert 'no pixel to score' in str(e.value)
    assert 'all 2 evaluated images' in str(e.value)
    assert 'ignore_index=255' in str(e.value)
    # format_only (a test set without labels) is not scored at all
    metric = METRICS.build(
        dict(
            type='ZeroShotIoUMetric',
            format_only=True,
            split=dict(unseen=['cow'])))
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, _named(_samples(gt=gt)))
