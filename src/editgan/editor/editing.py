"""The Editor's editing: learning an editing vector from painted labels, and applying vectors.

Edits are optimised with the bundle's `EditSettings` (manifest "editing": "paper" by default, or
"release"; `editgan.edit.settings`) and its perceptual distance (the P_out term of Eq. 2); every
call may pass `settings=` (a preset name, a mapping or EditSettings) and override single fields. The
identity network (the λ3 term of Eq. 5), when the Editor has one, is used by `edit` and by
refinement in `apply`. A tuned EmbedResult is edited and refined on its G'.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import torch

from editgan.edit.apply import apply_vectors
from editgan.edit.optimize import EditResult, learn_edit, refine
from editgan.edit.settings import EditSettings, edit_settings
from editgan.edit.vectors import EditingVector
from editgan.editor.segmentation import SegmentationMixin
from editgan.errors import EditGANError, InputError
from editgan.files import read_json
from editgan.inversion.optimize import encode
from editgan.io.images import to_uint8
from editgan.io.perceptual import get_perceptual
from editgan.labels import LabelScheme
from editgan.nn.segmenter import Segmenter


class EditingMixin(SegmentationMixin):
    """Edit settings, learning an edit (`edit`), resolving and applying vectors (`apply`)."""

    def edit_settings(self, settings: str | Mapping | EditSettings | None = None, **overrides) -> EditSettings:
        """`settings` (default: the bundle's) with single fields overridden (None keeps a field)."""
        base = edit_settings(settings if settings is not None else self.bundle.editing)
        return base.replace(**overrides)

    def _optimiser_terms(self, settings: EditSettings, kwargs: dict) -> dict:
        """The bundle's perceptual distance (unless weighted 0), identity network and encoder for
        `learn_edit` / `refine`, where kwargs do not name them already."""
        if settings.perceptual_weight > 0:
            kwargs.setdefault("perceptual", get_perceptual(self.bundle.perceptual()))
        kwargs.setdefault("identity", self.identity)
        return kwargs

    def _optimised_segmenter(self, settings: EditSettings) -> Segmenter:
        """The segmenter an edit or refinement with `settings` minimises the cross-entropy of
        (`EditSettings.segmenter`: the ensemble, or the display segmenter)."""
        return self.display_segmenter if settings.segmenter == "display" else self.segmenter

    def _vector_parts(self, vector: EditingVector) -> list[int]:
        """An EditingVector's part names -> indices (digits stand for indices when there is no scheme)."""
        if self.scheme is None:
            if not all(p.isdigit() for p in vector.parts):
                raise InputError(f"vector {vector.name!r} names parts {list(vector.parts)} but the bundle "
                                 "has no label scheme")
            return self.part_indices([int(p) for p in vector.parts])
        return self.part_indices([p if p in self.scheme.names else self._former_index(p) for p in vector.parts])

    def _former_index(self, name: str) -> int | str:
        """A part name the scheme no longer has (renamed since the vector was learned) -> its index in
        the newest earlier scheme that names it (the backups `save_scheme` keeps; a rename keeps the
        index), else the name itself (which `part_indices` then refuses)."""
        for path in sorted((self.bundle.user_dir / "backup").glob("label_scheme-*.json"), reverse=True):
            try:
                former = LabelScheme.from_json(read_json(path))
            except EditGANError:
                continue
            if name in former.names:
                return former.names.index(name)
        return name

    def edit(self, wplus: torch.Tensor, target_labels: torch.Tensor, parts: Sequence[str | int], *,
             name: str = "edit", settings: str | Mapping | EditSettings | None = None,
             **kwargs) -> tuple[EditResult, EditingVector]:
        """Learn an edit: w+ [N, num_ws, w_dim], targets y_edited [N, H', W'] ([H', W'] for N = 1),
        parts Q_edit (names or indices). N = 1 is the paper's one-image edit; N > 1 learns ONE vector
        shared by the N edited images (the batch mean of Eq. 5; beyond the paper). settings: see
        `edit_settings`; kwargs are single settings fields (steps, lr, weights, buffer, ...) or go to
        `learn_edit` (perceptual, identity, painted, progress, cancel). Returns the result and the
        vector named `name` (not yet saved: `editor.library.add(vector)`), with before/after
        thumbnails of the first image and the settings it was learned with. A tuned EmbedResult is
        edited on its G' (the vector stays a δw+ for every image)."""
        editor, wplus = self._route(wplus)
        if editor is not self:
            return editor.edit(wplus, target_labels, parts, name=name, settings=settings, **kwargs)
        if isinstance(target_labels, torch.Tensor) and target_labels.ndim == 2:
            target_labels = target_labels[None]
        if isinstance(target_labels, torch.Tensor):
            target_labels = target_labels.to(self.device)
        painted = kwargs.get("painted")
        if isinstance(painted, torch.Tensor):
            kwargs["painted"] = (painted[None] if painted.ndim == 2 else painted).to(self.device)
        indices = self.part_indices(parts)
        fields = {k: kwargs.pop(k) for k in list(kwargs) if k in EditSettings.__dataclass_fields__}
        chosen = self.edit_settings(settings, **fields)
        if chosen.consistency_weight > 0 and "encode" not in kwargs:
            if self.encoder is None:
                raise InputError(f"bundle {self.bundle.path} has no encoder for the edit settings' consistency "
                                 "term; train one or set consistency_weight=0")
            kwargs["encode"] = functools.partial(encode, self.encoder, crop=self.generator.config.crop)
        result = learn_edit(self.generator, self._optimised_segmenter(chosen), wplus, target_labels, indices,
                            settings=chosen, shared=True, dtype=self.compute_dtype,
                            **self._optimiser_terms(chosen, kwargs))
        before, after = to_uint8(result.image_before), to_uint8(result.image_after)
        vector = EditingVector(delta=result.delta[0], name=name, parts=self.part_names(indices),
                               thumbnails={"before": before[0], "after": after[0]}, losses=result.losses)
        vector.created.update(bundle=self.bundle.path.name, images=wplus.shape[0], steps=len(result.losses) - 1,
                              best_step=result.best_step, cancelled=result.cancelled, settings=chosen.to_json())
        return result, vector

    def resolve(self, vectors: Mapping[EditingVector | str, float]) -> list[tuple[EditingVector, float]]:
        """{vector or library name: scale} -> [(EditingVector, scale)]; unknown names raise InputError."""
        if not isinstance(vectors, Mapping):
            raise InputError("vectors must be a mapping {vector or name: scale}")
        return [(self.library.get(v) if isinstance(v, str) else v, s) for v, s in vectors.items()]

    def apply(self, wplus: torch.Tensor, vectors: Mapping[EditingVector | str, float], refine_steps: int = 0,
              settings: str | Mapping | EditSettings | None = None, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        """w+ + Σ s_i δ_i (then `refine_steps` of self-supervised refinement over the union of the
        vectors' parts, with `edit_settings(settings)`; kwargs are settings fields or go to `refine`)
        -> (new w+ [N, num_ws, w_dim], its image [N, 3, H, W]). A tuned EmbedResult is drawn and refined
        on its G'."""
        editor, wplus = self._route(wplus)
        if editor is not self:
            return editor.apply(wplus, vectors, refine_steps, settings, **kwargs)
        pairs = self.resolve(vectors)
        applied = apply_vectors(wplus, pairs)
        if refine_steps:
            parts = sorted({i for v, _ in pairs for i in self._vector_parts(v)})
            fields = {k: kwargs.pop(k) for k in list(kwargs) if k in EditSettings.__dataclass_fields__}
            chosen = self.edit_settings(settings, **fields)
            result = refine(self.generator, self._optimised_segmenter(chosen), wplus, applied - wplus, 1.0,
                            parts=parts, settings=chosen, steps=refine_steps, dtype=self.compute_dtype,
                            **self._optimiser_terms(chosen, kwargs))
            applied = result.wplus_after
        return applied, self.render(applied)
