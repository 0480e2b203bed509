"""Which parts each parameter moves, and the target label map a user would paint for an edit.

`PARAM_PARTS[name]` lists the parts whose pixels a change of `name` may touch (besides the parts
they uncover, which take their place). It is the ground-truth Q_edit of EditGAN (Sec. 3.3) for a
parameter edit, and the renderer is tested to respect it. The pixels an edit repaints are fewer:
`edit_target` carries only the renderer's change onto a predicted segmentation, and those pixels
(grown by Eq. 1's buffer) are the edit region, also for parameters that move the whole face.
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

    predicted: int label map [S, S] (the segmentation the tool shows for the image of `before`), S in
    64..256. A user paints the edit, not the prediction's errors: at the pixels whose label the
    renderer changes (render(before, S) vs render(after, S): parts that appear, vanish or move) the
    target takes render(after)'s label; everywhere else it keeps the prediction, so a pixel the
    renderer leaves alone is never repainted (`repaint_precision` 1).
    The change is carried pixel for pixel, not aligned to the prediction: where the predicted part is
    larger or a few pixels off, its rim outside the change stays (e.g. a sclera sliver under a closed
    lid). Moving or clearing that rim would repaint pixels where the prediction already disagrees
    with the renderer before the edit, i.e. the embedding's error; and on the default edits' learning
    faces that disagreement is mostly one of size and shape (the best shift of up to 3 px removes
    under a quarter of it on 19 of 24), which no alignment by a shift would carry.
    Returns (target int64 [S, S], repainted bool [S, S] = target != predicted, the renderer's change
    less the pixels the prediction already shows as render(after)): the painted region for
    `learn_edit` / `Editor.edit` (region="painted", painted=repainted; the buffer grows it).
    """
    predicted = np.asarray(predicted)
    if predicted.ndim != 2 or predicted.shape[0] != predicted.shape[1] or predicted.dtype.kind not in "iu":
        raise InputError(f"predicted labels must be a square integer map [S, S], "
                         f"got {predicted.dtype} {predicted.shape}")
    TOONFACES_LABELS.validate(predicted, "predicted labels")
    size = predicted.shape[0]
    _, labels_before = render(before, size)
    _, labels_after = render(after, size)
    changed = labels_before != labels_after
    target = predicted.astype(np.int64)
    target[changed] = labels_after[changed]
    return target, target != predicted


def repaint_precision(predicted: np.ndarray, target: np.ndarray, labels_before: np.ndarray,
                      labels_after: np.ndarray) -> float:
    """Share of the repainted pixels (target != predicted) whose label the renderer changes
    (labels_before != labels_after), in [0, 1]: 1 when a target paints only the edit; nan when
    nothing is repainted. All four are label maps of one shape."""
    maps = [np.asarray(m) for m in (predicted, target, labels_before, labels_after)]
    if len({m.shape for m in maps}) != 1:
        raise InputError(f"label maps must share one shape, got {', '.join(str(list(m.shape)) for m in maps)}")
    repainted = maps[1] != maps[0]
    count = int(repainted.sum())
    return float((repainted & (maps[2] != maps[3])).sum() / count) if count else float("nan")
