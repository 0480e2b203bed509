"""Encoder training (EditGAN App. A.2, Eq. 6-8) with a frozen generator G.

Per image, with D a perceptual distance (`editgan.nn.perceptual`; the paper's is LPIPS) and
L2(a, b) the mean squared difference over all elements:

    Eq. 6, real x:            L_RGB      = l1 D(x, G(E(x))) + l2 L2(x, G(E(x)))
    Eq. 7-8, x = G(m(z)):     L_Sampling = l3 D(x, G(E(x))) + l4 L2(x, G(E(x)))
                                           + l5 L2(m(z) broadcast to w+, E(x))

with (l1, l2, l3, l4, l5) = (10, 1, 10, 1, 5) as in the paper: l1/l3 weight the perceptual terms,
l2/l4 the pixel L2 terms, l5 the latent regression onto the sample's own w = m(z). G renders with
constant noise. The first `warmup` steps use L_Sampling only; afterwards every step adds L_RGB on a
batch of real images to L_Sampling on a batch of samples (the paper alternates the two "iteratively";
summing them per step trains on both with one optimiser update). Adam with the paper's lr 3e-5.
With precision "bf16", E's layers run under bfloat16 autocast and G's convs in bfloat16 (E's weights,
Adam and the losses stay float32; about 2x faster where bf16 is fast, `editgan.runtime.precision`).

Every random draw (z, real-image indices) comes from the trainer's own torch.Generator, saved
with the checkpoint, so N steps equal N/2 steps + save + resume + N/2 steps exactly. Under
torchrun each rank takes its slice of every global batch and gradients are averaged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar

import torch

from editgan.errors import ConfigError
from editgan.io.encoder_files import encoder_class
from editgan.io.perceptual import get_perceptual
from editgan.nn.config_base import JsonConfig
from editgan.nn.encoder import place_on_canvas
from editgan.nn.perceptual import PerceptualFn
from editgan.nn.stylegan2 import Generator
from editgan.runtime import distributed as ddp
from editgan.runtime.precision import PRECISIONS, autocast, check_precision
from editgan.train.data import draw_batch
from editgan.train.loop import run_loop
from editgan.train.state import load_state, save_state

PAPER_LAMBDAS = (10.0, 1.0, 10.0, 1.0, 5.0)


@dataclass
class EncoderTrainConfig(JsonConfig):
    """Hyperparameters; `encoder` holds the config fields of the `architecture` (a name in
    `editgan.io.encoder_files.ENCODERS`) beyond the generator's shape."""

    data: str = "toonfaces"
    architecture: str = "pyramid"
    encoder: dict = field(default_factory=dict)
    batch: int = 8                  # global batch of samples (and of real images after warm-up)
    lr: float = 3e-5
    betas: tuple[float, float] = (0.9, 0.999)
    lambdas: tuple[float, ...] = PAPER_LAMBDAS
    warmup: int = 0                 # steps on samples only (paper: 20,000 for Car and Cat)
    perceptual: str = "msssim_l1"
    seed: int = 0
    init: str | None = None         # encoder the weights started from (fine-tuning), for provenance
    precision: str = "fp32"         # "bf16": E and G run their convs in bfloat16 (an execution choice)
    kind: ClassVar[str] = "encoder training"

    def __post_init__(self) -> None:
        self.betas, self.lambdas = tuple(self.betas), tuple(self.lambdas)
        if len(self.lambdas) != 5 or min(self.lambdas) < 0:
            raise ConfigError(f"lambdas must be five non-negative weights (l1..l5), got {list(self.lambdas)}")
        if self.batch < 1 or self.warmup < 0 or self.lr <= 0:
            raise ConfigError(f"need batch >= 1, warmup >= 0, lr > 0; got {self.batch}, {self.warmup}, {self.lr}")
        get_perceptual(self.perceptual)
        encoder_class(self.architecture)
        check_precision(self.precision)


def reconstruction_terms(E: torch.nn.Module, G: Generator, x: torch.Tensor, distance: PerceptualFn,
                         precision: str = "fp32"):
    """x [N, 3, H, W] (G's image_size) -> (w+ = E(x on G's canvas), perceptual D(x, G(w+)) [N], pixel L2 [N]),
    all float32; `precision` is what E's and G's convs run in."""
    with autocast(precision, x.device):
        wplus = E(place_on_canvas(x, G.config.crop, E.config.resolution)).float()
    recon = G.synthesis(wplus, noise_mode="const", dtype=PRECISIONS[precision])
    return wplus, distance(recon, x), (recon - x).square().mean(dim=(1, 2, 3))


def encoder_losses(E: torch.nn.Module, G: Generator, z: torch.Tensor, real: torch.Tensor | None,
                   distance: PerceptualFn, lambdas=PAPER_LAMBDAS, precision: str = "fp32") -> tuple[torch.Tensor, dict]:
    """(loss: batch mean of L_Sampling (+ L_RGB when `real` is given), dict of batch-mean terms).

    z [N, z_dim] draws the samples; real [M, 3, H, W] (G's image_size) in [-1, 1] or None (warm-up).
    """
    l1, l2, l3, l4, l5 = lambdas
    with torch.no_grad():
        w = G.mapping(z)
        sample = G.synthesis(G.broadcast(w), noise_mode="const", dtype=PRECISIONS[precision])
    wplus, d_s, l2_s = reconstruction_terms(E, G, sample, distance, precision)
    latent = (wplus - w[:, None, :]).square().mean(dim=(1, 2))
    loss = (l3 * d_s + l4 * l2_s + l5 * latent).mean()
    stats = {"sample_perceptual": d_s.mean(), "sample_l2": l2_s.mean(), "latent_l2": latent.mean()}
    if real is not None:
        _, d_r, l2_r = reconstruction_terms(E, G, real, distance, precision)
        loss = loss + (l1 * d_r + l2 * l2_r).mean()
        stats.update(real_perceptual=d_r.mean(), real_l2=l2_r.mean())
    return loss, {k: v.detach() for k, v in stats.items()}


class EncoderTrainer:
    """Holds E, its optimiser and all training state; `step()` advances one batch. G stays frozen."""

    def __init__(self, config: EncoderTrainConfig, G: Generator, source, device: torch.device | str = "cpu",
                 dist: ddp.DistInfo | None = None):
        self.config, self.source = config, source
        self.device = torch.device(device)
        self.dist = dist or ddp.DistInfo()
        if config.batch % self.dist.world_size:
            raise ConfigError(f"batch {config.batch} must be divisible by the number of processes "
                              f"{self.dist.world_size}")
        self.G = G.to(self.device).eval().requires_grad_(False)
        torch.manual_seed(config.seed)
        self.E = encoder_class(config.architecture).for_generator(G, **config.encoder).to(self.device).train()
        ddp.broadcast_module(self.E, self.dist)
        self.opt = torch.optim.Adam(self.E.parameters(), lr=config.lr, betas=config.betas)
        self.distance = get_perceptual(config.perceptual)
        self.rng = torch.Generator().manual_seed(config.seed)  # same stream on every rank
        self.step_count = 0
        self.skipped = 0
        self.train_seconds = 0.0

    def _local(self, x: torch.Tensor) -> torch.Tensor:
        """This rank's slice of a global batch tensor."""
        return ddp.local_slice(x, self.dist)

    def _real_batch(self) -> torch.Tensor:
        idx = torch.randint(len(self.source), (self.config.batch,), generator=self.rng)
        images, replaced = draw_batch(self.source, self._local(idx).tolist(), self.rng)
        self.skipped += replaced
        return images.to(self.device)

    @property
    def joint(self) -> bool:
        """Whether the current step also trains on real images (warm-up is over)."""
        return self.step_count >= self.config.warmup

    def step(self) -> dict[str, float]:
        cfg = self.config
        z = self._local(torch.randn(cfg.batch, self.G.config.z_dim, generator=self.rng)).to(self.device)
        real = self._real_batch() if self.joint else None
        self.opt.zero_grad(set_to_none=True)
        loss, terms = encoder_losses(self.E, self.G, z, real, self.distance, cfg.lambdas, cfg.precision)
        loss.backward()
        ddp.average_gradients(list(self.E.parameters()), self.dist)
        self.opt.step()
        self.step_count += 1
        stats = {"loss": loss.detach(), **terms}
        return {k: float(ddp.all_mean(v, self.dist)) for k, v in stats.items()}

    def start_from(self, encoder: torch.nn.Module) -> None:
        """Fine-tune: copy `encoder`'s weights (same architecture and config) into E before the first step.

        A pyramid E keeps this generator's w_avg, so the copied heads predict offsets from the new
        average latent; used when a bundle's generator is retrained and its encoder should follow.
        An FPN encoder (the EditGAN release's) predicts w+ itself and is copied whole.
        """
        if self.step_count:
            raise ConfigError("start_from must come before the first training step")
        if type(encoder) is not type(self.E) or encoder.config != self.E.config:
            raise ConfigError(f"cannot start from a {type(encoder).__name__} with config {encoder.config.to_json()}; "
                              f"this run builds a {type(self.E).__name__} with {self.E.config.to_json()}")
        state = {k: v for k, v in encoder.state_dict().items() if k != "w_avg"}
        self.E.load_state_dict(state, strict=False)
        ddp.broadcast_module(self.E, self.dist)

    # ----- checkpoints ---------------------------------------------------------------------
    def state(self) -> dict:
        return {"config": self.config.to_json(), "E": self.E.state_dict(), "opt": self.opt.state_dict(),
                "rng": self.rng.get_state(), "torch_rng": torch.get_rng_state(), "step": self.step_count,
                "skipped": self.skipped, "train_seconds": self.train_seconds}

    def save(self, prefix: str | Path) -> None:
        """Write `<prefix>.safetensors` + `<prefix>.json` (rank 0 only)."""
        if self.dist.is_main:
            save_state(prefix, self.state())

    def load(self, prefix: str | Path) -> None:
        state = load_state(prefix)
        trained = EncoderTrainConfig.from_json(state["config"])
        if dataclasses.replace(trained, precision=self.config.precision) != self.config:  # precision may differ
            raise ConfigError(f"checkpoint {prefix} was trained with a different configuration")
        self.E.load_state_dict(state["E"])
        self.opt.load_state_dict(state["opt"])
        self.rng.set_state(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        self.step_count, self.skipped, self.train_seconds = state["step"], state["skipped"], state["train_seconds"]

    @classmethod
    def from_checkpoint(cls, prefix: str | Path, G: Generator, source, device="cpu",
                        dist: ddp.DistInfo | None = None, precision: str | None = None) -> "EncoderTrainer":
        """Resume `prefix`; precision (an execution choice) may differ from the checkpoint's."""
        config = EncoderTrainConfig.from_json(load_state(prefix)["config"])
        if precision is not None:
            config = dataclasses.replace(config, precision=precision)
        trainer = cls(config, G, source, device, dist)
        trainer.load(prefix)
        return trainer

    # ----- the loop ---------------------------------------------------------------------
    def run(self, total_steps: int, *, max_minutes: float | None = None, checkpoint: str | Path | None = None,
            checkpoint_every: int = 0, on_step: Callable[["EncoderTrainer", dict], None] | None = None) -> str:
        """Train until `total_steps` or `max_minutes`; returns the stop reason ("done" / "time limit").

        Writes `checkpoint` every `checkpoint_every` steps and when stopping.
        """
        return run_loop(self, lambda: self.step_count >= total_steps, max_minutes=max_minutes,
                        checkpoint=checkpoint,
                        checkpoint_every=checkpoint_every, on_step=on_step)
