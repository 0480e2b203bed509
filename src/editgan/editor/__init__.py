"""The Editor: one bundle's networks, its label scheme, its vector library and every default behind a small API.

    editor = editgan.load("toonfaces")          # or a bundle directory; device="cuda", precision="auto"
    w = editor.sample(seed=3)                   # w+ [1, num_ws, w_dim]
    w = editor.embed("photo.png").wplus         # or a real image: encoder + optimisation
    photo = editor.embed("photo.png", tune=True)  # + pivotal tuning: G' redraws the photo faithfully
    editor.apply(photo, {"smile": 1.0})         # a tuned embedding is drawn, segmented and edited on its G'
    y = editor.segment(w)                       # int64 [1, H, W]
    y[:, 10:20, 10:20] = editor.scheme.index("mouth")
    result, vector = editor.edit(w, y, ["mouth"], name="open_mouth")
    editor.library.add(vector)
    w2, image = editor.apply(other_w, {"open_mouth": 0.8}, refine_steps=30)

The Editor is put together from one part per idea, each building on the core:

    core          the bundle's generator on a device, tuned views (G' per image), sample, render
    embedding     images -> w+ with the bundle's EmbedSettings, fidelity and its warnings
    segmentation  the ensemble and display segmenters (loaded on first use), label scheme, segment
    editing       learning an edit with the bundle's EditSettings (`edit`), applying vectors (`apply`)

An identity network (the λ3 term of Eq. 5) is on when the Editor gets `identity=`: a path to ArcFace
IR-SE50 weights (`model_ir_se50.pth`), "toonfaces" for the packaged toonfaces network, or any
callable images -> embeddings; it is then used by `edit` and by refinement in `apply`.

The segmenter is loaded on first use, so sampling, rendering and plain vector application work
with a bundle that has no segmenter yet (segment/edit/refinement then raise MissingWeightsError).
"""

from __future__ import annotations

from pathlib import Path

import torch

from editgan.bundle import open_bundle
from editgan.edit.identity import Identity
from editgan.editor.editing import EditingMixin
from editgan.editor.embedding import EmbeddingMixin


class Editor(EmbeddingMixin, EditingMixin):
    """Sampling, rendering, segmenting, learning and applying edits for one bundle on one device.

    Images are float [N, 3, H, W] in [-1, 1]; latents w+ [N, num_ws, w_dim] (a single [num_ws, w_dim]
    is accepted and given a batch axis); label maps int64 [N, H', W'] on the segmenter's grid.
    """


def load(bundle: str | Path = "toonfaces", device: str | torch.device = "cpu",
         vectors: str | Path | None = None, identity: str | Path | Identity | None = None,
         precision: str = "fp32") -> Editor:
    """An Editor for a packaged bundle name or a bundle directory; `vectors` overrides the user's library
    directory (default `<bundle>/vectors/`, for a packaged bundle one in the user data folder, next to
    its read-only shipped vectors: `bundle_library`); `identity` turns on the identity loss (see the module);
    `precision`: "fp32" (exact, the default), "bf16" (the networks' layers in bfloat16, about 2x faster on
    CPUs with AVX-512 BF16 or AMX and on GPUs) or "auto" (bf16 where it is fast; `choose_precision`)."""
    return Editor(open_bundle(bundle), device=device, vectors=vectors, identity=identity, precision=precision)


__all__ = ["Editor", "load"]
