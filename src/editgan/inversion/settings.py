"""Every choice of embedding a real image in one record, with presets.

    "paper"     EditGAN App. A.2: the encoder's E(x), then 500 Adam steps wrapped in Lookahead (k=5,
                alpha=0.5) at a constant lr 1e-3, 10 * perceptual + 1 * L2, the best iterate kept.
    "release"   what the official release runs (utils/model_utils.py `run_embedding_optimization`,
                100 steps in tool_car.json): 99 plain Adam updates with the StyleGAN2 projector's
                ramp-down schedule at peak lr 0.1, L2 on [0, 1] images, an encoder consistency term
                1 * mean (w+ - E(G(w+)))^2, the last iterate returned.
    "faithful"  beyond the paper: the paper's W+ embedding as the pivot, then pivotal tuning of the
                generator's synthesis weights for the image (Roich et al. 2021; `editgan.inversion.pivotal`)
                so that G'(pivot) reproduces it; the blocks below 32 px (pose and shape, where tuning
                damped the editing vectors most) keep G's weights.

A bundle records its choice in the manifest ("embedding": "faithful", or {"preset": ..., field:
value}; a mapping without "preset" overrides the paper's, e.g. the older {"lr": 0.05}); every call
may override single fields. `EmbedSettings.to_json()` is stored with every saved latent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from editgan.errors import ConfigError
from editgan.nn.config_base import PresetSettings
from editgan.nn.perceptual import PIXEL_SPACES

SCHEDULES = ("constant", "rampdown")
KEEP = ("best", "final")
MAX_STEPS = 100_000


@dataclass(frozen=True)
class EmbedSettings(PresetSettings):
    """How an image is embedded (module docstring for the presets).

    W+ optimisation (`editgan.inversion.optimize.embed`): steps (Adam updates), lr, schedule
    ("constant" or "rampdown"), lookahead_k (0: plain Adam), lambda_perceptual / lambda_l2 (the two
    reconstruction terms), perceptual (a registered distance name; None: the bundle's), pixel_space
    ("signed": L2 on [-1, 1]; "unit": on [0, 1]), consistency_weight (the release's encoder term; 0:
    off), keep ("best" or "final" iterate), optimize_noise / noise_regularize (StyleGAN2 projector
    noise maps), use_encoder (start from E(x) when the bundle has an encoder, else w_avg), seed.

    Pivotal tuning (`editgan.inversion.pivotal.tune`): tune_steps (Adam updates; 0: no tuning),
    tune_lr, tune_rank (rank of each synthesis weight's low-rank delta), locality_weight (weight of
    the term keeping G' equal to G on latents around the pivot; 0: off), locality_step (where those
    latents lie: that fraction of the way from the pivot to a random sample, in (0, 1]),
    locality_every (the term is evaluated on every n-th step), tune_min_resolution (only the synthesis
    blocks of at least this resolution are tuned; 0: all).
    """

    steps: int = 500
    lr: float = 1e-3
    schedule: str = "constant"
    lookahead_k: int = 5
    lambda_perceptual: float = 10.0
    lambda_l2: float = 1.0
    perceptual: str | None = None
    pixel_space: str = "signed"
    consistency_weight: float = 0.0
    keep: str = "best"
    optimize_noise: bool = False
    noise_regularize: float = 1e5
    use_encoder: bool = True
    seed: int = 0
    tune_steps: int = 0
    tune_lr: float = 3e-2
    tune_rank: int = 8
    locality_weight: float = 0.1
    locality_step: float = 0.25
    locality_every: int = 4
    tune_min_resolution: int = 0
    kind: ClassVar[str] = "embedding settings"

    def __post_init__(self) -> None:
        for name in ("steps", "lookahead_k", "tune_steps", "tune_rank", "seed", "locality_every",
                     "tune_min_resolution"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_STEPS:
                raise ConfigError(f"{name} must be an integer in [0, {MAX_STEPS}], got {value!r}")
        for name in ("lr", "lambda_perceptual", "lambda_l2", "consistency_weight", "noise_regularize", "tune_lr",
                     "locality_weight", "locality_step"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1e6:
                raise ConfigError(f"{name} must be a number in [0, 1e6], got {value!r}")
        for name in ("lr", "tune_lr"):
            if getattr(self, name) == 0:
                raise ConfigError(f"{name} must be positive")
        if self.tune_steps and not (self.tune_rank and self.locality_every):
            raise ConfigError("tune_rank and locality_every must be positive when tuning")
        if not 0 < self.locality_step <= 1:
            raise ConfigError(f"locality_step must lie in (0, 1], got {self.locality_step!r}")
        for name in ("optimize_noise", "use_encoder"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.perceptual is not None and not isinstance(self.perceptual, str):
            raise ConfigError(f"perceptual must be a distance name, got {self.perceptual!r}")
        for name, allowed in (("schedule", SCHEDULES), ("pixel_space", PIXEL_SPACES), ("keep", KEEP)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    @property
    def tunes(self) -> bool:
        """Whether pivotal tuning follows the W+ embedding."""
        return self.tune_steps > 0


    def optimizer_options(self) -> dict:
        """The keyword options of `editgan.inversion.optimize.embed` (all but steps, perceptual,
        use_encoder and the tuning fields)."""
        skip = {"steps", "perceptual", "use_encoder", "tune_steps", "tune_lr", "tune_rank", "locality_weight",
                "locality_step", "locality_every", "tune_min_resolution"}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skip}

    def tuning_options(self) -> dict:
        """The keyword options of `editgan.inversion.pivotal.tune`."""
        return {"steps": self.tune_steps, "lr": self.tune_lr, "rank": self.tune_rank, "perceptual": self.perceptual,
                "locality_weight": self.locality_weight, "locality_step": self.locality_step,
                "locality_every": self.locality_every, "seed": self.seed, "min_resolution": self.tune_min_resolution}


PAPER = EmbedSettings()
RELEASE = EmbedSettings(steps=99, lr=0.1, schedule="rampdown", lookahead_k=0, pixel_space="unit",
                        consistency_weight=1.0, keep="final")
FAITHFUL = EmbedSettings(tune_steps=200, tune_min_resolution=32)
PRESETS = {"paper": PAPER, "release": RELEASE, "faithful": FAITHFUL}


def embed_settings(spec: str | Mapping | EmbedSettings | None = None) -> EmbedSettings:
    """A preset name, {"preset": name, field: value, ...} (a manifest's "embedding"; no "preset":
    the paper's), settings, or None (the paper's) -> EmbedSettings; InputError naming the presets
    or the bad field."""
    return EmbedSettings.resolve(spec, PRESETS)
