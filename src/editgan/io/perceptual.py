"""Perceptual distances by name: what a bundle's manifest ("perceptual") and every embedding or
editing call names. Each is `fn(a, b, mask=None) -> [N]` (conventions in `editgan.nn.perceptual`).

- "lpips": LPIPS-VGG v0.1, the paper's choice (Sec. 3.2, App. A.2). Best match to human judgement
  on natural images; needs VGG16 + LPIPS head weights (MissingWeightsError says where to put them)
  and costs a VGG16 forward/backward (~15 GFLOP per 256^2 image pair).
- "msssim_l1": weight-free MS-SSIM + L1 (`editgan.nn.perceptual.msssim_l1`); any domain.
- whatever domain plug-ins register (`editgan.registry.PERCEPTUAL`), e.g. toonfaces' "toon".
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from editgan.io.lpips_weights import heads_candidates, load_lpips, vgg16_candidates
from editgan.nn.perceptual import PerceptualFn, msssim_l1
from editgan.registry import PERCEPTUAL


@lru_cache(maxsize=4)
def _lpips_model(device: str, vgg16: Path, heads: Path):
    return load_lpips(vgg16, heads, device=device)


def lpips(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """LPIPS-VGG v0.1 -> [N]; MissingWeightsError (with where to put the files) when absent.
    The model is cached per device and per weight files found (lookup in `editgan.io.lpips_weights`)."""
    vgg16 = next((p for p in vgg16_candidates() if p.is_file()), None)
    heads = next((p for p in heads_candidates() if p.is_file()), None)
    if vgg16 is None or heads is None:
        load_lpips()  # raises MissingWeightsError naming every missing file
    return _lpips_model(str(a.device), vgg16, heads)(a, b, mask)


PERCEPTUAL.register("lpips", lpips)
PERCEPTUAL.register("msssim_l1", msssim_l1)


def get_perceptual(name: str) -> PerceptualFn:
    """The distance registered under `name` (here or by a domain plug-in); InputError listing the names."""
    return PERCEPTUAL.get(name)
