"""StyleGAN2 training: non-saturating logistic loss, lazy R1, optional path-length regularisation,
style mixing, EMA generator, exact checkpoint/resume, data parallel under torchrun.

One `GANTrainer.step()` is one iteration of the StyleGAN2 schedule on a global batch:
G main (+ path length every `pl_interval` steps), D main (+ R1 every `r1_interval` steps), EMA.
Every random draw comes from the trainer's own generator (saved in checkpoints), so N steps equal
N/2 steps + save + resume + N/2 steps exactly.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar

import torch
import torch.nn.functional as F

from editgan.errors import ConfigError
from editgan.nn.config import GeneratorConfig
from editgan.nn.config_base import JsonConfig
from editgan.nn.discriminator import Discriminator, DiscriminatorConfig
from editgan.nn.feature_pyramid import FeaturePyramid
from editgan.nn.projected_discriminator import ProjectedDiscriminator, ProjectedDiscriminatorConfig
from editgan.nn.stylegan2 import Generator
from editgan.runtime import distributed as ddp
from editgan.runtime.precision import PRECISIONS, check_precision
from editgan.train.data import draw_batch
from editgan.train.loop import run_loop
from editgan.train.state import load_state, load_state_config, save_state


# Discriminator architectures: name -> (network, its config); GANTrainConfig.discriminator holds the config's fields.
DISCRIMINATORS = {"stylegan2": (Discriminator, DiscriminatorConfig),
                  "projected": (ProjectedDiscriminator, ProjectedDiscriminatorConfig)}


@dataclass
class GANTrainConfig(JsonConfig):
    """Hyperparameters (StyleGAN2 defaults, scaled for small models where noted)."""

    data: str = "toonfaces"     # what the run trains on (recorded for provenance)
    generator: dict = field(default_factory=dict)      # GeneratorConfig fields
    discriminator: dict = field(default_factory=dict)  # the discriminator_arch's config fields
    discriminator_arch: str = "stylegan2"  # a DISCRIMINATORS name; "projected" needs a feature pyramid
    features: str | None = None  # where a projected discriminator's frozen feature pyramid came from (provenance)
    batch: int = 16             # global batch (split over ranks)
    lr_g: float = 0.0025
    lr_d: float = 0.0025
    betas: tuple[float, float] = (0.0, 0.99)
    r1_gamma: float = 1.0       # StyleGAN2 uses 10 at 1024^2; ~0.0002 * R^2 / batch scaling suits small R
    r1_interval: int = 16
    pl_weight: float = 0.0      # 2.0 in StyleGAN2 config-f; 0 disables
    pl_interval: int = 4
    pl_decay: float = 0.01
    pl_batch_shrink: int = 2
    style_mixing: float = 0.9
    ema_kimg: float = 10.0
    ema_rampup: float | None = 0.05
    seed: int = 0
    init: str | None = None     # where G's starting weights came from (grow_from), for provenance
    precision: str = "fp32"     # "bf16": G and D activations in bfloat16 (float32 master weights,
                                # optimiser, losses, R1 and path length); see PRECISIONS

    kind: ClassVar[str] = "GAN training"

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)
        # Widths keyed by resolution: JSON makes the keys strings; configs compare equal either way.
        self.generator, self.discriminator = (
            {**part, "channels": {int(k): int(v) for k, v in part["channels"].items()}} if "channels" in part else part
            for part in (self.generator, self.discriminator))
        check_precision(self.precision)
        if self.discriminator_arch not in DISCRIMINATORS:
            raise ConfigError(f"discriminator_arch must be one of {sorted(DISCRIMINATORS)}, "
                              f"got {self.discriminator_arch!r}")

    @property
    def compute_dtype(self) -> torch.dtype:
        return PRECISIONS[self.precision]

    @classmethod
    def from_checkpoint(cls, prefix: str | Path) -> "GANTrainConfig":
        """The configuration a checkpoint `<prefix>.json` was trained with (its tensors are not read)."""
        return cls.from_json(load_state_config(prefix))

    @classmethod
    def from_json(cls, data: dict) -> "GANTrainConfig":
        if isinstance(data, dict) and "amp" in data:  # checkpoints before precision: amp (bf16 autocast) was off
            data = {**data, "precision": "bf16" if data["amp"] else "fp32"}
            del data["amp"]
        return super().from_json(data)


def _adam(params, lr: float, betas, interval: int) -> torch.optim.Adam:
    """Adam with lazy-regularisation correction: lr and betas scaled by interval / (interval + 1)."""
    ratio = interval / (interval + 1) if interval > 0 else 1.0
    return torch.optim.Adam(params, lr=lr * ratio, betas=(betas[0] ** ratio, betas[1] ** ratio), eps=1e-8)


class GANTrainer:
    """Holds G, D, G_ema, their optimisers and all training state; `step()` advances one batch."""

    def __init__(self, config: GANTrainConfig, source, device: torch.device | str = "cpu",
                 dist: ddp.DistInfo | None = None, compile: bool = False):
        """compile: run G's synthesis and D through torch.compile (fuses the elementwise chains around
        the convs; tens of seconds to compile at the first steps). The double-backward passes (R1,
        path length) always run eagerly. Not part of the config: a run may resume either way."""
        self.config, self.source = config, source
        self.device = torch.device(device)
        self.dist = dist or ddp.DistInfo()
        if config.batch % self.dist.world_size:
            raise ConfigError(f"batch {config.batch} must be divisible by the number of processes "
                              f"{self.dist.world_size}")
        torch.manual_seed(config.seed)
        self.G = Generator(GeneratorConfig(**config.generator)).to(self.device).train()
        network, network_config = DISCRIMINATORS[config.discriminator_arch]
        dcfg = network_config(**{"resolution": self.G.config.resolution, **config.discriminator})
        self.D = network(dcfg).to(self.device).train()
        ddp.broadcast_module(self.G, self.dist)
        ddp.broadcast_module(self.D, self.dist)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self._synthesis = torch.compile(self.G.synthesis, dynamic=False) if compile else self.G.synthesis
        self._discriminator = torch.compile(self.D, dynamic=False) if compile else self.D
        self.opt_g = _adam(self.G.parameters(), config.lr_g, config.betas, config.pl_interval if config.pl_weight else 0)
        self.opt_d = _adam(self.D.parameters(), config.lr_d, config.betas, config.r1_interval)
        self.rng = torch.Generator().manual_seed(config.seed)  # same stream on every rank
        self.step_count = 0
        self.images_seen = 0
        self.skipped = 0
        self.train_seconds = 0.0  # cumulative wall time inside run(), across resumes
        self.pl_mean = torch.zeros([], device=self.device)

    # ----- data and latents --------------------------------------------------------------
    def _local(self, x: torch.Tensor) -> torch.Tensor:
        """This rank's slice of a global batch tensor."""
        return ddp.local_slice(x, self.dist)

    def _real_batch(self) -> torch.Tensor:
        idx = torch.randint(len(self.source), (self.config.batch,), generator=self.rng)
        images, replaced = draw_batch(self.source, self._local(idx).tolist(), self.rng)
        self.skipped += replaced
        return images.to(self.device)

    def _latents(self, n_global: int, G: Generator) -> torch.Tensor:
        """w+ [n_local, num_ws, w_dim] with style mixing: a second w from a random cutoff on."""
        cfg = self.G.config
        z = self._local(torch.randn(n_global, cfg.z_dim, generator=self.rng)).to(self.device)
        z2 = self._local(torch.randn(n_global, cfg.z_dim, generator=self.rng)).to(self.device)
        mix = self._local(torch.rand(n_global, generator=self.rng) < self.config.style_mixing)
        cut = self._local(torch.randint(1, cfg.num_ws, (n_global,), generator=self.rng))
        w = G.mapping(z)
        G.mapping.update_w_avg(ddp.all_mean(w.detach().mean(0, keepdim=True), self.dist))
        wplus = G.broadcast(w)
        layer = torch.arange(cfg.num_ws)[None, :]
        use2 = (mix[:, None] & (layer >= cut[:, None])).to(self.device)[:, :, None]
        return torch.where(use2, G.broadcast(G.mapping(z2)), wplus)

    def _noise(self, n: int) -> list[torch.Tensor]:
        """Per-layer random noise from the trainer's generator (keeps runs reproducible)."""
        return [self._local(torch.randn(n * self.dist.world_size, 1, r, r, generator=self.rng)).to(self.device)
                for _, r in self.G.config.feature_shapes()]

    def _generate(self, n_global: int, full_precision: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Fakes [n_local, C, R, R] (float32) and their w+; convs in the config's precision, or eagerly
        in float32 with `full_precision` (the path-length pass)."""
        wplus = self._latents(n_global, self.G)
        synthesis = self.G.synthesis if full_precision else self._synthesis
        img = synthesis(wplus, noise=self._noise(n_global // self.dist.world_size), fused=False,
                        dtype=torch.float32 if full_precision else self.config.compute_dtype)
        return img, wplus

    def _d(self, img: torch.Tensor, full_precision: bool = False) -> torch.Tensor:
        """Logits [n_local, 1]; eagerly in float32 with `full_precision` (the R1 pass)."""
        if full_precision:
            return self.D(img, dtype=torch.float32)
        return self._discriminator(img, dtype=self.config.compute_dtype)

    # ----- one iteration ----------------------------------------------------------------
    def step(self) -> dict[str, float]:
        cfg = self.config
        stats = self.generator_phase(pl=cfg.pl_weight > 0 and self.step_count % cfg.pl_interval == 0)
        stats.update(self.discriminator_phase(r1=cfg.r1_gamma > 0 and self.step_count % cfg.r1_interval == 0))
        self.images_seen += cfg.batch
        self._update_ema()
        self.step_count += 1
        return stats

    def generator_phase(self, pl: bool) -> dict[str, float]:
        """G's non-saturating loss (+ path length when `pl`), backward, Adam step on G."""
        stats: dict[str, float] = {}
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        fake, _ = self._generate(self.config.batch)
        loss_g = F.softplus(-self._d(fake)).mean()
        loss_g.backward()
        stats["loss_g"] = float(ddp.all_mean(loss_g, self.dist))
        if pl:
            stats["pl_penalty"] = self._path_length_backward()
        ddp.average_gradients(list(self.G.parameters()), self.dist)
        self.opt_g.step()
        return stats

    def discriminator_phase(self, r1: bool) -> dict[str, float]:
        """D's logistic loss on fresh fakes and reals (+ lazy R1 on reals when `r1`), Adam step on D."""
        cfg = self.config
        stats: dict[str, float] = {}
        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        self.opt_d.zero_grad(set_to_none=True)
        with torch.no_grad():
            fake, _ = self._generate(cfg.batch)
        real = self._real_batch().requires_grad_(r1)
        logits_real = self._d(real, full_precision=r1)  # R1's gradient in full precision
        loss_d = F.softplus(self._d(fake)).mean() + F.softplus(-logits_real).mean()
        if r1:
            (grad,) = torch.autograd.grad(logits_real.sum(), real, create_graph=True)
            penalty = grad.square().sum(dim=[1, 2, 3]).mean()
            loss_d = loss_d + penalty * (cfg.r1_gamma / 2) * cfg.r1_interval
            stats["r1_penalty"] = float(ddp.all_mean(penalty, self.dist))
        loss_d.backward()
        stats["loss_d"] = float(ddp.all_mean(loss_d, self.dist))
        ddp.average_gradients(list(self.D.parameters()), self.dist)
        self.opt_d.step()
        return stats

    def _path_length_backward(self) -> float:
        cfg = self.config
        n = max(cfg.batch // cfg.pl_batch_shrink, self.dist.world_size)
        n -= n % self.dist.world_size
        fake, wplus = self._generate(n, full_precision=True)
        pl_noise = self._local(torch.randn(n, *fake.shape[1:], generator=self.rng)).to(self.device)
        pl_noise = pl_noise / math.sqrt(fake.shape[2] * fake.shape[3])
        (grad,) = torch.autograd.grad((fake * pl_noise).sum(), wplus, create_graph=True)
        lengths = grad.square().sum(2).mean(1).sqrt()
        self.pl_mean.copy_(self.pl_mean.lerp(ddp.all_mean(lengths.mean().detach(), self.dist), cfg.pl_decay))
        penalty = (lengths - self.pl_mean).square().mean()
        (penalty * cfg.pl_weight * cfg.pl_interval).backward()
        return float(ddp.all_mean(penalty, self.dist))

    @torch.no_grad()
    def _update_ema(self) -> None:
        cfg = self.config
        ema_nimg = cfg.ema_kimg * 1000
        if cfg.ema_rampup is not None:
            ema_nimg = min(ema_nimg, self.images_seen * cfg.ema_rampup)
        beta = 0.5 ** (cfg.batch / max(ema_nimg, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    def grow_from(self, source: Generator) -> list[str]:
        """Start G and G_ema from a trained generator of the same mapping and w_dim and a resolution
        up to this run's: every block the source has is copied (widths must match); each block it
        lacks gets a zero ToRGB, so G's first images are the source's, upsampled, and the new blocks
        fade in as their ToRGB weights grow. Returns the blocks that start untrained. Before step 1."""
        if self.step_count:
            raise ConfigError("grow_from must come before the first training step")
        src, dst = source.config, self.G.config
        mismatched = [k for k in ("z_dim", "w_dim", "num_mapping_layers", "mapping_lr_mul", "img_channels")
                      if getattr(src, k) != getattr(dst, k)]
        if mismatched or src.resolution > dst.resolution or src.crop is not None:
            raise ConfigError(f"cannot grow a {dst.resolution}px generator from {src.to_json()}: "
                              f"{', '.join(mismatched) or 'resolution or crop'} differ")
        widths = {r: (src.channels[r], dst.channels[r]) for r in src.channels if src.channels[r] != dst.channels[r]}
        if widths:
            raise ConfigError(f"block widths differ (resolution: (source, this run)): {widths}")
        with torch.no_grad():
            missing, unexpected = self.G.load_state_dict(source.state_dict(), strict=False)
            if unexpected:
                raise ConfigError(f"source generator has parameters this one lacks: {unexpected[:5]}")
            new_blocks = sorted({int(k.split(".")[1][1:]) for k in missing if k.startswith("synthesis.b")})
            for res in new_blocks:
                torgb = getattr(self.G.synthesis, f"b{res}").torgb
                torgb.weight.zero_()
                torgb.bias.zero_()
        ddp.broadcast_module(self.G, self.dist)
        self.G_ema.load_state_dict(self.G.state_dict())
        return [f"b{res}" for res in new_blocks]

    def load_features(self, pyramid: FeaturePyramid) -> None:
        """Install a trained feature pyramid as a projected discriminator's frozen features. Before step 1."""
        if self.step_count:
            raise ConfigError("load_features must come before the first training step")
        if not isinstance(self.D, ProjectedDiscriminator):
            raise ConfigError(f"a {self.config.discriminator_arch} discriminator has no feature pyramid")
        self.D.load_features(pyramid)
        ddp.broadcast_module(self.D, self.dist)

    # ----- checkpoints ---------------------------------------------------------------------
    def state(self, compact: bool = False) -> dict:
        """Everything a resume needs. compact: networks in float16 and no optimiser moments (about a
        third of the size, for committing a long run's progress; Adam re-warms on resume)."""
        nets = {name: getattr(self, name).state_dict() for name in ("G", "D", "G_ema")}
        if compact:
            nets = {name: {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
                    for name, sd in nets.items()}
        else:
            nets.update(opt_g=self.opt_g.state_dict(), opt_d=self.opt_d.state_dict())
        return {
            "config": self.config.to_json(), **nets,
            "rng": self.rng.get_state(), "torch_rng": torch.get_rng_state(),
            "step": self.step_count, "images_seen": self.images_seen, "skipped": self.skipped,
            "train_seconds": self.train_seconds, "pl_mean": self.pl_mean,
        }

    def save(self, prefix: str | Path, compact: bool = False) -> None:
        """Write `<prefix>.safetensors` + `<prefix>.json` (rank 0 only); compact: see `state`."""
        if self.dist.is_main:
            save_state(prefix, self.state(compact))

    def load(self, prefix: str | Path) -> None:
        """Restore a checkpoint; a compact one (no optimiser moments) restarts Adam from zero moments."""
        state = load_state(prefix)
        trained = GANTrainConfig.from_json(state["config"])
        execution = dict(precision=self.config.precision, lr_g=self.config.lr_g, lr_d=self.config.lr_d)
        if dataclasses.replace(trained, **execution) != self.config:  # precision and learning rates may differ
            raise ConfigError(f"checkpoint {prefix} was trained with a different configuration")
        for name in ("G", "D", "G_ema"):
            getattr(self, name).load_state_dict(state[name])  # copies cast float16 back to float32
        if "opt_g" in state:
            for opt, key in ((self.opt_g, "opt_g"), (self.opt_d, "opt_d")):
                lrs = [group["lr"] for group in opt.param_groups]  # this config's, not the checkpoint's
                opt.load_state_dict(state[key])
                for group, lr in zip(opt.param_groups, lrs):
                    group["lr"] = lr
        self.rng.set_state(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        self.step_count, self.images_seen, self.skipped = state["step"], state["images_seen"], state["skipped"]
        self.train_seconds = state["train_seconds"]
        self.pl_mean.copy_(state["pl_mean"])

    @classmethod
    def from_checkpoint(cls, prefix: str | Path, source, device="cpu", dist: ddp.DistInfo | None = None,
                        compile: bool = False, precision: str | None = None, lr_g: float | None = None,
                        lr_d: float | None = None):
        """Resume `prefix`; precision (an execution choice, not part of the model) may differ from the
        checkpoint's, e.g. "fp32" on a machine without fast bf16; lr_g / lr_d replace the checkpoint's
        learning rates (a step of a hand-made schedule; Adam's moments are kept)."""
        config = GANTrainConfig.from_checkpoint(prefix)
        if precision is not None:
            config = dataclasses.replace(config, precision=precision)
        config = dataclasses.replace(config, lr_g=config.lr_g if lr_g is None else lr_g,
                                     lr_d=config.lr_d if lr_d is None else lr_d)
        trainer = cls(config, source, device, dist, compile)
        trainer.load(prefix)
        return trainer

    # ----- the loop ---------------------------------------------------------------------
    def run(self, total_images: int, *, max_minutes: float | None = None, checkpoint: str | Path | None = None,
            checkpoint_every: int = 0, on_step: Callable[["GANTrainer", dict], None] | None = None) -> str:
        """Train until `total_images` have been seen or `max_minutes` pass; returns the stop reason.

        Writes `checkpoint` every `checkpoint_every` steps and when stopping.
        """
        return run_loop(self, lambda: self.images_seen >= total_images, max_minutes=max_minutes,
                        checkpoint=checkpoint,
                        checkpoint_every=checkpoint_every, on_step=on_step)
