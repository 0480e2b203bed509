"""Training the segmentation branch from a handful of annotated w+ latents (Sec. 3.2, App. A.3).

The generator is frozen; its feature maps for every annotated latent are computed once and kept at
their native resolutions. Each step, every ensemble member draws its own random pixels (64 by
default, as in the paper) across all annotated images from its own seeded generator (uniformly,
or with `class_balance` > 0 favouring rare classes), the exact
resampled feature vectors of those pixels are gathered (`segmenter_inference.gather_features`, same
interpolation as inference), and the members are trained with pixel cross-entropy, Adam lr 1e-3.
The members are stacked and trained in one batched pass; their losses are summed, so each member's
gradient and Adam state are exactly those of training it alone.

Stopping: the mean loss over windows of `window` steps is tracked; training stops when it has not
improved on the best window by more than `min_rel_improvement` for `patience` windows (the loss
has plateaued), or after `max_steps`. (DatasetGAN stops after 50 batches without a new best
single-batch loss; windows make the rule insensitive to batch noise.)

Inputs here are w+ latents; `editgan train segmenter --images` embeds annotated images first
(encoder + optimisation, Sec. 3.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from editgan.errors import InputError
from editgan.io.masks import MASK_SUFFIXES
from editgan.nn.segmenter import Segmenter, segmentation_features
from editgan.nn.segmenter_config import SegmenterConfig
from editgan.nn.segmenter_inference import gather_features
from editgan.nn.tuning import Tuning, generator_digest


@dataclass
class TrainSettings:
    batch_pixels: int = 64
    lr: float = 1e-3
    max_steps: int = 20000
    window: int = 200
    patience: int = 5
    min_rel_improvement: float = 0.01
    seed: int = 0
    class_balance: float = 0.0  # 0: pixels uniformly (the paper); 1: every class equally often


@dataclass
class TrainReport:
    steps: int
    window_losses: list[float] = field(default_factory=list)
    stopped: str = "max_steps"  # or "plateau"
    train_pixel_accuracy: float = float("nan")

    def to_json(self) -> dict:
        return {"steps": self.steps, "window_losses": self.window_losses, "stopped": self.stopped,
                "train_pixel_accuracy": self.train_pixel_accuracy}


def find_masks(mask_dir: str | Path, names: list[str]) -> list[Path]:
    """`<name>.png` or `<name>.npy` in mask_dir for each name; InputError listing the missing ones."""
    mask_dir = Path(mask_dir)
    if not mask_dir.is_dir():
        raise InputError(f"mask directory not found: {mask_dir}")
    found, missing = [], []
    for name in names:
        hits = [mask_dir / f"{name}{s}" for s in MASK_SUFFIXES if (mask_dir / f"{name}{s}").is_file()]
        if len(hits) != 1:
            missing.append(name)
        else:
            found.append(hits[0])
    if missing:
        raise InputError(f"need exactly one mask (<name>.png or <name>.npy) in {mask_dir} for each latent; "
                         f"missing or ambiguous: {missing[:10]}")
    return found


@torch.no_grad()
def extract_features(generator, wplus: torch.Tensor, config: SegmenterConfig, dtype: torch.dtype = torch.float32,
                     tunings: list[Tuning | None] | None = None) -> list[torch.Tensor]:
    """Feature maps of every latent, one at a time: list of [I, C_k, r_k, r_k] in `dtype`. tunings:
    per latent a pivotal `Tuning` (its features come from that G') or None (from the generator)."""
    tunings = tunings or [None] * len(wplus)
    digest = generator_digest(generator) if any(t is not None for t in tunings) else None
    per_image = [segmentation_features(generator if t is None else t.apply(generator, digest), w[None], config)[1]
                 for w, t in zip(wplus, tunings, strict=True)]
    return [torch.cat([f[k] for f in per_image]).to(dtype).contiguous() for k in range(len(per_image[0]))]


def train_segmenter(seg: Segmenter, feats: list[torch.Tensor], masks: torch.Tensor,
                    settings: TrainSettings | None = None,
                    progress: Callable[[int, float], None] | None = None) -> TrainReport:
    """Train all members of `seg` on feature maps `feats` ([I, C_k, r_k, r_k] each) and label maps
    `masks` (int64 [I, H, W], the segmenter's out_size). progress(step, loss) after every step."""
    s = settings or TrainSettings()
    cfg = seg.config
    n_img, (h, w) = masks.shape[0], cfg.out_size
    if tuple(masks.shape[1:]) != (h, w) or feats[0].shape[0] != n_img:
        raise InputError(f"masks must be [{feats[0].shape[0]}, {h}, {w}], got {list(masks.shape)}")
    if masks.min() < 0 or masks.max() >= cfg.num_classes:
        raise InputError(f"mask labels must lie in [0, {cfg.num_classes})")
    m = seg.num_members
    gens = [torch.Generator().manual_seed(s.seed * 1000 + i) for i in range(m)]
    optimizer = torch.optim.Adam(seg.parameters(), lr=s.lr)
    flat_masks = masks.reshape(-1)
    weights = pixel_weights(flat_masks, cfg.num_classes, s.class_balance)
    report = TrainReport(steps=0)
    plateau = Plateau(s.window, s.patience, s.min_rel_improvement, report.window_losses)
    seg.train()
    for step in range(1, s.max_steps + 1):
        idx = torch.cat([draw_pixels(weights, n_img * h * w, s.batch_pixels, g) for g in gens])
        batch, pix = idx // (h * w), idx % (h * w)
        x = gather_features(seg.config, feats, batch, pix // w, pix % w).float().view(m, s.batch_pixels, -1)
        logits = seg.logits_from_vectors(x)  # [M, K, B]
        target = flat_masks[idx].view(m, s.batch_pixels)
        loss = F.cross_entropy(logits, target, reduction="none").mean(1).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        value = loss.item() / m
        report.steps = step
        if progress:
            progress(step, value)
        if plateau.reached(value):
            report.stopped = "plateau"
            break
    seg.eval()
    report.train_pixel_accuracy = pixel_accuracy(seg, feats, masks)
    return report


class Plateau:
    """The stopping rule (see the module): feed one loss per step; `reached` turns True when the mean
    over a window of `window` steps has not beaten the best window by more than `min_rel_improvement`
    for `patience` windows. Window means are appended to `window_means`."""

    def __init__(self, window: int, patience: int, min_rel_improvement: float, window_means: list[float]):
        self.window, self.patience, self.min_rel_improvement = window, patience, min_rel_improvement
        self.window_means = window_means
        self.best, self.stale, self.total, self.count = float("inf"), 0, 0.0, 0

    def reached(self, loss: float) -> bool:
        self.total += loss
        self.count += 1
        if self.count < self.window:
            return False
        mean, self.total, self.count = self.total / self.window, 0.0, 0
        self.window_means.append(mean)
        if mean < self.best * (1 - self.min_rel_improvement):
            self.best, self.stale = mean, 0
        else:
            self.stale += 1
        return self.stale >= self.patience


def pixel_weights(flat_masks: torch.Tensor, num_classes: int, balance: float) -> torch.Tensor | None:
    """Sampling weight per pixel, freq(label)^-balance (float64 [P]), or None for uniform sampling.

    balance in [0, 1]: 0 keeps the data's class frequencies, 1 draws every present class equally
    often (small parts such as pupils are otherwise a fraction of a percent of the pixels)."""
    if not 0.0 <= balance <= 1.0:
        raise InputError(f"class_balance must lie in [0, 1], got {balance}")
    if balance == 0.0:
        return None
    counts = torch.bincount(flat_masks, minlength=num_classes).double()
    return counts.clamp_min(1).pow(-balance)[flat_masks]


def draw_pixels(weights: torch.Tensor | None, num_pixels: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """n flat pixel indices in [0, num_pixels), uniformly or by `weights` (with replacement)."""
    if weights is None:
        return torch.randint(0, num_pixels, (n,), generator=generator)
    return torch.multinomial(weights, n, replacement=True, generator=generator)


@torch.no_grad()
def pixel_accuracy(seg: Segmenter, feats: list[torch.Tensor], masks: torch.Tensor) -> float:
    """Fraction of pixels whose ensemble label equals the mask (eval mode, image by image)."""
    correct = 0
    for i in range(masks.shape[0]):
        labels = seg.predict([f[i:i + 1].float() for f in feats]).labels[0]
        correct += int((labels == masks[i]).sum())
    return correct / masks.numel()
