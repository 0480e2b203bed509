"""Encoder training throughput (`EncoderTrainer.step()`, Eq. 6-8: samples and real images each step)
per precision, on a random-weight generator with the toonfaces widths at --res and the default
pyramid encoder (the step's cost does not depend on the weights or the data).

Precisions take turns window by window (a busy spell hits them all); the table reports the median
window after one warm-up window. Writes bench/results/encoder-training-<res>px.json.

    python bench/encoder_training.py --res 128 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from editgan.nn.config import GeneratorConfig
from editgan.nn.stylegan2 import Generator
from editgan.train.encoder_training import EncoderTrainConfig, EncoderTrainer
from gan_training import CHANNELS, RandomImages

PRECISIONS = ("fp32", "bf16")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--res", type=int, choices=sorted(CHANNELS), default=128)
    p.add_argument("--batch", type=int, default=8, help="the default bundle's encoder batch")
    p.add_argument("--steps", type=int, default=3, help="steps per window")
    p.add_argument("--repeats", type=int, default=5, help="windows per precision after the warm-up one")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="JSON path (default bench/results/encoder-training-<res>px.json)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(resolution=args.res, z_dim=256, w_dim=256, num_mapping_layers=4,
                                  channels=CHANNELS[args.res]))
    trainers = {name: EncoderTrainer(EncoderTrainConfig(batch=args.batch, precision=name), G, RandomImages(args.res))
                for name in PRECISIONS}
    windows: dict[str, list[float]] = {name: [] for name in PRECISIONS}
    for _ in range(args.repeats + 1):
        for name, trainer in trainers.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                trainer.step()
            windows[name].append((time.perf_counter() - start) / args.steps)
    rows = []
    for name in PRECISIONS:
        seconds = statistics.median(windows[name][1:])
        rows.append({"precision": name, "s_per_step": seconds, "samples_per_s": 2 * args.batch / seconds,
                     "windows_s_per_step": windows[name]})
    base = rows[0]["s_per_step"]
    print(f"| precision | s / step (batch {args.batch} samples + {args.batch} real, {args.threads} thread(s)) "
          f"| speed-up |\n| --- | --- | --- |")
    for row in rows:
        print(f"| {row['precision']} | {row['s_per_step']:.3f} | {base / row['s_per_step']:.2f}x |")
    out = Path(args.out or f"bench/results/encoder-training-{args.res}px.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.machine(), "cpus": os.cpu_count(), "torch": torch.__version__,
            "python": platform.python_version(), "command": " ".join(sys.argv), "resolution": args.res,
            "batch": args.batch, "threads": args.threads, "steps_per_window": args.steps}
    out.write_text(json.dumps({**meta, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
