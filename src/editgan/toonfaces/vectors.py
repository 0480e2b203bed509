"""The toonfaces bundle's default editing vectors, each learned from ONE held-out rendered face.

For an edit (e.g. smile: the renderer's `smile` parameter set to 1), the learning face is the first
test-split face among indices [0, LEARNING_FACES) whose parameter has at least half of its range to
go in the edit's direction. It is rendered at the bundle's resolution, embedded into W+, segmented
by the bundle's segmenter; the target y_edited is that predicted segmentation with the renderer's
labels of the edited face painted inside the edited parts (`edit_target`), Q_edit the parts the
changed parameter may touch (`edited_parts`). The vector is the learned δw+ (Sec. 3.3, 100 steps).
Its metadata records how it was learned and how far the attribute network moved on the learning
face, the reference for the transfer benchmark (bench/editing.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from editgan.edit.vectors import EditingVector
from editgan.errors import InputError
from editgan.toonfaces.attributes import attribute_scores
from editgan.toonfaces.dataset import image_to_tensor, split_seed
from editgan.toonfaces.edits import edit_target, edited_parts
from editgan.toonfaces.params import SPECS, ToonParams, edit_params, sample_params
from editgan.toonfaces.render import render

LEARNING_FACES = 100  # test indices [0, 100) are reserved for learning; the benchmark uses others
METHOD = ("one held-out toonfaces render; target = the renderer's edited parameters painted onto the "
          "predicted segmentation of its embedding (edit_target), Q_edit = edited_parts")


@dataclass(frozen=True)
class DefaultEdit:
    """A vector to learn: `param` set to `value`; the attribute network's `attribute` should move by `sign`."""

    name: str
    param: str
    value: float
    attribute: str
    sign: int

    def wants(self, params: ToonParams) -> bool:
        """Whether this face has at least half of the parameter's range to go in the edit's direction."""
        spec = SPECS[self.param]
        return self.sign * (self.value - getattr(params, self.param)) >= (spec.high - spec.low) / 2


DEFAULT_EDITS = (
    DefaultEdit("smile", "smile", 1.0, "smile", +1),
    DefaultEdit("close_eyes", "eye_open", 0.0, "eye_open", -1),
    DefaultEdit("raise_eyebrows", "brow_raise", 1.0, "brow_raise", +1),
    DefaultEdit("enlarge_pupils", "pupil_size", 1.0, "pupil_size", +1),
    DefaultEdit("open_mouth", "mouth_open", 1.0, "mouth_open", +1),
    DefaultEdit("gaze_left", "gaze_x", -1.0, "gaze_x", -1),
)


def default_edit(name: str) -> DefaultEdit:
    for edit in DEFAULT_EDITS:
        if edit.name == name:
            return edit
    raise InputError(f"unknown default edit {name!r}; known: {', '.join(e.name for e in DEFAULT_EDITS)}")


def learning_face(edit: DefaultEdit) -> int:
    """The first test index in [0, LEARNING_FACES) whose face `edit.wants`."""
    for index in range(LEARNING_FACES):
        if edit.wants(sample_params(split_seed("test", index))):
            return index
    raise InputError(f"no test face in [0, {LEARNING_FACES}) leaves room for {edit.name}")


def learn_default_vector(editor, edit: DefaultEdit, *, embed_steps: int = 300, edit_steps: int = 100,
                         progress: Callable[[int, dict], None] | None = None) -> EditingVector:
    """Learn `edit` on its learning face with `editor` (a toonfaces bundle's Editor); returns the vector
    (not saved) with default scale 1 and its provenance and learning-face attribute change in `created`."""
    index = learning_face(edit)
    before = sample_params(split_seed("test", index))
    after = edit_params(before, **{edit.param: edit.value})
    size = editor.generator.config.resolution
    image = image_to_tensor(render(before, size)[0])[None].to(editor.device)
    bundle = editor.bundle
    embedded = editor.embed(image, steps=embed_steps)
    labels = editor.segmentation(embedded.wplus)[1].labels[0].cpu().numpy()  # the ensemble's: edits optimise it
    target, _ = edit_target(labels, before, after)
    result, vector = editor.edit(embedded.wplus, torch.from_numpy(target), list(edited_parts(before, after)),
                                 name=edit.name, steps=edit_steps, progress=progress)
    scores = attribute_scores(torch.cat([result.image_before, result.image_after]).clamp(-1, 1))[edit.attribute]
    vector.created.update(
        method=METHOD, identity_loss=editor.identity is not None, test_index=index, seed=split_seed("test", index),
        change={edit.param: [getattr(before, edit.param), edit.value]}, embed_steps=embed_steps,
        embed_init="encoder" if editor.encoder is not None else "w_avg",
        embed_loss=float(embedded.best_loss[0]), attribute=edit.attribute, direction=edit.sign,
        attribute_before=float(scores[0]), attribute_after=float(scores[1]),
        attribute_change=float(scores[1] - scores[0]))
    vector.created["bundle"] = bundle.path.name  # portable: the vectors ship inside the bundle
    return vector


def learn_named(editor, name: str, *, embed_steps: int = 300, edit_steps: int = 100,
                progress: Callable[[int, dict], None] | None = None) -> tuple[EditingVector, str]:
    """The registered default-vector recipe: learn the default edit `name`; (vector, one summary line)."""
    edit = default_edit(name)
    vector = learn_default_vector(editor, edit, embed_steps=embed_steps, edit_steps=edit_steps, progress=progress)
    c = vector.created
    summary = (f"{edit.name}: test face {c['test_index']}, parts {', '.join(vector.parts)}; {edit.attribute} "
               f"{c['attribute_before']:+.2f} -> {c['attribute_after']:+.2f} (wanted {'+' if edit.sign > 0 else '-'})")
    return vector, summary
