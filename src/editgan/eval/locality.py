"""Ground-truth locality of an edit: how much changed outside the edited parts, and how well the
edited parts match where the renderer puts them. Only a synthetic domain with exact part maps
(toonfaces) can give these; EditGAN's real-image benchmark could not.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from editgan.edit.region import dilate
from editgan.errors import InputError
from editgan.eval.iou import confusion, iou_from_confusion


def parts_region(label_maps: Sequence[np.ndarray] | np.ndarray, parts: Sequence[int], dilation: int) -> torch.Tensor:
    """Union over label maps (each int [N, H, W], e.g. the renders before and after an edit) of the
    pixels labelled with one of `parts`, square-dilated by `dilation` pixels -> bool [N, H, W]."""
    maps = [torch.as_tensor(np.asarray(m)) for m in label_maps]
    if not maps or any(m.shape != maps[0].shape or m.ndim != 3 for m in maps):
        raise InputError("parts_region needs label maps of one shape [N, H, W]")
    idx = torch.as_tensor(list(parts))
    union = torch.zeros(maps[0].shape, dtype=torch.bool)
    for m in maps:
        union |= torch.isin(m, idx)
    return dilate(union[:, None], dilation)[:, 0] > 0.5


def outside_change(edited: torch.Tensor, reference: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Mean absolute change outside `region` per image: images float [N, 3, H, W] in [-1, 1],
    region bool [N, h, w] (resized to H x W by nearest neighbour when the grids differ) -> float [N]
    in [0, 1] units (image range mapped to [0, 1]); NaN for an image whose region is everything.

    Examples:
        >>> before = np.zeros((1, 6, 6), dtype=np.int64)
        >>> before[:, 2:4, 2:4] = 3
        >>> after = before.copy()
        >>> after[:, 2:5, 2:5] = 3
        >>> region = parts_region([before, after], [3], dilation=0)   # bool [1, 6, 6], 9 pixels
        >>> reference = torch.zeros(1, 3, 6, 6)
        >>> edited = reference.clone()
        >>> edited[..., 2:5, 2:5] = 1.0                                # changed only inside the region
        >>> outside_change(edited, reference, region).tolist()
        [0.0]
    """
    if edited.shape != reference.shape or edited.ndim != 4:
        raise InputError(f"outside_change needs two image batches of one shape, got {list(edited.shape)}, "
                         f"{list(reference.shape)}")
    if region.ndim != 3 or len(region) != len(edited):
        raise InputError(f"region must be bool [{len(edited)}, h, w], got {list(region.shape)}")
    if region.shape[-2:] != edited.shape[-2:]:
        region = F.interpolate(region[:, None].float(), size=edited.shape[-2:], mode="nearest")[:, 0] > 0.5
    outside = (~region)[:, None].float()
    diff = (edited.float() - reference.float()).abs() / 2  # [-1, 1] -> [0, 1] units
    return (diff * outside).sum(dim=(1, 2, 3)) / (outside.sum(dim=(1, 2, 3)) * edited.shape[1])


def mask_iou(predicted: np.ndarray | torch.Tensor, truth: np.ndarray | torch.Tensor) -> float:
    """Data-set IoU of two bool masks [N, H, W] (intersection and union summed over all images);
    NaN when both are empty.

    Examples:
        >>> a, b = np.zeros((1, 6, 6), dtype=bool), np.zeros((1, 6, 6), dtype=bool)
        >>> a[:, 2:4, 2:4], b[:, 2:5, 2:5] = True, True
        >>> round(mask_iou(a, b), 4)   # 4 / 9
        0.4444
    """
    pred, true = np.asarray(predicted, dtype=bool), np.asarray(truth, dtype=bool)
    if pred.shape != true.shape:
        raise InputError(f"masks differ in shape: {pred.shape} vs {true.shape}")
    return float(iou_from_confusion(confusion(pred.astype(np.int64), true.astype(np.int64), 2))[1])
