"""How faithful an embedding's reconstruction is, and when to warn that the generator cannot draw an image.

Every embedding reports, per image, the PSNR (images in [0, 1], peak 1) and the perceptual distance
(the one it was optimised with) of its reconstruction. Whether the generator can draw the image at
all is judged on the W+ pivot G(w+), before any tuning (tuning fits almost anything; edits then act
on what the generator understood): a bundle's manifest may record limits measured on held-out images
of its domain ("fidelity": {"psnr_floor": dB, "perceptual_ceiling": d, "source": how measured});
a pivot below the floor or above the ceiling gets a plain-words warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from editgan.errors import ConfigError
from editgan.io.perceptual import get_perceptual


@dataclass(frozen=True)
class Fidelity:
    """One reconstruction's PSNR in dB and its perceptual `distance` by the distance named `perceptual`."""

    psnr: float
    distance: float
    perceptual: str

    def to_json(self) -> dict:
        return {"psnr": round(self.psnr, 3), "distance": round(self.distance, 5), "perceptual": self.perceptual}

    def describe(self) -> str:
        return f"PSNR {self.psnr:.1f} dB, {self.perceptual} {self.distance:.4f}"


@dataclass(frozen=True)
class FidelityLimits:
    """A pivot whose PSNR is below psnr_floor or whose distance is above perceptual_ceiling is out of
    the generator's reach; `source` says how the limits were measured."""

    psnr_floor: float
    perceptual_ceiling: float
    source: str = ""

    @classmethod
    def from_manifest(cls, data: Mapping | None) -> FidelityLimits | None:
        """The manifest's "fidelity" record, or None when it has none; ConfigError when malformed."""
        if data is None:
            return None
        try:
            return cls(float(data["psnr_floor"]), float(data["perceptual_ceiling"]), str(data.get("source", "")))
        except (KeyError, TypeError, ValueError):
            raise ConfigError("the manifest's fidelity must hold numbers psnr_floor and perceptual_ceiling") from None

    def warning(self, pivot: Fidelity) -> str | None:
        """A plain-words warning when `pivot` lies outside these limits, else None."""
        if pivot.psnr >= self.psnr_floor and pivot.distance <= self.perceptual_ceiling:
            return None
        return (f"this image is far from anything the generator draws (its best W+ reconstruction: "
                f"{pivot.describe()}; images of this domain reach PSNR >= {self.psnr_floor:.1f} dB): "
                "edits may change more than asked, or not take")


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PSNR in dB [N] of images [N, C, H, W] in [-1, 1], measured on [0, 1] (peak 1)."""
    mse = ((a.clamp(-1, 1) - b.clamp(-1, 1)) / 2).square().mean(dim=(1, 2, 3))
    return 10 * torch.log10(1 / mse.clamp_min(1e-12))


@torch.no_grad()
def measure_fidelity(reconstruction: torch.Tensor, target: torch.Tensor, perceptual: str) -> list[Fidelity]:
    """One Fidelity per image of reconstructions and targets [N, 3, H, W] in [-1, 1]."""
    values = psnr(reconstruction, target).tolist()
    distances = get_perceptual(perceptual)(reconstruction.clamp(-1, 1), target.clamp(-1, 1)).tolist()
    return [Fidelity(p, d, perceptual) for p, d in zip(values, distances)]
