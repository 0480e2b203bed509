"""The Editor's embedding: images -> w+ with the bundle's `EmbedSettings` (manifest "embedding":
"paper", "release" or "faithful"; `editgan.inversion.settings`), every call overriding single fields.

E(x) when the bundle has an encoder, then the W+ optimisation, then pivotal tuning per image when the
settings tune. Each result reports the PSNR and perceptual distance of its reconstruction and warns
when the generator cannot draw the image (the bundle's measured `FidelityLimits`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path

import torch

from editgan.editor.core import EditorCore
from editgan.errors import InputError
from editgan.inversion.fidelity import Fidelity, FidelityLimits, measure_fidelity
from editgan.inversion.optimize import EmbedResult, embed, encode
from editgan.inversion.pivotal import tune
from editgan.inversion.settings import FAITHFUL, EmbedSettings, embed_settings
from editgan.io.images import load_image


class EmbeddingMixin(EditorCore):
    """Embedding settings, embedding (optionally pivotally tuned) and fidelity warnings."""

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
                       encode=encode_fn, progress=progress, dtype=self.compute_dtype, **chosen.optimizer_options())
        result.settings, result.init = chosen, "encoder" if init is not None else "w_avg"
        result.pivot_fidelity = measure_fidelity(result.reconstruction, images, chosen.perceptual)
        if chosen.tunes:
            offset = chosen.steps + 1
            tuned = tune(self.generator, images, result.wplus, **chosen.tuning_options(), dtype=self.compute_dtype,
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
