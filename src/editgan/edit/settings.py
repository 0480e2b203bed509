"""Every choice of the editing optimisation in one record, with two presets.

    "paper"    EditGAN Sec. 3.3-3.4 and App. A.4: 100 Adam steps at lr 0.02 for learning a vector,
               30 refinement steps, weights (15, 1, 10) / (5, 1, 5), L_RGB = L2 + perceptual outside r
               (Eq. 2), region r = parts before/after grown by 5 px (Eq. 1), best iterate kept.
    "release"  what the official release's tool runs (nv-tlabs/editGAN_release, experiments/tool_car.json
               and models/EditGAN/EditGAN_tool.py): "steps": 30 is a loop `range(1, 30)`, i.e. 29 Adam
               updates at lr 0.02; loss = 15 * (10 * LPIPS + 5 * MSE) + 1 * CE + 1 * MSE(w, E(x_edit)),
               with images in [0, 1], the MSE a mean over ALL pixels of the masked images, the region
               the user's painted pixels dilated by a 3x3 kernel 3 times (3 px), features for the
               optimisation nearest-upsampled, and the latent returned is the last one (the tool keeps
               `latent.detach()`, which shares storage with the optimised tensor). Its refinement
               (`run_optimization_post_process`) uses the same weights without the encoder term.

A bundle records its choice in the manifest ("editing": "release", or {"preset": ..., field: value});
every call can override single fields. `EditSettings.to_json()` is stored with each learned vector.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from editgan.edit.losses import ENSEMBLE_FORMS, LEARNING_WEIGHTS, REFINEMENT_WEIGHTS, PIXEL_SPACES, LossWeights
from editgan.errors import ConfigError
from editgan.nn.config_base import PresetSettings
from editgan.nn.resample import MODES

REGIONS = ("parts", "painted")
KEEP = ("best", "final")
SEGMENTERS = ("ensemble", "display")


@dataclass(frozen=True)
class EditSettings(PresetSettings):
    """How an edit is optimised (see the module docstring for the two presets).

    steps / refine_steps: Adam updates when learning a vector / refining an applied one; lr: Adam
    learning rate; weights / refine_weights: (λ1 rgb, λ2 ce, λ3 identity) of Eq. 5 for each;
    l2_weight, perceptual_weight: the two terms inside L_RGB (λ1 (a·L2 + b·P)); pixel_space:
    "signed" (images in [-1, 1], L2 a mean over the outside pixels) or "unit" (the release: images
    in [0, 1], L2 a mean over all pixels of the masked images, the encoder fed [0, 1] images);
    consistency_weight: weight of MSE(w+, E(G(w+))) when learning a vector (needs an encoder; 0: off);
    buffer: region dilation in label pixels; region: "parts" (Eq. 1) or "painted" (the repainted
    pixels, or a mask the caller gives); ensemble: form of the ensemble's CE scores
    (`editgan.edit.losses.ensemble_logits`); features: upsampling of the generator features during
    the optimisation ("nearest"/"bilinear"; None: the segmenter's own); keep: "best" or "final" iterate;
    segmenter: whose cross-entropy the Editor's edits and refinements minimise: "ensemble", the bundle's
    DatasetGAN ensemble (the paper), or "display", its distilled one-member display segmenter (beyond the
    paper: 2-3x faster per step; `learn_edit` / `refine` use the segmenter they are given).
    """

    steps: int = 100
    refine_steps: int = 30
    lr: float = 0.02
    weights: LossWeights = LEARNING_WEIGHTS
    refine_weights: LossWeights = REFINEMENT_WEIGHTS
    l2_weight: float = 1.0
    perceptual_weight: float = 1.0
    pixel_space: str = "signed"
    consistency_weight: float = 0.0
    buffer: int = 5
    region: str = "parts"
    ensemble: str = "mean_logits"
    features: str | None = None
    keep: str = "best"
    segmenter: str = "ensemble"
    kind: ClassVar[str] = "edit settings"

    def __post_init__(self) -> None:
        for name in ("weights", "refine_weights"):
            value = getattr(self, name)
            if not isinstance(value, LossWeights):
                if not isinstance(value, (list, tuple)) or len(value) != 3:
                    raise ConfigError(f"{name} must be three numbers (rgb, ce, identity), got {value!r}")
                object.__setattr__(self, name, LossWeights(*(float(v) for v in value)))
        for name in ("steps", "refine_steps", "buffer"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 100_000:
                raise ConfigError(f"{name} must be an integer in [0, 100000], got {value!r}")
        for name in ("lr", "l2_weight", "perceptual_weight", "consistency_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1e6:
                raise ConfigError(f"{name} must be a number in [0, 1e6], got {value!r}")
        for value in (*self.weights, *self.refine_weights):
            if not 0 <= value <= 1e6:
                raise ConfigError(f"loss weights must lie in [0, 1e6], got {value!r}")
        if self.lr == 0:
            raise ConfigError("lr must be positive")
        for name, allowed in (("pixel_space", PIXEL_SPACES), ("region", REGIONS), ("ensemble", ENSEMBLE_FORMS),
                              ("keep", KEEP), ("features", (None, *MODES)), ("segmenter", SEGMENTERS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")



PAPER = EditSettings()
RELEASE = EditSettings(steps=29, refine_steps=29, weights=LossWeights(15.0, 1.0, 0.0),
                       refine_weights=LossWeights(15.0, 1.0, 0.0), l2_weight=5.0, perceptual_weight=10.0,
                       pixel_space="unit", consistency_weight=1.0, buffer=3, region="painted",
                       features="nearest", keep="final")
PRESETS = {"paper": PAPER, "release": RELEASE}


def edit_settings(spec: str | Mapping | EditSettings | None = None) -> EditSettings:
    """A preset name, {"preset": name, field: value, ...} (a manifest's "editing"), settings, or
    None (the paper's) -> EditSettings; InputError naming the presets or the bad field."""
    return EditSettings.resolve(spec, PRESETS)
