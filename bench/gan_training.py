"""GAN training throughput: FLOPs per trained image (G and D phases, R1 amortised), images/s and
achieved GFLOP/s against this machine's conv peak measured in the same run, for precision x threads
x processes x memory format x torch.compile, plus a profiler table of one bf16 window.

Throughput is honest: each sample is one window of `r1_interval` consecutive `GANTrainer.step()`s
(so the R1 step is in it), variants take turns window by window (a busy spell hits them all), and
the table reports the median window after warm-up. Writes bench/results/gan-training-<res>px.json.

    python bench/gan_training.py                              # the 64-px default config (~10 min)
    python bench/gan_training.py --res 128 --variants fp32,bf16,bf16-compile
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from editgan.nn.feature_pyramid import FeaturePyramidConfig
from editgan.train.gan import GANTrainConfig, GANTrainer

# Widths: the default bundle's 64-px generator, and the 128-px one grown from it.
CHANNELS = {64: {4: 256, 8: 256, 16: 128, 32: 64, 64: 32},
            128: {4: 256, 8: 256, 16: 128, 32: 64, 64: 32, 128: 32}}
R1_GAMMA = {64: 0.1, 128: 0.2}
# name -> (precision, threads, channels_last, compile, discriminator); "torchrun-*" variants run 2
# processes x 1 thread; "projected" is the projected discriminator on the default feature pyramid
# (random weights: the cost does not depend on them), without R1 as it trains.
VARIANTS = {
    "fp32": ("fp32", 2, True, False, "stylegan2"),
    "fp32-nchw": ("fp32", 2, False, False, "stylegan2"),
    "fp32-1thread": ("fp32", 1, True, False, "stylegan2"),
    "fp32-compile": ("fp32", 2, True, True, "stylegan2"),
    "fp32-compile-1thread": ("fp32", 1, True, True, "stylegan2"),
    "bf16": ("bf16", 2, True, False, "stylegan2"),
    "bf16-nchw": ("bf16", 2, False, False, "stylegan2"),
    "bf16-1thread": ("bf16", 1, True, False, "stylegan2"),
    "bf16-compile": ("bf16", 2, True, True, "stylegan2"),
    "torchrun-bf16": ("bf16", 1, True, False, "stylegan2"),
    "projected-bf16": ("bf16", 2, True, False, "projected"),
    "projected-bf16-1thread": ("bf16", 1, True, False, "projected"),
    "projected-fp32-1thread": ("fp32", 1, True, False, "projected"),
}


class RandomImages:
    """Random training images (the step's cost does not depend on the data)."""

    def __init__(self, resolution: int):
        self.resolution = resolution

    def __len__(self) -> int:
        return 1000

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.rand(3, self.resolution, self.resolution) * 2 - 1


def train_config(res: int, precision: str, batch: int, arch: str = "stylegan2") -> GANTrainConfig:
    ch = CHANNELS[res]
    projected = arch == "projected"
    discriminator = dict(features=FeaturePyramidConfig(resolution=res).to_json()) if projected else dict(channels=ch)
    return GANTrainConfig(generator=dict(resolution=res, z_dim=256, w_dim=256, num_mapping_layers=4, channels=ch),
                          discriminator=discriminator, discriminator_arch=arch, batch=batch,
                          r1_gamma=0.0 if projected else R1_GAMMA[res], ema_kimg=10, precision=precision)


def make_trainer(res: int, variant: str, batch: int, dist=None) -> GANTrainer:
    precision, _, channels_last, compiled, arch = VARIANTS[variant]
    trainer = GANTrainer(train_config(res, precision, batch, arch), RandomImages(res), dist=dist, compile=compiled)
    if not channels_last:
        trainer.G.synthesis.memory_format = trainer.D.memory_format = torch.contiguous_format
    return trainer


def window(trainer: GANTrainer) -> float:
    """Seconds for one R1 period of steps (R1 included where the variant uses it)."""
    t0 = time.perf_counter()
    for _ in range(trainer.config.r1_interval):
        trainer.step()
    return time.perf_counter() - t0


def count_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def flops_per_image(res: int, batch: int, variant: str = "fp32") -> dict:
    """FLOPs of one trained image in a step without R1: G phase and D phase (fp32 graph; bf16 runs
    the same convs). R1 is not counted (FlopCounterMode cannot follow its double backward), so the
    achieved GFLOP/s below understate the work slightly: the R1 step's time is in every window."""
    t = make_trainer(res, variant, batch)
    g = count_flops(lambda: t.generator_phase(pl=False))
    d = count_flops(lambda: t.discriminator_phase(r1=False))
    return {"g_phase": g / batch, "d_phase": d / batch, "total": (g + d) / batch}


def conv_peak(dtype: torch.dtype, threads: int) -> float:
    """GFLOP/s of a large 512->512 3x3 conv at 32x32 (batch 4, channels_last): this CPU's peak."""
    torch.set_num_threads(threads)
    x = torch.randn(4, 512, 32, 32, dtype=dtype).contiguous(memory_format=torch.channels_last)
    w = torch.randn(512, 512, 3, 3, dtype=dtype).contiguous(memory_format=torch.channels_last)
    times = []
    with torch.no_grad():
        for i in range(13):
            t0 = time.perf_counter()
            torch.nn.functional.conv2d(x, w, padding=1)
            if i >= 3:
                times.append(time.perf_counter() - t0)
    return 2 * 4 * 512 * 512 * 9 * 32 * 32 / statistics.median(times) / 1e9


def conv_peaks(threads: list[int]) -> dict[str, float]:
    """{"fp32 1 thr": GFLOP/s, "bf16 1 thr": ..., ...}: `conv_peak` per precision and thread count
    (torch's thread count is restored afterwards)."""
    before = torch.get_num_threads()
    peaks = {f"{name} {t} thr": conv_peak(dtype, t) for t in threads
             for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    torch.set_num_threads(before)
    return peaks


def profile_table(trainer: GANTrainer, rows: int = 12) -> list[dict]:
    """Top ops by self CPU time over one window (eager)."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        window(trainer)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return [{"op": e.key, "self_ms": e.self_cpu_time_total / 1e3, "share": e.self_cpu_time_total / total,
             "calls": e.count} for e in events[:rows]]


def run_torchrun(args) -> list[float]:
    """Window seconds of the torchrun variant (2 processes x 1 thread), measured by a worker."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", __file__,
           "--worker", "--res", str(args.res), "--batch", str(args.batch), "--repeats", str(args.repeats),
           "--warmup", str(args.warmup)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["windows"]


def worker(args) -> None:
    from editgan.runtime import distributed as ddp

    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    dist = ddp.init_from_env(torch.device("cpu"))
    trainer = make_trainer(args.res, "torchrun-bf16", args.batch, dist)
    for _ in range(args.warmup):
        window(trainer)
    windows = [window(trainer) for _ in range(args.repeats)]
    if dist.is_main:
        print(json.dumps({"windows": windows}))
    ddp.shutdown()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--res", type=int, default=64, choices=sorted(CHANNELS))
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--repeats", type=int, default=5, help="timed windows per variant")
    p.add_argument("--warmup", type=int, default=1, help="untimed windows per variant (compile happens here)")
    p.add_argument("--out", default=None, help="results JSON (default: bench/results/gan-training-<res>px.json)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    torch.set_flush_denormal(True)  # as `editgan train gan` does on CPU
    variants = args.variants.split(",")
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        p.error(f"unknown variants {sorted(unknown)}; choose from {list(VARIANTS)}")

    peaks = {"fp32": conv_peak(torch.float32, 2), "bf16": conv_peak(torch.bfloat16, 2)}
    flops = {arch: flops_per_image(args.res, args.batch, variant)
             for arch, variant in (("stylegan2", "fp32"), ("projected", "projected-fp32-1thread"))
             if any(VARIANTS[v][4] == arch for v in variants)}
    local = [v for v in variants if not v.startswith("torchrun")]
    trainers = {v: make_trainer(args.res, v, args.batch) for v in local}
    windows: dict[str, list[float]] = {v: [] for v in variants}
    for rnd in range(args.warmup + args.repeats):
        for v in local:
            torch.set_num_threads(VARIANTS[v][1])
            seconds = window(trainers[v])
            if rnd >= args.warmup:
                windows[v].append(seconds)
    for v in variants:
        if v.startswith("torchrun"):
            windows[v] = run_torchrun(args)
    torch.set_num_threads(2)
    table = profile_table(trainers["bf16"]) if "bf16" in trainers else []

    images = trainers[local[0]].config.r1_interval * args.batch if local else 16 * args.batch
    rows = []
    for v in variants:
        precision, threads, channels_last, compiled, arch = VARIANTS[v]
        ips = images / statistics.median(windows[v])
        gflops = ips * flops[arch]["total"] / 1e9
        rows.append({"variant": v, "discriminator": arch, "precision": precision, "threads": threads,
                     "processes": 2 if v.startswith("torchrun") else 1, "channels_last": channels_last,
                     "compile": compiled, "images_per_s": ips,
                     "images_per_s_min_max": [images / max(windows[v]), images / min(windows[v])],
                     "gflop_per_s": gflops, "share_of_peak": gflops / peaks[precision], "windows_s": windows[v]})

    print(f"\nGAN training at {args.res} px, batch {args.batch}, windows of {images // args.batch} steps incl. R1 "
          f"(median of {args.repeats})")
    for arch, f in flops.items():
        print(f"FLOPs per trained image, {arch} D (R1 not counted): G phase {f['g_phase'] / 1e9:.2f}, "
              f"D phase {f['d_phase'] / 1e9:.2f}, total {f['total'] / 1e9:.2f} GFLOP")
    print(f"conv peak (512->512 3x3 at 32^2, 2 threads): fp32 {peaks['fp32']:.0f}, bf16 {peaks['bf16']:.0f} GFLOP/s\n")
    print("| variant | img/s (min-max) | GFLOP/s | % of its precision's peak |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        lo, hi = r["images_per_s_min_max"]
        print(f"| {r['variant']} | {r['images_per_s']:.1f} ({lo:.1f}-{hi:.1f}) | {r['gflop_per_s']:.0f} | "
              f"{100 * r['share_of_peak']:.0f} % |")
    if table:
        print("\nwhere a bf16 window spends its time (self CPU, top ops):")
        for t in table:
            print(f"  {t['op']:<40} {t['self_ms']:9.1f} ms  {100 * t['share']:5.1f} %  {t['calls']} calls")
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / f"gan-training-{args.res}px.json"
    out.parent.mkdir(exist_ok=True)
    meta = {"machine": platform.machine(), "cpus": os.cpu_count(), "torch": torch.__version__,
            "python": platform.python_version(), "command": " ".join(sys.argv)}
    out.write_text(json.dumps({"benchmark": "gan_training", "meta": meta, "resolution": args.res, "batch": args.batch,
                               "flops_per_image": flops, "conv_peak_gflop_per_s": peaks, "results": rows,
                               "profile_bf16": table}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
