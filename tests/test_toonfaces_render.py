"""Toonface renderer, parameters and edit helpers."""

import hashlib

import numpy as np
import pytest

from editgan.toonfaces import (
    EXPRESSION_PARAMS,
    PARAM_PARTS,
    PARAM_SPECS,
    TOONFACES_LABELS,
    ToonParams,
    edit_params,
    edit_target,
    edited_parts,
    render,
    repaint_precision,
    sample_expression,
    sample_identity,
    sample_params,
)
from editgan.errors import InputError
from editgan.toonfaces.canvas import Canvas
from editgan.toonfaces.render import paint_face

GOLDEN = "70f853d4b1251d4a1f9e38469722138941c8e11079fcb552a5d787f42e4f0491"
REQUIRED_PARTS = ("background", "skin", "hair", "ear", "eyebrow", "sclera", "iris", "pupil", "eyelid", "nose",
                  "upper_lip", "lower_lip", "teeth", "mouth_interior")


def test_label_scheme_has_required_parts():
    assert TOONFACES_LABELS.num_classes >= 14
    assert set(REQUIRED_PARTS) <= set(TOONFACES_LABELS.names)
    assert TOONFACES_LABELS.names[0] == "background"


@pytest.mark.parametrize("size", [64, 100, 128, 256])
def test_render_shapes_and_types(size):
    image, labels = render(sample_params(3), size)
    assert image.shape == (size, size, 3) and image.dtype == np.uint8
    assert labels.shape == (size, size) and labels.dtype == np.int64
    TOONFACES_LABELS.validate(labels)


def test_same_seed_same_bytes_and_golden_hash():
    a, la = render(sample_params(12345))
    b, lb = render(sample_params(12345))
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    digest = hashlib.sha256(a.tobytes() + la.astype("<i8").tobytes()).hexdigest()
    # Changes only when the renderer changes on purpose: then update it (and say so in the log).
    assert digest == GOLDEN


def test_different_seeds_differ_and_sampling_is_reproducible():
    assert sample_params(1) != sample_params(2)
    assert sample_params(7) == ToonParams(**sample_identity(7), **sample_expression(7))
    mixed = sample_params(7, expression_seed=8)
    assert mixed.identity() == sample_params(7).identity()
    assert mixed.expression() == sample_params(8).expression()


def test_all_parts_appear_across_a_few_faces():
    seen = set()
    for seed in range(12):
        seen |= set(np.unique(render(sample_params(seed), 128)[1]).tolist())
    face = edit_params(sample_params(0), mouth_open=0.8, eye_open=1.0)
    seen |= set(np.unique(render(face, 128)[1]).tolist())
    assert seen == set(range(TOONFACES_LABELS.num_classes))


def test_image_is_shaded_not_flat():
    image, labels = render(sample_params(4), 128)
    skin = image[labels == TOONFACES_LABELS.index("skin")]
    assert skin.std(axis=0).max() > 4  # gradients, not a flat fill
    # anti-aliasing: boundary pixels take colours between their neighbours'
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 1000


def test_majority_labels_against_bruteforce():
    cv = Canvas(64, 0.0, 0.0, 1.0, num_labels=5)
    rng = np.random.default_rng(0)
    cv.labels[:] = rng.integers(0, 5, size=cv.labels.shape)
    cv.rgb[:] = rng.uniform(0, 255, size=cv.rgb.shape)
    image, labels = cv.finish()
    f = cv.factor
    for i, j in [(0, 0), (5, 9), (63, 63), (31, 2)]:
        block = cv.labels[i * f:(i + 1) * f, j * f:(j + 1) * f].ravel()
        counts = np.bincount(block, minlength=5)
        best = max(range(5), key=lambda c: (counts[c], c))
        assert labels[i, j] == best
        mean = cv.rgb[i * f:(i + 1) * f, j * f:(j + 1) * f].astype(np.float64).mean(axis=(0, 1))
        assert np.all(np.abs(image[i, j] - mean) <= 0.5 + 1e-3)


def _changed_outside(before: ToonParams, after: ToonParams, size: int = 128) -> tuple[int, int]:
    """(changed pixels with no supersample of an edited part before or after, all changed pixels)."""
    parts = TOONFACES_LABELS.indices(edited_parts(before, after))
    cv0, cv1 = paint_face(before, size), paint_face(after, size)
    f = cv0.factor
    touched = np.isin(cv0.labels, parts) | np.isin(cv1.labels, parts)
    allowed = touched.reshape(size, f, size, f).any(axis=(1, 3))
    changed = np.any(cv0.finish()[0] != cv1.finish()[0], axis=-1)
    return int((changed & ~allowed).sum()), int(changed.sum())


LOCAL_EDITS = {
    "smile": [-1.0, 1.0],
    "mouth_open": [0.0, 1.0],
    "eye_open": [0.05, 1.0],
    "gaze_x": [-1.0, 1.0],
    "gaze_y": [-1.0, 1.0],
    "brow_raise": [-1.0, 1.0],
    "pupil_size": [0.0, 1.0],
    "hair_length": [0.0, 1.0],
    "hair_color": [0.0, 0.8],
    "eye_color": [0.0, 0.9],
    "nose_shape": [0.0, 1.0],
    "lip_thickness": [0.0, 1.0],
    "ear_size": [0.0, 1.0],
    "background": [0.1, 0.6],
    "skin_tone": [0.1, 0.9],
    "jaw": [0.0, 1.0],
    "eye_size": [0.0, 1.0],
    "eye_spacing": [0.0, 1.0],
    "hair_style": [0, 3],
}


@pytest.mark.parametrize("name", sorted(LOCAL_EDITS))
def test_each_parameter_changes_only_its_parts(name):
    total_changed = 0
    for seed in (0, 1, 2, 5):
        values = LOCAL_EDITS[name]
        before = edit_params(sample_params(seed), **{"eye_open": 0.8, name: values[0]})
        after = edit_params(before, **{name: values[1]})
        outside, changed = _changed_outside(before, after)
        assert outside == 0, f"{name} changed {outside} pixels outside {PARAM_PARTS[name]} (seed {seed})"
        total_changed += changed
    assert total_changed > 0, f"{name} changed nothing"  # ears or hair may be hidden for one face


def test_every_expression_parameter_changes_pixels():
    base = edit_params(sample_params(0), eye_open=0.8, mouth_open=0.3)
    for name in EXPRESSION_PARAMS:
        spec = next(s for s in PARAM_SPECS if s.name == name)
        a = render(edit_params(base, **{name: spec.low}))[0]
        b = render(edit_params(base, **{name: spec.high}))[0]
        assert np.any(a != b), name


def test_closing_eyes_removes_sclera_and_smile_moves_corners_up():
    p = sample_params(3)
    _, closed = render(edit_params(p, eye_open=0.0))
    assert not np.isin(closed, TOONFACES_LABELS.indices(["sclera", "iris", "pupil"])).any()
    lips = TOONFACES_LABELS.indices(["upper_lip", "lower_lip"])

    def corner_minus_centre(smile):
        _, lab = render(edit_params(p, smile=smile, mouth_open=0.0), 256)
        ys, xs = np.nonzero(np.isin(lab, lips))
        centre = ys[np.abs(xs - xs.mean()) < 3].mean()
        corners = ys[(xs <= xs.min() + 2) | (xs >= xs.max() - 2)].mean()
        return corners - centre

    assert corner_minus_centre(1.0) < -4 < 4 < corner_minus_centre(-1.0)


def test_edit_params_validation():
    p = sample_params(0)
    assert edit_params(p, smile=0.5).smile == 0.5
    with pytest.raises(InputError, match="unknown toonface parameter.*grin"):
        edit_params(p, grin=1.0)
    with pytest.raises(InputError, match="smile=2.0 outside"):
        edit_params(p, smile=2.0)
    with pytest.raises(InputError, match="must be a number"):
        edit_params(p, smile="big")
    with pytest.raises(InputError, match="integer"):
        edit_params(p, hair_style=1.5)
    with pytest.raises(InputError, match="outside"):
        edit_params(p, smile=float("nan"))
    with pytest.raises(InputError, match="seed"):
        sample_params(-1)
    with pytest.raises(InputError):
        ToonParams.from_dict({**p.to_dict(), "extra": 1})
    assert ToonParams.from_dict(p.to_dict()) == p


@pytest.mark.parametrize("size", [63, 257, 128.0, True])
def test_bad_sizes(size):
    with pytest.raises(InputError, match="size"):
        render(sample_params(0), size)


def _smile_edit() -> tuple[ToonParams, ToonParams, np.ndarray, np.ndarray]:
    """A mouth edit and the renderer's labels before and after it at 128 px."""
    before = edit_params(sample_params(6), smile=-0.5, mouth_open=0.0)
    after = edit_params(before, smile=1.0, mouth_open=0.6)
    return before, after, render(before, 128)[1], render(after, 128)[1]


def test_edit_target_on_the_renderers_labels_is_the_edited_render():
    before, after, labels_before, labels_after = _smile_edit()
    target, repainted = edit_target(labels_before, before, after)
    assert target.dtype == np.int64 and np.array_equal(target, labels_after)
    assert np.array_equal(repainted, labels_before != labels_after) and 0 < repainted.mean() < 0.05
    assert repaint_precision(labels_before, target, labels_before, labels_after) == 1.0


def test_edit_target_repaints_only_what_the_renderer_changes():
    before, after, labels_before, labels_after = _smile_edit()
    changed = labels_before != labels_after
    predicted = np.roll(labels_before, (2, -3), axis=(0, 1)).astype(np.uint8)  # the mouth a few pixels off
    predicted[:10, :10] = TOONFACES_LABELS.index("hair")  # and an error away from the edit
    target, repainted = edit_target(predicted, before, after)
    assert np.array_equal(target[changed], labels_after[changed])
    assert np.array_equal(target[~changed], predicted[~changed])
    assert np.array_equal(repainted, target != predicted) and repainted.any() and not repainted[~changed].any()
    assert repaint_precision(predicted, target, labels_before, labels_after) == 1.0
    with pytest.raises(InputError, match="square"):
        edit_target(predicted[:, :100], before, after)
    with pytest.raises(InputError, match="outside scheme"):
        edit_target(np.full((64, 64), 99), before, after)


def test_shortening_hair_the_prediction_already_shows_short_adds_none():
    p = sample_params(0)
    before, after = edit_params(p, hair_length=1.0), edit_params(p, hair_length=0.6)
    _, predicted = render(edit_params(p, hair_length=0.0), 128)  # the embedding made a bob of the long hair
    target, _ = edit_target(predicted, before, after)
    hair = TOONFACES_LABELS.index("hair")
    assert not (target == hair)[predicted != hair].any()
    assert (render(after, 128)[1] == hair)[predicted != hair].sum() > 100  # what pasting render(after) would add


@pytest.mark.parametrize("name, value", [("face_width", 1.0), ("head_scale", 0.92), ("head_x", 0.06)])
def test_a_whole_face_edit_repaints_the_changed_pixels_not_the_image(name, value):
    before = sample_params(3)
    after = edit_params(before, **{name: value})
    assert edited_parts(before, after) == TOONFACES_LABELS.names  # Eq. 1's r over these parts: every pixel
    labels_before, labels_after = render(before, 128)[1], render(after, 128)[1]
    _, repainted = edit_target(labels_before, before, after)
    assert np.array_equal(repainted, labels_before != labels_after) and 0 < repainted.mean() < 0.2


def test_repaint_precision_on_hand_made_maps():
    before = np.array([[0, 0, 1], [0, 1, 1], [2, 2, 2]])
    after = np.array([[0, 1, 1], [0, 1, 1], [2, 2, 0]])  # the renderer relabels (0, 1) and (2, 2)
    predicted = np.array([[0, 0, 0], [0, 0, 1], [2, 2, 2]])
    target = np.array([[0, 1, 1], [0, 0, 1], [2, 2, 0]])  # repaints (0, 1), (2, 2) and the correction (0, 2)
    assert repaint_precision(predicted, target, before, after) == pytest.approx(2 / 3)
    assert repaint_precision(predicted, after, before, after) == pytest.approx(2 / 4)  # pasting render(after)
    assert np.isnan(repaint_precision(predicted, predicted, before, after))
    with pytest.raises(InputError, match="one shape"):
        repaint_precision(predicted, target[:2], before, after)
