"""IoU of label maps against a direct set-based computation, pixel by pixel."""

import numpy as np
import pytest

from editgan.eval.iou import confusion, iou_from_confusion, mean_iou


def set_iou(preds, truths, k):
    """IoU of class k from sets of (image, row, col) coordinates."""
    p = {(i, y, x) for i, m in enumerate(preds) for y, x in zip(*np.nonzero(m == k))}
    t = {(i, y, x) for i, m in enumerate(truths) for y, x in zip(*np.nonzero(m == k))}
    return len(p & t) / len(p | t) if p | t else None


def test_iou_matches_a_set_computation_over_several_images():
    rng = np.random.default_rng(0)
    truths = rng.integers(0, 4, size=(3, 7, 5))
    preds = np.where(rng.random((3, 7, 5)) < 0.6, truths, rng.integers(0, 4, size=(3, 7, 5)))
    preds[preds == 3] = 2  # class 3 is never predicted: IoU 0, not NaN
    counts = sum(confusion(p, t, 5) for p, t in zip(preds, truths))
    iou = iou_from_confusion(counts)
    for k in range(4):
        assert iou[k] == pytest.approx(set_iou(preds, truths, k))
    assert iou[3] == 0 and np.isnan(iou[4])  # class 4 occurs nowhere
    assert mean_iou(iou) == pytest.approx(np.mean([set_iou(preds, truths, k) for k in range(4)]))
    assert mean_iou(iou, [0, 4]) == pytest.approx(iou[0])


def test_iou_of_a_hand_worked_example():
    truth = np.array([[0, 0, 1], [1, 1, 2]])
    pred = np.array([[0, 1, 1], [1, 2, 2]])
    # class 0: inter 1, union 2; class 1: inter 2, union 4; class 2: inter 1, union 2
    np.testing.assert_allclose(iou_from_confusion(confusion(pred, truth, 3)), [0.5, 0.5, 0.5])
    assert np.isnan(mean_iou(np.array([np.nan, np.nan])))
    with pytest.raises(ValueError, match="differ in size"):
        confusion(pred[:1], truth, 3)
