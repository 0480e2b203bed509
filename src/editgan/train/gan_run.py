"""A GAN training run on disk: resume-or-start, progress, snapshots (grid, the data's metric), log, export.

Directory layout of a run (`out`):
  checkpoint.safetensors/.json  full training state (exact resume); a compact copy (float16 networks,
                                no optimiser moments) goes wherever `compact_to` says, for committing
  generator/                    the EMA generator in our format (updated at every snapshot)
  samples/grid-<images>.png     sample grids (fixed seeds, psi 1.0)
  log.jsonl                     one JSON line per snapshot: step, images, losses, metric (fd_toon), throughput

Throughput in the log: `images_per_s` is the window since the previous snapshot (training steps and
checkpoints; the snapshot's own sampling and fd_toon excluded, reported as `snapshot_s`), and
`images_per_s_overall` is all images over all training-step seconds of the run, across resumes.
A window on a shared machine can be far off the overall figure: read both, with `threads`/`processes`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from editgan.errors import ConfigError
from editgan.io.images import make_grid, save_png, to_uint8
from editgan.nn.feature_pyramid import FeaturePyramid
from editgan.nn.stylegan2 import Generator
from editgan.progress import Progress
from editgan.registry import SNAPSHOT_METRICS
from editgan.runtime import distributed as ddp
from editgan.train.gan import GANTrainConfig, GANTrainer


@dataclass
class RunOptions:
    total_kimg: float
    max_minutes: float | None = None
    snapshot_every: int = 500      # steps between snapshots (grid, fd, exported generator)
    checkpoint_every: int = 200    # steps between checkpoints
    metric_samples: int = 0        # >0: the data's snapshot metric (toonfaces: fd_toon) on this many samples
    progress: bool = True          # report progress (editgan.progress: a bar on a terminal, else a summary line)
    compile: bool = False          # torch.compile G's synthesis and D (GANTrainer)
    resume_from: str | None = None  # a new run starts from this checkpoint prefix (full or compact)
    compact_to: str | None = None   # also write a compact checkpoint here at every checkpoint


def snapshot(trainer: GANTrainer, out: Path, opts: RunOptions) -> dict:
    """Sample grid, exported G_ema, and the data source's registered metric (if any, with
    `opts.metric_samples` > 0) -> the log record's step, kimg and metric fields."""
    G = trainer.G_ema
    with torch.no_grad():
        grid = G(G.sample_z(16, seed=0).to(trainer.device), noise_mode="const")
    save_png(out / "samples" / f"grid-{trainer.images_seen:09d}.png", make_grid(to_uint8(grid), cols=8))
    G.save_pretrained(out / "generator")
    record = {"step": trainer.step_count, "kimg": trainer.images_seen / 1000}
    if opts.metric_samples and trainer.config.data in SNAPSHOT_METRICS:
        record.update(SNAPSHOT_METRICS.get(trainer.config.data)(G, opts.metric_samples))
    return record


def throughput(trainer: GANTrainer, window: dict, now: float) -> dict:
    """The log's throughput fields: this window's and the whole run's images/s, and what ran them."""
    return {"images_per_s": (trainer.images_seen - window["images"]) / max(now - window["t"], 1e-9),
            "images_per_s_overall": trainer.images_seen / max(trainer.train_seconds, 1e-9),
            "train_seconds": trainer.train_seconds, "threads": torch.get_num_threads(),
            "processes": trainer.dist.world_size, "precision": trainer.config.precision}


def train_run(config: GANTrainConfig, source, out: str | Path, opts: RunOptions, device="cpu",
              grow_from: Generator | None = None, features: FeaturePyramid | None = None) -> GANTrainer:
    """Start (or resume, if `out/checkpoint.json` exists) a run and train it to `opts.total_kimg`.
    A new run starts from `grow_from`'s weights when given (GANTrainer.grow_from); a new run with a
    projected discriminator needs its trained `features` (GANTrainer.load_features)."""
    out = Path(out)
    device = torch.device(device)
    dist = ddp.init_from_env(device)
    prefix = out / "checkpoint"
    if prefix.with_suffix(".json").is_file() or opts.resume_from:
        start = prefix if prefix.with_suffix(".json").is_file() else Path(opts.resume_from)
        trainer = GANTrainer.from_checkpoint(start, source, device, dist, opts.compile, precision=config.precision,
                                             lr_g=config.lr_g, lr_d=config.lr_d)
    else:
        trainer = GANTrainer(config, source, device, dist, opts.compile)
        if grow_from is not None:
            new_blocks = trainer.grow_from(grow_from)
            if dist.is_main:
                print(f"grown from {config.init}: new blocks {', '.join(new_blocks) or 'none'} start with a zero ToRGB")
        if features is not None:
            trainer.load_features(features)
        elif config.discriminator_arch == "projected":
            raise ConfigError("a new run with a projected discriminator needs a trained feature pyramid "
                              "(`editgan train features`, then --features DIR)")
    total = int(opts.total_kimg * 1000)
    bar = None
    if opts.progress and dist.is_main:
        bar = Progress(total, "train gan", "img", initial=trainer.images_seen)
    window = {"t": time.monotonic(), "images": trainer.images_seen}

    def on_step(t: GANTrainer, stats: dict) -> None:
        if opts.compact_to and t.step_count % opts.checkpoint_every == 0:
            t.save(opts.compact_to, compact=True)
        if bar is not None:
            bar.update(t.config.batch, **stats)
        if t.step_count % opts.snapshot_every == 0 and dist.is_main:
            now = time.monotonic()
            record = snapshot(t, out, opts)
            record.update(stats, skipped=t.skipped, lr_g=t.config.lr_g, lr_d=t.config.lr_d, **throughput(t, window, now),
                          snapshot_s=time.monotonic() - now)
            with (out / "log.jsonl").open("a") as f:
                f.write(json.dumps(record) + "\n")
            window.update(t=time.monotonic(), images=t.images_seen)

    reason = trainer.run(total, max_minutes=opts.max_minutes, checkpoint=prefix,
                         checkpoint_every=opts.checkpoint_every, on_step=on_step)
    if bar is not None:
        bar.close()
    if opts.compact_to:
        trainer.save(opts.compact_to, compact=True)
    if dist.is_main:
        trainer.G_ema.save_pretrained(out / "generator")
        unreadable = len(getattr(source, "skipped", ()))
        print(f"stopped ({reason}) at step {trainer.step_count}, {trainer.images_seen} images seen; "
              f"{unreadable} unreadable files skipped ({trainer.skipped} draws replaced); checkpoint {prefix}.json")
    ddp.shutdown()
    return trainer
