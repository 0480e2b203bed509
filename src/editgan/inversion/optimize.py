"""Embedding real images into W+ by optimisation (EditGAN Sec. 3.2, App. A.2).

For target images x [N, 3, R, R] in [-1, 1], starting from w+ (an encoder's output, or w_avg
broadcast), minimise per image

    L(w+, n) = lambda_perceptual * D(G(w+, n), x) + lambda_l2 * mean (G(w+, n) - x)^2
               + noise_regularize * R(n)                                  (R only with optimize_noise)

with Adam wrapped in Lookahead (k=5, alpha=0.5) at a constant learning rate; the paper runs 500
steps with lambda_perceptual = 10 (LPIPS), lambda_l2 = 1, lr = 1e-3. D is any distance from
`editgan.io.perceptual`, by name.

The official release embeds differently (utils/model_utils.py `run_embedding_optimization`, 100
steps in tool_car.json): `range(1, 100)` = 99 plain Adam updates whose learning rate follows
`rampdown_lr` with peak 0.1; L2 on images in [0, 1] (a quarter of ours); an encoder consistency
term 1 * mean (w+ - E(G(w+)))^2 with E fed the [0, 1] image and its output a constant target; and
the last iterate returned. `editgan.inversion.settings` holds both as presets. Images are
independent: the loss is summed over the batch and Adam and Lookahead act element-wise, so a batch gives the same result as one call per image (up to the
random noise initialisation). The generator and the distance's networks are never updated:
gradients are taken with `torch.autograd.grad` with respect to w+ (and the noise maps) only.

Noise maps (optimize_noise=True) follow the StyleGAN2 projector (Karras et al. 2020, App. D):
they start as N(0, 1), R(n) sums, over every map and every scale of a pyramid of 2x2 average
poolings down to 8x8, the squared autocorrelation at a one-pixel (circular) shift horizontally
and vertically, and after every step each map is renormalised to zero mean and unit variance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from editgan.bundle import Bundle
from editgan.errors import InputError
from editgan.inversion.settings import KEEP, SCHEDULES
from editgan.io.perceptual import get_perceptual
from editgan.lookahead import Lookahead
from editgan.nn.encoder import place_on_canvas
from editgan.nn.perceptual import PIXEL_SPACES
from editgan.nn.stylegan2 import Generator, check_wplus

ProgressFn = Callable[[int, dict], None]


def rampdown_lr(t: float, peak: float, rampdown: float = 0.25, rampup: float = 0.05) -> float:
    """The StyleGAN2 projector's schedule, as the release uses it: at progress t in [0, 1], a linear
    ramp up over the first `rampup`, a cosine ramp down over the last `rampdown`, peak in between."""
    down = min(1.0, (1.0 - t) / rampdown)
    return peak * (0.5 - 0.5 * math.cos(down * math.pi)) * min(1.0, t / rampup)


@dataclass
class EmbedResult:
    """The best w+ per image and what it renders.

    wplus [N, num_ws, w_dim]; reconstruction [N, 3, R, R] in [-1, 1] (G at wplus and noise, or G'_i
    when tuned); noise: per conv layer [N, 1, r, r] (None unless optimised); losses: one dict of
    batch means ("loss", "perceptual", "l2", "noise") per evaluated point, losses[i] after i updates,
    i = 0..steps; best_loss [N] and best_step [N] (int64) locate each image's kept point.
    Filled in by `Editor.embed`: settings (EmbedSettings), init ("encoder" or "w_avg"), tunings (one
    `Tuning` per image, or None), pivot_reconstruction (G(wplus) when tuned), fidelity and
    pivot_fidelity (one `Fidelity` per image, of reconstruction and of G(wplus)), warnings (per image
    a plain-words warning or None).
    """

    wplus: torch.Tensor
    reconstruction: torch.Tensor
    noise: list[torch.Tensor] | None
    losses: list[dict] = field(default_factory=list)
    best_loss: torch.Tensor | None = None
    best_step: torch.Tensor | None = None
    settings: object = None
    init: str | None = None
    tunings: list | None = None
    pivot_reconstruction: torch.Tensor | None = None
    fidelity: list | None = None
    pivot_fidelity: list | None = None
    warnings: list | None = None

    def select(self, i: int) -> EmbedResult:
        """Image i's result alone (batch axis kept, losses shared)."""
        if not 0 <= i < self.wplus.shape[0]:
            raise InputError(f"image index must be in [0, {self.wplus.shape[0]}), got {i}")
        one = slice(i, i + 1)
        return EmbedResult(
            self.wplus[one], self.reconstruction[one], None if self.noise is None else [n[one] for n in self.noise],
            self.losses, None if self.best_loss is None else self.best_loss[one],
            None if self.best_step is None else self.best_step[one], self.settings, self.init,
            None if self.tunings is None else self.tunings[one],
            None if self.pivot_reconstruction is None else self.pivot_reconstruction[one],
            None if self.fidelity is None else self.fidelity[one],
            None if self.pivot_fidelity is None else self.pivot_fidelity[one],
            None if self.warnings is None else self.warnings[one])


def noise_regularization(noise: list[torch.Tensor], stop_at: int = 8) -> torch.Tensor:
    """Noise maps, each [N, 1, r, r] -> R [N]: sum over maps and pyramid levels (2x2 average pooling
    while the side is > stop_at) of mean(n * roll(n, 1, W))^2 + mean(n * roll(n, 1, H))^2."""
    total = noise[0].new_zeros(noise[0].shape[0])
    for n in noise:
        while True:
            total = total + (n * n.roll(1, dims=3)).mean(dim=(1, 2, 3)).square()
            total = total + (n * n.roll(1, dims=2)).mean(dim=(1, 2, 3)).square()
            if n.shape[-1] <= stop_at:
                break
            n = F.avg_pool2d(n, 2)
    return total


@torch.no_grad()
def normalize_noise_(noise: list[torch.Tensor]) -> None:
    """In place: each map [N, 1, r, r] to zero mean and unit (population) variance per image."""
    for n in noise:
        n.sub_(n.mean(dim=(1, 2, 3), keepdim=True))
        n.mul_(n.square().mean(dim=(1, 2, 3), keepdim=True).rsqrt())


def _initial_wplus(G: Generator, images: torch.Tensor, init: torch.Tensor | None) -> torch.Tensor:
    cfg = G.config
    n = images.shape[0]
    if init is None:
        return G.w_avg.detach().to(images.device).expand(n, cfg.num_ws, cfg.w_dim).clone()
    init = check_wplus(G, init, "init")
    if init.shape[0] != n:
        raise InputError(f"init must hold one w+ per image ({n}), got {init.shape[0]}")
    return init.to(images.device).clone()


def _check_images(G: Generator, images: torch.Tensor) -> None:
    h, w = G.config.image_size
    if images.ndim != 4 or tuple(images.shape[1:]) != (3, h, w) or not images.is_floating_point():
        raise InputError(f"images must be float [N, 3, {h}, {w}] in [-1, 1] for this generator, "
                         f"got {images.dtype} {list(images.shape)}")


@torch.no_grad()
def encode(encoder, images: torch.Tensor, crop: tuple[int, int, int, int] | None = None) -> torch.Tensor:
    """w+ [N, num_ws, w_dim] = E(images) for images float [N, 3, H, W] in [-1, 1]: the encoder
    initialisation of `embed` (App. A.2). `encoder`: an `Encoder` or a bundle holding one. With the
    generator's `crop`, images of the crop's size are placed on the encoder's black canvas first
    (the input of the official car encoder: the 512x512 canvas with black bands)."""
    if isinstance(encoder, Bundle):
        encoder = encoder.encoder(device=images.device)
    return encoder(place_on_canvas(images.float(), crop, encoder.config.resolution))


def embed(G: Generator, images: torch.Tensor, *, init: torch.Tensor | None = None, steps: int = 500,
          lr: float = 1e-3, lambda_perceptual: float = 10.0, lambda_l2: float = 1.0,
          perceptual: str = "msssim_l1", optimize_noise: bool = False,
          noise_regularize: float = 1e5, lookahead_k: int = 5, lookahead_alpha: float = 0.5,
          schedule: str = "constant", pixel_space: str = "signed", consistency_weight: float = 0.0,
          encode: Callable[[torch.Tensor], torch.Tensor] | None = None, keep: str = "best",
          progress: ProgressFn | None = None, seed: int = 0,
          generator: torch.Generator | None = None, dtype: torch.dtype | None = None) -> EmbedResult:
    """Embed images [N, 3, H, W] in [-1, 1] ((H, W): G's image_size) into W+ (module docstring).

    init: w+ [N, num_ws, w_dim] (default w_avg broadcast). perceptual: the name of a registered
    distance (`editgan.io.perceptual`). lookahead_k: 0 for plain Adam. schedule: "constant" lr or
    "rampdown" (`rampdown_lr` with peak lr, at progress step / (steps + 1)). pixel_space: "signed"
    (L2 on [-1, 1]) or "unit" (on [0, 1]; the encoder, if any, is fed [0, 1] too).
    consistency_weight with encode (images -> w+): the release's encoder term. keep: each image's
    "best" step, or the "final" one. progress(step, losses) is called after every evaluation.
    seed / generator (a torch.Generator on CPU; it wins over seed) draw the initial noise maps.
    dtype: the precision of G's layers (torch.bfloat16: w+, Adam, the image and the losses stay float32).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise InputError(f"steps must be a non-negative integer, got {steps!r}")
    for name, value, allowed in (("schedule", schedule, SCHEDULES), ("pixel_space", pixel_space, PIXEL_SPACES),
                                 ("keep", keep, KEEP)):
        if value not in allowed:
            raise InputError(f"{name} must be one of {allowed}, got {value!r}")
    if consistency_weight > 0 and encode is None:
        raise InputError("consistency_weight > 0 needs an encoder (encode=)")
    _check_images(G, images)
    distance = get_perceptual(perceptual)
    target = images.detach().float()
    wplus = _initial_wplus(G, target, init).requires_grad_(True)
    params = [wplus]
    noise = None
    if optimize_noise:
        rng = generator if generator is not None else torch.Generator().manual_seed(seed)
        noise = [torch.randn(target.shape[0], 1, r, r, generator=rng).to(target.device)
                 for _, r in G.config.feature_shapes()]
        normalize_noise_(noise)
        params += [n.requires_grad_(True) for n in noise]
    adam = torch.optim.Adam(params, lr=lr)
    opt = Lookahead(adam, k=lookahead_k, alpha=lookahead_alpha) if lookahead_k else adam
    unit = pixel_space == "unit"

    def evaluate() -> tuple[torch.Tensor, torch.Tensor, dict]:
        recon = G.synthesis(wplus, noise_mode="const", noise=noise, dtype=dtype)
        d = distance(recon, target)
        l2 = (recon - target).square().mean(dim=(1, 2, 3)) / (4 if unit else 1)
        reg = noise_regularization(noise) if noise is not None else torch.zeros_like(l2)
        per_image = lambda_perceptual * d + lambda_l2 * l2 + noise_regularize * reg
        cons = torch.zeros_like(l2)
        if consistency_weight > 0:
            with torch.no_grad():
                encoded = encode((recon.detach() + 1) / 2 if unit else recon.detach())
            cons = (wplus - encoded).square().mean(dim=(1, 2))
        stats = {"loss": per_image.mean().item(), "perceptual": d.mean().item(), "l2": l2.mean().item(),
                 "noise": reg.mean().item(), "consistency": cons.mean().item()}
        return per_image + consistency_weight * cons, recon, stats

    best_loss = torch.full((target.shape[0],), float("inf"), device=target.device)
    best_step = torch.zeros(target.shape[0], dtype=torch.int64, device=target.device)
    best_w = wplus.detach().clone()
    best_noise = [n.detach().clone() for n in noise] if noise is not None else None
    best_recon = torch.zeros_like(target)
    losses: list[dict] = []
    for step in range(steps + 1):
        with torch.set_grad_enabled(step < steps):
            per_image, recon, stats = evaluate()
        losses.append(stats)
        with torch.no_grad():
            better = per_image.detach() < best_loss
            if keep == "final":
                better = torch.ones_like(better)
            best_loss = torch.where(better, per_image.detach(), best_loss)
            best_step[better] = step
            best_w[better] = wplus.detach()[better]
            best_recon[better] = recon.detach()[better]
            for kept, n in zip(best_noise or [], noise or []):
                kept[better] = n.detach()[better]
        if progress is not None:
            progress(step, stats)
        if step == steps:
            break
        grads = torch.autograd.grad(per_image.sum(), params)
        for p, g in zip(params, grads):
            p.grad = g
        if schedule == "rampdown":
            for group in adam.param_groups:
                group["lr"] = rampdown_lr((step + 1) / (steps + 1), lr)
        opt.step()
        if noise is not None:
            normalize_noise_(noise)
    return EmbedResult(best_w, best_recon, best_noise, losses, best_loss, best_step)
