"""Intersection over union of label maps, accumulated over a data set.

For each class k, IoU_k = |pred = k and truth = k| / |pred = k or truth = k| with the counts summed
over all pixels of all images (data-set IoU, not a mean of per-image IoUs). A class that occurs
in neither prediction nor truth has no IoU (NaN) and is left out of the mean.
"""

from __future__ import annotations

import numpy as np


def confusion(pred: np.ndarray, truth: np.ndarray, num_classes: int) -> np.ndarray:
    """Label maps int [..., H, W] (same shape, values in [0, num_classes)) -> counts int64 [K, K],
    row = true class, column = predicted class.

    Examples:
        >>> pred, truth = np.array([[0, 1], [1, 1]]), np.array([[0, 1], [0, 1]])
        >>> confusion(pred, truth, 3).tolist()
        [[1, 1, 0], [0, 2, 0], [0, 0, 0]]
    """
    pred, truth = np.asarray(pred).ravel().astype(np.int64), np.asarray(truth).ravel().astype(np.int64)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction and truth differ in size: {pred.size} vs {truth.size}")
    return np.bincount(truth * num_classes + pred, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def iou_from_confusion(counts: np.ndarray) -> np.ndarray:
    """Confusion counts [K, K] -> IoU per class float [K] in [0, 1], NaN where the class is absent.

    Examples:
        >>> iou_from_confusion(np.array([[1, 1, 0], [0, 2, 0], [0, 0, 0]])).tolist()
        [0.5, 0.6666666666666666, nan]
    """
    counts = np.asarray(counts, dtype=np.float64)
    inter = np.diag(counts)
    union = counts.sum(0) + counts.sum(1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.maximum(union, 1), np.nan)


def mean_iou(iou: np.ndarray, classes: list[int] | None = None) -> float:
    """Mean of the defined IoUs (of `classes` only, when given); NaN if none is defined.

    Examples:
        >>> mean_iou(np.array([0.5, 0.75, np.nan]))
        0.625
        >>> mean_iou(np.array([0.5, 0.75, np.nan]), classes=[1])
        0.75
    """
    values = np.asarray(iou, dtype=np.float64)
    values = values[classes] if classes is not None else values
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")
