"""Pivotal tuning (Roich et al., "Pivotal Tuning for Latent-based Editing of Real Images", 2021):
after the W+ embedding (the pivot w_p), fine-tune the generator's synthesis weights for one image so
that G'(w_p) reproduces it, while G' stays G away from the pivot.

Per image x [1, 3, H, W] in [-1, 1], with the tuned weights W' = W + B A (`editgan.nn.tuning`, B
starting at zero so that G' = G at step 0), minimise with Adam

    L = L2(G'(w_p), x) + D(G'(w_p), x)                          reconstruction (PTI: lambda 1 and 1)
        + locality_weight * (L2 + D)(G'(w_r), G(w_r))           locality (PTI's regulariser)

with the locality term on every `locality_every`-th step only (PTI's interval; it doubles a step's
cost), where D is the perceptual distance (the bundle's), L2 the mean squared error on [-1, 1], and w_r a
fresh latent each step between the pivot and a random sample: w_r = w_p + locality_step (w_z - w_p),
w_z the broadcast mapping of z ~ N(0, I). PTI moves a fixed distance (alpha = 30) along that
direction in its W; a fraction of the way is the scale-free form for any generator. The generator's
own weights never change; only the factors are optimised. Images are tuned one at a time (each gets
its own factors); the kept tuning is the step with the lowest reconstruction loss L2 + D (step 0 is G
itself, so tuning never reconstructs worse than the pivot: a large lr can diverge on some faces).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch.func import functional_call

from editgan.errors import InputError
from editgan.io.perceptual import get_perceptual
from editgan.nn.stylegan2 import Generator, check_wplus
from editgan.nn.tuning import Tuning, factor_shapes, generator_digest, tunable_weights

ProgressFn = Callable[[int, dict], None]


@dataclass
class TuneResult:
    """tunings: one per image; reconstruction [N, 3, H, W] in [-1, 1] = G'_i(w_p,i); losses: per
    step the batch means of "loss", "l2", "perceptual", "locality" (losses[i] before update i+1)."""

    tunings: list[Tuning]
    reconstruction: torch.Tensor
    losses: list[dict] = field(default_factory=list)


def _init_factors(weights: dict[str, torch.Tensor], rank: int, rng: torch.Generator) -> dict:
    """B = 0 [C_out, r] and A ~ N(0, 1/fan_in) [r, fan_in] per weight (so W' = W at the start)."""
    factors = {}
    for name, w in weights.items():
        (out, r), (_, fan_in) = factor_shapes(w, rank)
        a = torch.randn(r, fan_in, generator=rng) / math.sqrt(fan_in)
        factors[name] = (torch.zeros(out, r, device=w.device), a.to(w.device))
    return factors


def _locality_latent(G: Generator, pivot: torch.Tensor, step: float, rng: torch.Generator) -> torch.Tensor:
    """w_p + step (w_z - w_p) for one z drawn from `rng`: w+ [1, num_ws, w_dim]."""
    with torch.no_grad():
        w_z = G.broadcast(G.mapping(G.sample_z(1, generator=rng, device=pivot.device)))
    return pivot + step * (w_z - pivot)


@torch.enable_grad()
def tune_one(G: Generator, image: torch.Tensor, pivot: torch.Tensor, *, steps: int, lr: float, rank: int,
             perceptual: str, locality_weight: float, locality_step: float, locality_every: int = 1, seed: int = 0,
             min_resolution: int = 0, digest: str | None = None, dtype: torch.dtype | None = None,
             progress: ProgressFn | None = None) -> tuple[Tuning, torch.Tensor, list]:
    """Tune G for one image [1, 3, H, W] at its pivot w+ [1, num_ws, w_dim] (module docstring; only the
    blocks of resolution >= min_resolution) -> (the Tuning, G'(pivot) [1, 3, H, W], per-step loss dicts)."""
    distance = get_perceptual(perceptual)
    rng = torch.Generator().manual_seed(seed)
    base = tunable_weights(G, min_resolution)
    factors = _init_factors(base, rank, rng)
    params = [t.requires_grad_(True) for pair in factors.values() for t in pair]
    adam = torch.optim.Adam(params, lr=lr)
    synthesis = G.synthesis

    def render(wplus: torch.Tensor) -> torch.Tensor:
        weights = {n: base[n] + (b @ a).view_as(base[n]) for n, (b, a) in factors.items()}
        return functional_call(synthesis, weights, (wplus,), {"noise_mode": "const", "dtype": dtype})

    def snapshot() -> dict:
        return {n: (b.detach().clone(), a.detach().clone()) for n, (b, a) in factors.items()}

    def reconstruction_loss(recon: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (recon - image).square().mean(), distance(recon, image).mean()

    losses = []
    best, best_loss, best_step = snapshot(), float("inf"), 0
    t0 = time.perf_counter()
    for step in range(steps):
        recon = render(pivot)
        l2, d = reconstruction_loss(recon)
        loss = l2 + d
        if loss.item() < best_loss:  # the factors before this update
            best, best_loss, best_step = snapshot(), loss.item(), step
        local = torch.zeros(())
        if locality_weight > 0 and step % locality_every == 0:
            w_r = _locality_latent(G, pivot, locality_step, rng)
            with torch.no_grad():
                reference = synthesis(w_r, noise_mode="const", dtype=dtype)
            moved = render(w_r)
            local = (moved - reference).square().mean() + distance(moved, reference).mean()
            loss = loss + locality_weight * local
        adam.zero_grad(set_to_none=True)
        loss.backward()
        adam.step()
        stats = {"loss": loss.item(), "l2": l2.item(), "perceptual": d.item(), "locality": local.item()}
        losses.append(stats)
        if progress is not None:
            progress(step, stats)
    with torch.no_grad():
        final = sum(reconstruction_loss(render(pivot))).item()
        if final < best_loss:
            best, best_loss, best_step = snapshot(), final, steps
        factors = best
        recon = render(pivot)
    info = {"steps": steps, "lr": lr, "rank": rank, "perceptual": perceptual, "locality_weight": locality_weight,
            "locality_step": locality_step, "locality_every": locality_every, "seed": seed,
            "min_resolution": min_resolution, "best_step": best_step,
            "seconds": time.perf_counter() - t0}
    return Tuning(best, digest or generator_digest(G), info), recon, losses


def tune(G: Generator, images: torch.Tensor, pivots: torch.Tensor, *, steps: int = 300, lr: float = 3e-2,
         rank: int = 8, perceptual: str = "msssim_l1", locality_weight: float = 0.1, locality_step: float = 0.25,
         locality_every: int = 1, seed: int = 0, min_resolution: int = 0, dtype: torch.dtype | None = None,
         progress: ProgressFn | None = None) -> TuneResult:
    """Tune G for each image [N, 3, H, W] in [-1, 1] at its pivot w+ [N, num_ws, w_dim]; G itself is
    never changed. min_resolution: only the synthesis blocks of at least that resolution are tuned (0:
    all; above the generator's resolution: its last block). dtype: the precision of G's layers
    (torch.bfloat16: the factors, Adam and the losses stay float32). progress(step, losses) after
    every update of every image (step counts on across images: image i's update s is step i * steps + s)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise InputError(f"tuning steps must be a non-negative integer, got {steps!r}")
    for name, value in (("rank", rank), ("locality_every", locality_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"tuning {name} must be a positive integer, got {value!r}")
    if isinstance(min_resolution, bool) or not isinstance(min_resolution, int) or min_resolution < 0:
        raise InputError(f"tuning min_resolution must be a non-negative integer, got {min_resolution!r}")
    min_resolution = min(min_resolution, G.config.resolution)
    h, w = G.config.image_size
    if images.ndim != 4 or tuple(images.shape[1:]) != (3, h, w):
        raise InputError(f"images must be [N, 3, {h}, {w}] for this generator, got {list(images.shape)}")
    pivots = check_wplus(G, pivots, "pivots")
    if pivots.shape[0] != images.shape[0]:
        raise InputError(f"one pivot per image: {images.shape[0]} images, {pivots.shape[0]} pivots")
    digest = generator_digest(G)
    tunings, recons, history = [], [], []
    for i in range(images.shape[0]):
        report = None if progress is None else (lambda s, v, i=i: progress(i * steps + s, v))
        tuning, recon, losses = tune_one(
            G, images[i:i + 1].float(), pivots[i:i + 1], steps=steps, lr=lr, rank=rank, perceptual=perceptual,
            locality_weight=locality_weight, locality_step=locality_step, locality_every=locality_every,
            seed=seed + i, min_resolution=min_resolution, digest=digest, dtype=dtype, progress=report)
        tunings.append(tuning)
        recons.append(recon)
        history.append(losses)
    means = [{k: sum(h[s][k] for h in history) / len(history) for k in history[0][s]} for s in range(steps)]
    return TuneResult(tunings, torch.cat(recons), means)
