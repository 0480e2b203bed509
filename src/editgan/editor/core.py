"""The Editor's core: one bundle's generator on one device in one precision, and which generator draws a latent.

A latent is w+ [N, num_ws, w_dim] (a single [num_ws, w_dim] gets a batch axis) or an `EmbedResult`;
a pivotally tuned one is drawn by its image's G' (a `tuned` view of the Editor, sharing everything
else). Its precision ("fp32", or "bf16": the generator's and segmenters' layers in bfloat16, latents,
optimisers and losses in float32; `editgan.runtime.precision`) holds for every path. The other parts
of the Editor (`editgan.editor.segmentation`, `.embedding`, `.editing`) build on this one.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import TypeVar

import torch

from editgan.bundle import Bundle
from editgan.edit.identity import Identity, load_identity
from editgan.edit.vectors import bundle_library
from editgan.errors import InputError
from editgan.inversion.optimize import EmbedResult
from editgan.io.latents import load_tuning, load_wplus, save_wplus
from editgan.labels import LabelScheme
from editgan.nn.segmenter import Segmenter
from editgan.nn.stylegan2 import check_wplus
from editgan.nn.tuning import Tuning, generator_digest
from editgan.runtime.precision import check_precision, choose_precision, layer_dtype

View = TypeVar("View", bound="EditorCore")


class EditorCore:
    """The bundle, device, precision, generator, vector library and identity network; tuned views;
    sampling and rendering."""

    def __init__(self, bundle: Bundle, device: str | torch.device = "cpu", vectors: str | Path | None = None,
                 identity: str | Path | Identity | None = None, precision: str = "fp32"):
        self.bundle = bundle
        self.device = torch.device(device)
        if precision != "auto":
            check_precision(precision)  # a wrong name fails before any weights load
        self.identity = load_identity(identity, self.device)
        self.generator = bundle.generator(self.device).eval()
        self.precision = choose_precision(precision, self.device)
        self.library = bundle_library(bundle, vectors)
        self._segmenter: Segmenter | None = None  # loaded on first use (editgan.editor.segmentation)
        self._display: Segmenter | None = None
        self._scheme: LabelScheme | None = bundle.labels
        self.tuning: Tuning | None = None  # set on a `tuned` view
        self._parent: EditorCore | None = None  # the untuned Editor a tuned view shares its segmenters with

    @functools.cached_property
    def encoder(self):
        """The bundle's image encoder (embedding starts from E(x), App. A.2), or None without one."""
        return self.bundle.encoder(self.device) if self.bundle.has("encoder") else None

    @property
    def compute_dtype(self) -> torch.dtype | None:
        """The dtype the networks' layers compute in: None (their weights', float32) or torch.bfloat16."""
        return layer_dtype(self.precision)

    @functools.cached_property
    def generator_digest(self) -> str:
        """`generator_digest` of this Editor's generator (what a tuning must have been made for)."""
        return generator_digest(self.generator)

    def _wplus(self, wplus: torch.Tensor) -> torch.Tensor:
        if isinstance(wplus, torch.Tensor) and wplus.ndim == 2:
            wplus = wplus[None]
        return check_wplus(self.generator, wplus)

    def tuned(self: View, tuning: Tuning | None) -> View:
        """This Editor with its generator replaced by G' = G tuned for one image (`Tuning.apply`;
        CheckpointError when the tuning belongs to another generator); it shares the segmenters,
        encoder, identity network and vector library. None: this Editor."""
        if tuning is None:
            return self
        view = copy.copy(self)
        view.generator = tuning.apply(self.generator, self.generator_digest).eval()
        view.tuning, view._parent = tuning, self._parent or self
        return view

    def open_latent(self: View, path: str | Path) -> tuple[View, torch.Tensor]:
        """(the Editor that draws it, w+ [N, num_ws, w_dim]) from a latent file: `tuned` by the pivotal
        tuning the file carries (one image's), else this Editor."""
        cfg = self.generator.config
        wplus = load_wplus(path, cfg.num_ws, cfg.w_dim).to(self.device)
        return self.tuned(load_tuning(path)), wplus

    def save_latent(self, path: str | Path, wplus: torch.Tensor, metadata: dict | None = None) -> Path:
        """Write w+ [N, num_ws, w_dim] with this Editor's tuning (if it is a tuned view) and metadata."""
        return save_wplus(path, wplus, tuning=self.tuning, metadata=metadata)

    def _route(self: View, latent) -> tuple[View, torch.Tensor]:
        """(the Editor that draws it, w+ [N, num_ws, w_dim]) for w+ or an `EmbedResult` (tuned: its
        image's G'; a tuned result must hold one image)."""
        if not isinstance(latent, EmbedResult):
            return self, self._wplus(latent)
        tunings = latent.tunings or [None]
        if len(tunings) != 1:
            raise InputError(f"a tuned embedding of {len(tunings)} images has one generator each; "
                             "pass one image's result at a time (result.select(i))")
        return self.tuned(tunings[0]), self._wplus(latent.wplus)

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
        return editor.generator.synthesis(wplus, noise_mode="const", dtype=self.compute_dtype)
