"""The toonfaces bundle's default editing vectors, each learned from ONE held-out rendered face.

For an edit (e.g. smile: the renderer's `smile` parameter set to 1), the learning face is the first
test-split face among indices [0, LEARNING_FACES) whose parameter has at least half of its range to
go in the edit's direction. It is rendered at the bundle's resolution, embedded into W+, segmented
by the bundle's segmenter; the target y_edited is that predicted segmentation with the renderer's
change carried onto it (`edit_target`: only the pixels the edit relabels are repainted), the region
r those repainted pixels grown by the settings' buffer (region="painted"), Q_edit the parts the
changed parameter may touch (`edited_parts`). The vector is the learned δw+ (Sec. 3.3, 100 steps).
Its metadata records how it was learned, the target's `repaint_precision` and how far the attribute
network moved on the learning face, the reference for the transfer benchmark (bench/editing.py).

Beyond the paper, `faces=k` learns ONE vector from the first k learning faces' edits at once (the
batch mean of Eq. 5), which averages out what a single face's embedding and segmentation errors put
into its vector; the reference change is then the mean over the k faces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from editgan.edit.vectors import EditingVector
from editgan.errors import InputError
from editgan.toonfaces.attributes import attribute_scores
from editgan.toonfaces.dataset import image_to_tensor, split_seed
from editgan.toonfaces.edits import edit_target, edited_parts, repaint_precision
from editgan.toonfaces.params import SPECS, ToonParams, edit_params, sample_params
from editgan.toonfaces.render import render

LEARNING_FACES = 100  # test indices [0, 100) are reserved for learning; the benchmark uses others
METHOD = ("one held-out toonfaces render; target = the predicted segmentation of its embedding with the "
          "renderer's change carried onto it (edit_target), region = the repainted pixels + buffer, "
          "Q_edit = edited_parts")
METHOD_SHARED = ("{n} held-out toonfaces renders, one vector for all (the batch mean of Eq. 5); each target = the "
                 "predicted segmentation of its embedding with the renderer's change carried onto it "
                 "(edit_target), region = its repainted pixels + buffer, Q_edit = the union of their edited_parts")


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


def learning_faces(edit: DefaultEdit, count: int = 1) -> list[int]:
    """The first `count` test indices in [0, LEARNING_FACES) whose faces `edit.wants`."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InputError(f"the number of learning faces must be a positive integer, got {count!r}")
    indices = [i for i in range(LEARNING_FACES) if edit.wants(sample_params(split_seed("test", i)))][:count]
    if len(indices) < count:
        raise InputError(f"only {len(indices)} test faces in [0, {LEARNING_FACES}) leave room for {edit.name}; "
                         f"asked for {count}")
    return indices


def learn_default_vector(editor, edit: DefaultEdit, *, faces: int = 1, embed_steps: int = 300, edit_steps: int = 100,
                         tune_steps: int = 0, progress: Callable[[int, dict], None] | None = None) -> EditingVector:
    """Learn `edit` with `editor` (a toonfaces bundle's Editor) from its first `faces` learning faces:
    one face is the paper's recipe, more learn ONE vector from all their edits (`Editor.edit` on the
    batch; beyond the paper). Returns the vector (not saved) with default scale 1, its provenance and
    the learning faces' mean attribute change in `created`; the region is each target's repainted
    pixels grown by the settings' buffer. tune_steps > 0 (one face only): the face is also pivotally
    tuned, so its prediction and the carried change line up with the render, and the vector is
    optimised through its G' (it stays a δw+ for every face)."""
    if tune_steps and faces != 1:
        raise InputError("a tuned learning face has a generator of its own: learn from one face when tuning")
    indices = learning_faces(edit, faces)
    befores = [sample_params(split_seed("test", i)) for i in indices]
    afters = [edit_params(p, **{edit.param: edit.value}) for p in befores]
    size = editor.generator.config.resolution
    images = torch.stack([image_to_tensor(render(p, size)[0]) for p in befores]).to(editor.device)
    bundle = editor.bundle
    embedded = editor.embed(images, steps=embed_steps, tune_steps=tune_steps)
    latent = embedded if tune_steps else embedded.wplus  # a tuned face is drawn and edited by its G'
    labels = editor.segmentation(latent)[1].labels.cpu().numpy()  # the ensemble's: edits optimise it
    targets, painted = (np.stack(m) for m in zip(*map(edit_target, labels, befores, afters)))
    grid = labels.shape[-1]  # the segmenter's label map, which may differ from the image size
    precision = [repaint_precision(y, t, render(b, grid)[1], render(a, grid)[1])
                 for y, t, b, a in zip(labels, targets, befores, afters)]
    parts = list(dict.fromkeys(p for b, a in zip(befores, afters) for p in edited_parts(b, a)))
    result, vector = editor.edit(latent, torch.from_numpy(targets), parts, name=edit.name, steps=edit_steps,
                                 region="painted", painted=torch.from_numpy(painted), progress=progress)
    n = len(indices)
    scores = attribute_scores(torch.cat([result.image_before, result.image_after]).clamp(-1, 1))[edit.attribute]
    before_score, after_score = float(scores[:n].mean()), float(scores[n:].mean())
    vector.created.update(
        method=METHOD if n == 1 else METHOD_SHARED.format(n=n), identity_loss=editor.identity is not None,
        test_index=indices[0], test_indices=indices, seed=split_seed("test", indices[0]),
        change={edit.param: [getattr(befores[0], edit.param), edit.value]}, embed_steps=embed_steps,
        tune_steps=tune_steps,
        embed_init="encoder" if editor.encoder is not None else "w_avg",
        embed_loss=float(embedded.best_loss.mean()), repaint_precision=precision,
        repainted_pixels=[int(m.sum()) for m in painted], attribute=edit.attribute, direction=edit.sign,
        attribute_before=before_score, attribute_after=after_score, attribute_change=after_score - before_score)
    vector.created["bundle"] = bundle.path.name  # portable: the vectors ship inside the bundle
    return vector


def learn_named(editor, name: str, *, faces: int = 1, embed_steps: int = 300, edit_steps: int = 100,
                tune_steps: int = 0, progress: Callable[[int, dict], None] | None = None) -> tuple[EditingVector, str]:
    """The registered default-vector recipe: learn the default edit `name` from `faces` learning
    faces; (vector, one summary line)."""
    edit = default_edit(name)
    vector = learn_default_vector(editor, edit, faces=faces, embed_steps=embed_steps, edit_steps=edit_steps,
                                  tune_steps=tune_steps, progress=progress)
    c = vector.created
    which = f"test face {c['test_index']}" if faces == 1 else f"test faces {', '.join(map(str, c['test_indices']))}"
    summary = (f"{edit.name}: {which}, parts {', '.join(vector.parts)}; {edit.attribute} "
               f"{c['attribute_before']:+.2f} -> {c['attribute_after']:+.2f} (wanted {'+' if edit.sign > 0 else '-'})")
    return vector, summary
