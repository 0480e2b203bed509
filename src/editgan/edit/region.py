"""The editing region r of EditGAN Eq. 1, with its transition buffer.

r = {p : y_p in Q_edit} ∪ {p : y_edited_p in Q_edit}, grown by a buffer of `buffer` pixels so that
the generator may model the transition between edited and untouched areas (paper: 5 pixels).

The buffer uses a SQUARE structuring element: a pixel joins r when some pixel of the union lies
within Chebyshev distance `buffer` of it, i.e. a (2*buffer+1)^2 max-pool. This is the shape of the
official release's dilation (a 3x3 kernel applied 3 times, a 3-pixel square buffer) and it is
exactly one separable max_pool2d, with no loop over pixels. Nothing outside the image is in r.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from editgan.errors import InputError

DEFAULT_BUFFER = 5  # pixels, EditGAN Sec. 3.3


def dilate(mask: torch.Tensor, buffer: int) -> torch.Tensor:
    """Square dilation of a mask [N, 1, H, W] (bool or float in {0, 1}) by `buffer` >= 0 pixels
    -> float32 [N, 1, H, W] in {0, 1}.

    Examples:
        >>> mask = torch.zeros(1, 1, 5, 5)
        >>> mask[0, 0, 2, 2] = 1
        >>> dilate(mask, 1)[0, 0].int().tolist()
        [[0, 0, 0, 0, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0], [0, 0, 0, 0, 0]]
    """
    if isinstance(buffer, bool) or not isinstance(buffer, int) or buffer < 0:
        raise InputError(f"buffer must be a non-negative integer number of pixels, got {buffer!r}")
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise InputError(f"mask must be [N, 1, H, W], got {list(mask.shape)}")
    mask = mask.to(torch.float32)
    if buffer == 0:
        return mask
    return F.max_pool2d(mask, kernel_size=2 * buffer + 1, stride=1, padding=buffer)


def edit_region(y: torch.Tensor, y_edited: torch.Tensor, parts: Sequence[int], buffer: int = DEFAULT_BUFFER,
                num_classes: int | None = None) -> torch.Tensor:
    """Region r (Eq. 1) as a float32 mask [N, 1, H, W] in {0, 1}.

    y, y_edited: integer label maps [N, H, W] (the segmentation before and after the user's edit);
    parts: Q_edit, the label indices relevant to the edit (non-empty); buffer: dilation in pixels;
    num_classes: when given, every label in y, y_edited and parts must lie in [0, num_classes).

    Examples:
        >>> y = torch.zeros(1, 6, 6, dtype=torch.long)
        >>> y[:, 2:4, 2:4] = 3                   # part 3 before the edit: 2 x 2 pixels
        >>> y_edited = y.clone()
        >>> y_edited[:, 2:5, 2:5] = 3            # painted larger: 3 x 3
        >>> r = edit_region(y, y_edited, [3], buffer=1)
        >>> r.shape, int(r.sum())                # the 3 x 3 union grown by 1 px: 5 x 5
        (torch.Size([1, 1, 6, 6]), 25)
    """
    for what, t in (("y", y), ("y_edited", y_edited)):
        if not isinstance(t, torch.Tensor) or t.dtype.is_floating_point or t.dtype.is_complex \
                or t.dtype == torch.bool:
            raise InputError(f"{what} must be an integer label tensor [N, H, W]")
        if t.ndim != 3:
            raise InputError(f"{what} must be [N, H, W], got {list(t.shape)}")
    if y.shape != y_edited.shape:
        raise InputError(f"y {list(y.shape)} and y_edited {list(y_edited.shape)} differ in shape")
    parts = list(parts)
    if not parts or not all(isinstance(p, int) and not isinstance(p, bool) for p in parts):
        raise InputError(f"parts (Q_edit) must be a non-empty list of label indices, got {parts!r}")
    if num_classes is not None:
        bad = [p for p in parts if not 0 <= p < num_classes]
        if bad:
            raise InputError(f"parts {bad} are not label indices in [0, {num_classes})")
        for what, t in (("y", y), ("y_edited", y_edited)):
            if t.numel() and (int(t.min()) < 0 or int(t.max()) >= num_classes):
                raise InputError(f"{what} has labels outside [0, {num_classes})")
    q = torch.tensor(parts, dtype=y.dtype, device=y.device)
    union = torch.isin(y, q) | torch.isin(y_edited, q.to(y_edited.dtype))
    return dilate(union[:, None], buffer)


def infer_parts(y: torch.Tensor, y_edited: torch.Tensor) -> list[int]:
    """Q_edit guessed from a repainted label map: label indices, sorted.

    y, y_edited: integer label maps of one shape ([H, W] or [N, H, W]). Every repainted pixel
    (y != y_edited) must lie in the region, so for each (old, new) label pair that occurs among
    repainted pixels, Q_edit gets one of the two: the part with fewer pixels (in y and y_edited
    together). Growing a mouth over skin or shrinking it back both give {mouth}, not the much larger
    skin. InputError when nothing was repainted.

    Examples:
        >>> y = torch.zeros(6, 6, dtype=torch.long)
        >>> y[2:4, 2:4] = 3
        >>> y_edited = y.clone()
        >>> y_edited[2:5, 2:5] = 3               # part 3 grown over background 0
        >>> infer_parts(y, y_edited)
        [3]
    """
    if y.shape != y_edited.shape:
        raise InputError(f"y {list(y.shape)} and y_edited {list(y_edited.shape)} differ in shape")
    changed = y != y_edited
    if not changed.any():
        raise InputError("nothing was repainted: the edited label map equals the current segmentation")
    size = int(max(int(y.max()), int(y_edited.max()))) + 1
    area = torch.bincount(y.flatten(), minlength=size) + torch.bincount(y_edited.flatten(), minlength=size)
    pairs = torch.unique(torch.stack([y[changed], y_edited[changed]], dim=1), dim=0).tolist()
    return sorted({old if (int(area[old]), old) < (int(area[new]), new) else new for old, new in pairs})
