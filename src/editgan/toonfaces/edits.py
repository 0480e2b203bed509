"""Which parts each parameter moves, and the target label map a user would paint for an edit.

`PARAM_PARTS[name]` lists the parts whose pixels a change of `name` may touch (besides the parts
they uncover, which take their place). It is the ground-truth Q_edit of EditGAN (Sec. 3.3) for a
parameter edit, and the renderer is tested to respect it.
"""

from __future__ import annotations

import numpy as np

from editgan.errors import InputError
from editgan.toonfaces.params import SPECS, ToonParams
from editgan.toonfaces.render import render
from editgan.toonfaces.scheme import TOONFACES_LABELS

_ALL = TOONFACES_LABELS.names
_MOUTH = ("upper_lip", "lower_lip", "mouth_interior", "teeth")
_EYES = ("eyelid", "sclera", "iris", "pupil")

PARAM_PARTS: dict[str, tuple[str, ...]] = {
    "face_width": _ALL,
    "face_length": _ALL,
    "jaw": ("skin", "neck", "ear", "hair", "background"),
    "skin_tone": ("skin", "neck", "ear", "nose", "eyelid", "upper_lip", "lower_lip"),
    "hair_style": ("hair",),
    "hair_length": ("hair",),
    "hair_color": ("hair", "eyebrow"),
    "eye_color": ("iris",),
    "eye_size": _EYES + ("eyebrow",),
    "eye_spacing": _EYES + ("eyebrow",),
    "nose_shape": ("nose",),
    "lip_thickness": ("upper_lip", "lower_lip"),
    "ear_size": ("ear",),
    "background": ("background",),
    "smile": _MOUTH,
    "mouth_open": _MOUTH,
    "eye_open": _EYES,
    "gaze_x": ("sclera", "iris", "pupil"),
    "gaze_y": ("sclera", "iris", "pupil"),
    "brow_raise": ("eyebrow",),
    "pupil_size": ("iris", "pupil"),
    "head_x": _ALL,
    "head_y": _ALL,
    "head_scale": _ALL,
}
assert set(PARAM_PARTS) == set(SPECS), "every parameter needs its parts"


def changed_params(before: ToonParams, after: ToonParams) -> tuple[str, ...]:
    """Names of the parameters whose values differ, in PARAM_SPECS order."""
    return tuple(n for n in SPECS if getattr(before, n) != getattr(after, n))


def edited_parts(before: ToonParams, after: ToonParams) -> tuple[str, ...]:
    """Part names an edit from `before` to `after` may change, in label order."""
    names = {part for n in changed_params(before, after) for part in PARAM_PARTS[n]}
    return tuple(n for n in TOONFACES_LABELS.names if n in names)


def edit_target(predicted: np.ndarray, before: ToonParams, after: ToonParams) -> tuple[np.ndarray, np.ndarray]:
    """The label map a user would paint to turn `before` into `after`, starting from `predicted`.

    predicted: int label map [S, S] (e.g. the segmentation branch's output for the image of
    `before`), S in 64..256. Inside the edit region -- pixels that are an edited part in the
    prediction, in the render of `before` or in the render of `after` -- the labels become the
    renderer's labels of `after`; elsewhere the prediction is kept.
    Returns (target int64 [S, S], region bool [S, S]).
    """
    predicted = np.asarray(predicted)
    if predicted.ndim != 2 or predicted.shape[0] != predicted.shape[1] or predicted.dtype.kind not in "iu":
        raise InputError(f"predicted labels must be a square integer map [S, S], "
                         f"got {predicted.dtype} {predicted.shape}")
    TOONFACES_LABELS.validate(predicted, "predicted labels")
    size = predicted.shape[0]
    _, labels_before = render(before, size)
    _, labels_after = render(after, size)
    parts = TOONFACES_LABELS.indices(edited_parts(before, after))
    region = np.isin(predicted, parts) | np.isin(labels_before, parts) | np.isin(labels_after, parts)
    target = predicted.astype(np.int64)
    target[region] = labels_after[region]
    return target, region
