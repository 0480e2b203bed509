"""The Editor: one bundle's networks, its label scheme, its vector library and every default behind a small API.

    editor = editgan.load("toonfaces")          # or a bundle directory; device="cuda" when present
    w = editor.sample(seed=3)                   # w+ [1, num_ws, w_dim]
    w = editor.embed("photo.png").wplus         # or a real image: encoder + optimisation
    photo = editor.embed("photo.png", tune=True)  # + pivotal tuning: G' redraws the photo faithfully
    editor.apply(photo, {"smile": 1.0})         # a tuned embedding is drawn, segmented and edited on its G'
    y = editor.segment(w)                       # int64 [1, H, W]
    y[:, 10:20, 10:20] = editor.scheme.index("mouth")
    result, vector = editor.edit(w, y, ["mouth"], name="open_mouth")
    editor.library.add(vector)
    w2, image = editor.apply(other_w, {"open_mouth": 0.8}, refine_steps=30)

Images are embedded with the bundle's `EmbedSettings` (manifest "embedding": "paper", "release" or
"faithful"; `editgan.inversion.settings`), every call overriding single fields; each result reports the
PSNR and perceptual distance of its reconstruction and warns when the generator cannot draw the image.

Edits are optimised with the bundle's `EditSettings` (manifest "editing": "paper" by default, or
"release"; `editgan.edit.settings`) and its perceptual distance (the P_out term of Eq. 2); every
call may pass `settings=` (a preset name, a mapping or EditSettings) and override single fields.

An identity network (the λ3 term of Eq. 5) is on when the Editor gets `identity=`: a path to ArcFace
IR-SE50 weights (`model_ir_se50.pth`), "toonfaces" for the packaged toonfaces network, or any
callable images -> embeddings; it is then used by `edit` and by refinement in `apply`.

The segmenter is loaded on first use, so sampling, rendering and plain vector application work
with a bundle that has no segmenter yet (segment/edit/refinement then raise MissingWeightsError).

Two segmenters: `segmenter` is the bundle's DatasetGAN ensemble, which edits, refinement and the
uncertainty (`segment(..., uncertainty=True)`, `segmentation`) use; `display_segmenter` is the
bundle's distilled single pixel MLP when it carries a current one (`editgan bundle
distill-segmenter`), else the ensemble, and gives the label maps `segment` returns (the web tool's
displayed segmentations): about one member's cost instead of M.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from editgan.bundle import Bundle, open_bundle
from editgan.edit.apply import apply_vectors
from editgan.edit.identity import Identity, load_identity
from editgan.edit.optimize import EditResult, learn_edit, refine
from editgan.edit.settings import EditSettings, edit_settings
from editgan.edit.vectors import EditingVector, bundle_library
from editgan.errors import CheckpointError, InputError
from editgan.inversion.fidelity import Fidelity, FidelityLimits, measure_fidelity
from editgan.inversion.optimize import EmbedResult, embed, encode
from editgan.inversion.pivotal import tune
from editgan.inversion.settings import FAITHFUL, EmbedSettings, embed_settings
from editgan.io.images import load_image, to_uint8
from editgan.io.latents import load_tuning, load_wplus, save_wplus
from editgan.io.perceptual import get_perceptual
from editgan.labels import LabelScheme
from editgan.nn.segmenter import Segmentation, Segmenter, render_and_segment
from editgan.nn.stylegan2 import check_wplus
from editgan.nn.tuning import Tuning, generator_digest


class Editor:
    """Sampling, rendering, segmenting, learning and applying edits for one bundle on one device.

    Images are float [N, 3, H, W] in [-1, 1]; latents w+ [N, num_ws, w_dim] (a single [num_ws, w_dim]
    is accepted and given a batch axis); label maps int64 [N, H', W'] on the segmenter's grid.
    """

    def __init__(self, bundle: Bundle, device: str | torch.device = "cpu", vectors: str | Path | None = None,
                 identity: str | Path | Identity | None = None):
        self.bundle = bundle
        self.device = torch.device(device)
        self.identity = load_identity(identity, self.device)
        self.generator = bundle.generator(self.device).eval()
        self.library = bundle_library(bundle, vectors)
        self._segmenter: Segmenter | None = None
        self._display: Segmenter | None = None
        self._scheme: LabelScheme | None = bundle.labels
        self.tuning: Tuning | None = None  # set on a `tuned` view
        self._parent: Editor | None = None  # the untuned Editor a tuned view shares its segmenters with

    # ------------------------------------------------------------------ networks and labels
    @property
    def segmenter(self) -> Segmenter:
        """The bundle's segmenter (loaded on first use); MissingWeightsError if it has none."""
        if self._parent is not None:
            return self._parent.segmenter
        if self._segmenter is None:
            seg, scheme = self.bundle.segmenter(self.device)
            self._segmenter, self._scheme = seg.eval(), scheme or self._scheme
        return self._segmenter

    @property
    def display_segmenter(self) -> Segmenter:
        """The segmenter label maps are shown with: the bundle's distilled display segmenter when it
        carries one distilled from `segmenter` (see `Bundle.display_segmenter_dir`), else `segmenter`."""
        if self._parent is not None:
            return self._parent.display_segmenter
        if self._display is None:
            ensemble = self.segmenter
            loaded = self.bundle.display_segmenter(self.device)
            if loaded is None:
                self._display = ensemble
            else:
                seg, a, b = loaded[0].eval(), loaded[0].config, ensemble.config
                if (a.num_classes, a.out_size, a.feature_shapes) != (b.num_classes, b.out_size, b.feature_shapes):
                    raise CheckpointError(f"the display segmenter in {self.bundle.display_segmenter_dir} does not "
                                          "label like the bundle's segmenter (classes, label size or features differ)")
                self._display = seg
        return self._display

    def reload(self) -> None:
        """Re-read the bundle (manifest, label scheme) and drop the loaded segmenters, so that the next
        use loads the ones installed since (e.g. trained from annotations, or distilled)."""
        self.bundle = open_bundle(self.bundle.path)
        self._segmenter, self._display, self._scheme = None, None, self.bundle.labels

    @property
    def scheme(self) -> LabelScheme | None:
        """The label scheme (the segmenter's, else the manifest's), or None if the bundle has none."""
        return self._parent.scheme if self._parent is not None else self._scheme

    def part_indices(self, parts: Sequence[str | int]) -> list[int]:
        """Label names (via the scheme) or indices -> indices; InputError for unknown names."""
        if isinstance(parts, (str, int)) or not parts:
            raise InputError(f"parts must be a non-empty list of label names or indices, got {parts!r}")
        k = self.segmenter.config.num_classes
        out = []
        for p in parts:
            if isinstance(p, str):
                if self.scheme is None:
                    raise InputError(f"bundle {self.bundle.path} has no label scheme; give parts as indices")
                out.append(self.scheme.index(p))
            elif isinstance(p, int) and not isinstance(p, bool) and 0 <= p < k:
                out.append(p)
            else:
                raise InputError(f"part {p!r} is not a label name or an index in [0, {k})")
        return out

    def part_names(self, indices: Sequence[int]) -> tuple[str, ...]:
        """Label indices -> names for an EditingVector (the index as text when there is no scheme)."""
        return tuple(self.scheme.names[i] if self.scheme else str(i) for i in indices)

    def _vector_parts(self, vector: EditingVector) -> list[int]:
        """An EditingVector's part names -> indices (digits stand for indices when there is no scheme)."""
        if self.scheme is None:
            if not all(p.isdigit() for p in vector.parts):
                raise InputError(f"vector {vector.name!r} names parts {list(vector.parts)} but the bundle "
                                 "has no label scheme")
            return self.part_indices([int(p) for p in vector.parts])
        return self.part_indices(list(vector.parts))

    def _wplus(self, wplus: torch.Tensor) -> torch.Tensor:
        if isinstance(wplus, torch.Tensor) and wplus.ndim == 2:
            wplus = wplus[None]
        return check_wplus(self.generator, wplus)

    @functools.cached_property
    def encoder(self):
        """The bundle's image encoder (embedding starts from E(x), App. A.2), or None without one."""
        return self.bundle.encoder(self.device) if self.bundle.has("encoder") else None

    @functools.cached_property
    def generator_digest(self) -> str:
        """`generator_digest` of this Editor's generator (what a tuning must have been made for)."""
        return generator_digest(self.generator)

    def embed_settings(self, settings: str | Mapping | EmbedSettings | None = None, **overrides) -> EmbedSettings:
        """`settings` (default: the bundle's, manifest "embedding") with single fields overridden (None
        keeps a field) and the perceptual distance resolved (the bundle's when the settings name none);
        InputError for an unknown preset, field or distance."""
        base = embed_settings(settings if settings is not None else self.bundle.embedding)
        chosen = base.replace(**overrides)
        return chosen.replace(perceptual=self.bundle.perceptual(chosen.perceptual))

    def embed(self, images: torch.Tensor | str | Path, steps: int | None = None, *,
              settings: str | Mapping | EmbedSettings | None = None, progress=None, **fields) -> EmbedResult:
        """Embed images float [N, 3, H, W] in [-1, 1] ((H, W): the generator's image_size) or an image
        file with `embed_settings(settings, steps=steps, **fields)`: E(x) when the bundle has an encoder
        (and use_encoder), then the W+ optimisation, then pivotal tuning per image when the settings
        tune (`tune=True` turns it on with the "faithful" preset's tune_steps unless the settings tune already,
        `tune=False` turns it off). The result
        carries the settings, the tunings, each image's fidelity and a plain-words warning (or None)
        per image whose pivot the generator cannot draw (`fidelity_warning`); apply/edit/segment accept it.
        progress(step, values) counts on from the embedding's steps + 1 into the tuning's."""
        tune_choice = fields.pop("tune", None)
        chosen = self.embed_settings(settings, steps=steps, **fields)
        if tune_choice is not None and "tune_steps" not in fields and tune_choice != chosen.tunes:
            chosen = chosen.replace(tune_steps=FAITHFUL.tune_steps if tune_choice else 0)
        if isinstance(images, (str, Path)):
            images = load_image(images, self.generator.config.image_size)
        images = images.to(self.device)
        crop = self.generator.config.crop
        init = encode(self.encoder, images, crop) if chosen.use_encoder and self.encoder is not None else None
        encode_fn = None
        if chosen.consistency_weight > 0:
            if self.encoder is None:
                raise InputError(f"bundle {self.bundle.path} has no encoder for the embedding's consistency term; "
                                 "train one or set consistency_weight=0")
            encode_fn = functools.partial(encode, self.encoder, crop=crop)
        result = embed(self.generator, images, init=init, steps=chosen.steps, perceptual=chosen.perceptual,
                       encode=encode_fn, progress=progress, **chosen.optimizer_options())
        result.settings, result.init = chosen, "encoder" if init is not None else "w_avg"
        result.pivot_fidelity = measure_fidelity(result.reconstruction, images, chosen.perceptual)
        if chosen.tunes:
            offset = chosen.steps + 1
            tuned = tune(self.generator, images, result.wplus, **chosen.tuning_options(),
                         progress=None if progress is None else (lambda s, v: progress(offset + s, v)))
            result.tunings, result.pivot_reconstruction = tuned.tunings, result.reconstruction
            result.reconstruction = tuned.reconstruction
        result.fidelity = measure_fidelity(result.reconstruction, images, chosen.perceptual)
        result.warnings = [self.fidelity_warning(f) for f in result.pivot_fidelity]
        return result

    def fidelity_warning(self, pivot: Fidelity) -> str | None:
        """A plain-words warning when a W+ pivot's fidelity lies outside the bundle's measured limits
        (manifest "fidelity", `FidelityLimits`), else None (also when the bundle records no limits)."""
        limits = FidelityLimits.from_manifest(self.bundle.manifest.get("fidelity"))
        return None if limits is None or pivot.perceptual != self.bundle.perceptual() else limits.warning(pivot)

    def tuned(self, tuning: Tuning | None) -> Editor:
        """This Editor with its generator replaced by G' = G tuned for one image (`Tuning.apply`;
        CheckpointError when the tuning belongs to another generator); it shares the segmenters,
        encoder, identity network and vector library. None: this Editor."""
        if tuning is None:
            return self
        view = copy.copy(self)
        view.generator = tuning.apply(self.generator, self.generator_digest).eval()
        view.tuning, view._parent = tuning, self._parent or self
        return view

    def open_latent(self, path: str | Path) -> tuple[Editor, torch.Tensor]:
        """(the Editor that draws it, w+ [N, num_ws, w_dim]) from a latent file: `tuned` by the pivotal
        tuning the file carries (one image's), else this Editor."""
        cfg = self.generator.config
        wplus = load_wplus(path, cfg.num_ws, cfg.w_dim).to(self.device)
        return self.tuned(load_tuning(path)), wplus

    def save_latent(self, path: str | Path, wplus: torch.Tensor, metadata: dict | None = None) -> Path:
        """Write w+ [N, num_ws, w_dim] with this Editor's tuning (if it is a tuned view) and metadata."""
        return save_wplus(path, wplus, tuning=self.tuning, metadata=metadata)

    def _route(self, latent) -> tuple[Editor, torch.Tensor]:
        """(the Editor that draws it, w+ [N, num_ws, w_dim]) for w+ or an `EmbedResult` (tuned: its
        image's G'; a tuned result must hold one image)."""
        if not isinstance(latent, EmbedResult):
            return self, self._wplus(latent)
        tunings = latent.tunings or [None]
        if len(tunings) != 1:
            raise InputError(f"a tuned embedding of {len(tunings)} images has one generator each; "
                             "pass one image's result at a time (result.select(i))")
        return self.tuned(tunings[0]), self._wplus(latent.wplus)

    # ------------------------------------------------------------------ sampling and viewing
    @torch.no_grad()
    def sample(self, seed: int, psi: float = 1.0) -> torch.Tensor:
        """w+ [1, num_ws, w_dim] from z drawn with `seed` (same on every machine), truncated by psi."""
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InputError(f"seed must be an integer, got {seed!r}")
        g = self.generator
        return g.z_to_wplus(g.sample_z(1, seed=seed), psi=psi).contiguous()

    @torch.no_grad()
    def render(self, wplus: torch.Tensor | EmbedResult) -> torch.Tensor:
        """G(w+) -> [N, 3, H, W] in [-1, 1] (constant noise); a tuned EmbedResult is drawn by its G'."""
        editor, wplus = self._route(wplus)
        return editor.generator.synthesis(wplus, noise_mode="const")

    def segmentation(self, wplus: torch.Tensor | EmbedResult,
                     display: bool = False) -> tuple[torch.Tensor, Segmentation]:
        """(image [N, 3, H, W], the ensemble's Segmentation with probs, labels and uncertainty) in one
        synthesis pass; display=True: the display segmenter's instead (one member: zero uncertainty).
        A tuned EmbedResult is drawn (and its features read) from its G'."""
        editor, wplus = self._route(wplus)
        seg = editor.display_segmenter if display else editor.segmenter
        return render_and_segment(editor.generator, seg, wplus)

    def segment(self, wplus: torch.Tensor | EmbedResult, uncertainty: bool = False):
        """Labels int64 [N, H', W'] by the display segmenter, or (labels, uncertainty [N, H', W'] in
        nats) both by the ensemble when asked."""
        seg = self.segmentation(wplus, display=not uncertainty)[1]
        return (seg.labels, seg.uncertainty) if uncertainty else seg.labels

    # ------------------------------------------------------------------ editing
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
        result = learn_edit(self.generator, self.segmenter, wplus, target_labels, indices, settings=chosen,
                            shared=True, **self._optimiser_terms(chosen, kwargs))
        before, after = to_uint8(result.image_before), to_uint8(result.image_after)
        vector = EditingVector(delta=result.delta[0], name=name, parts=self.part_names(indices),
                               thumbnails={"before": before[0], "after": after[0]}, losses=result.losses)
        vector.created.update(bundle=str(self.bundle.path), images=wplus.shape[0], steps=len(result.losses) - 1,
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
            result = refine(self.generator, self.segmenter, wplus, (applied - wplus), 1.0, parts=parts,
                            settings=chosen, steps=refine_steps, **self._optimiser_terms(chosen, kwargs))
            applied = result.wplus_after
        return applied, self.render(applied)


def load(bundle: str | Path = "toonfaces", device: str | torch.device = "cpu",
         vectors: str | Path | None = None, identity: str | Path | Identity | None = None) -> Editor:
    """An Editor for a packaged bundle name or a bundle directory; `vectors` overrides the user's library
    directory (default `<bundle>/vectors/`, for a packaged bundle one in the user data folder, next to
    its read-only shipped vectors: `bundle_library`); `identity` turns on the identity loss (see the module)."""
    return Editor(open_bundle(bundle), device=device, vectors=vectors, identity=identity)
