"""Segmentation-branch speed and peak memory: naive concatenation vs factorised inference.

Official car configuration by default: 512x512 canvas, the EditGAN release's 6016 input channels
(the 4x4x512 constant input + the 5504 channels of config-f's 15 conv outputs: 4:512, then two maps
each at 8:512 16:512 32:512 64:512 128:256 256:128 512:64), 32 classes (hidden 256/128), 10
members, random weights and random feature maps, batch 1. Variants:

    naive       DatasetGAN's computation: interpolate every map to 512x512, concatenate
                ([1, 6016, 512, 512], 6.3 GB), run each member on the pixels (then keep the sampled
                pixels for the 5% case)
    factorised  project per resolution, resample projections, row tiles / requested pixels only

Outputs are what inference uses: the ensemble's mean softmax and uncertainty for the full image,
member logits for the 5% pixel subset. Accuracy: max |logit difference| of the factorised path
against the naive one (member logits, float32), on the full image and the subset.

Peak memory: each (variant, case) runs in a fresh subprocess that builds its inputs, records its
resident set size (RSS, /proc/self/statm), runs the call once, and reports ru_maxrss - RSS before
the call: the extra memory the call needed at its peak, inputs and weights excluded. (RSS counts
every allocation torch makes on CPU; it is coarse only at the few-MB level.) Times are medians of
--repeats calls after one warm-up, in another fresh subprocess per variant.

Run it on an otherwise idle machine: with 2 threads while other jobs run, torch's thread team
stalls and the memory-bound factorised path suffers most (an earlier 2-thread run under load gave
3.4x; idle: 8.1x at 2 threads, bench/results/segmentation-cpu-512.json, and 8.2x at 1 thread,
-1thread.json).

    python bench/segmentation.py --threads 1 --out bench/results/segmentation-cpu-512-1thread.json
    python bench/segmentation.py                 # car configuration, 2 threads
    python bench/segmentation.py --res 128 --repeats 2 --threads 1   # quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from editgan.nn.config import GeneratorConfig
from editgan.nn.segmenter import Segmenter
from editgan.nn.segmenter_config import SegmenterConfig
from editgan.nn.segmenter_reference import forward_naive  # the tests' referee is the naive variant


def build(res: int, classes: int, members: int, fraction: float):
    torch.manual_seed(0)
    cfg = SegmenterConfig.for_generator(GeneratorConfig(resolution=res), classes, num_members=members)
    seg = Segmenter(cfg)
    with torch.no_grad():  # random, non-trivial BatchNorm statistics
        for t in (seg.bn1_mean, seg.bn2_mean, seg.bn1_bias, seg.bn2_bias, seg.b1, seg.b2, seg.b3):
            t.normal_(0, 0.1)
        for t in (seg.bn1_var, seg.bn2_var):
            t.uniform_(0.5, 2.0)
    seg.eval().requires_grad_(False)
    feats = [torch.randn(1, c, r, r) for c, r in cfg.feature_shapes]
    h, w = cfg.out_size
    pixels = torch.randperm(h * w, generator=torch.Generator().manual_seed(1))[: int(fraction * h * w)].sort().values
    return cfg, seg, feats, pixels


def naive_predict(seg: Segmenter, feats):
    """DatasetGAN's way: concatenated upsampled features, member by member, ensemble at the end."""
    logits = forward_naive(seg, feats)
    probs = torch.softmax(logits, 2)
    mean = probs.mean(1)
    return mean, -(mean * mean.clamp_min(1e-30).log()).sum(1) + (probs * probs.clamp_min(1e-30).log()).sum(2).mean(1)


def call(variant: str, case: str, seg, feats, pixels):
    if case == "full":
        return naive_predict(seg, feats) if variant == "naive" else seg.predict(feats)
    return forward_naive(seg, feats, pixels) if variant == "naive" else seg.member_logits(feats, pixels)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(args) -> None:
    torch.set_num_threads(args.threads)
    cfg, seg, feats, pixels = build(args.res, args.classes, args.members, args.fraction)
    with torch.no_grad():
        if args.child == "memory":
            before = rss_bytes()
            call(args.variant, args.case, seg, feats, pixels)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            print(json.dumps({"peak_extra_bytes": peak - before}))
            return
        if args.child == "accuracy":
            out = {}
            for case in ("full", "subset"):
                a = seg.member_logits(feats, None if case == "full" else pixels)
                b = forward_naive(seg, feats, None if case == "full" else pixels)
                out[case] = (a - b).abs().max().item()
                del a, b
            print(json.dumps({"max_abs_dlogit": out}))
            return
        call(args.variant, args.case, seg, feats, pixels)  # warm-up
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            call(args.variant, args.case, seg, feats, pixels)
            times.append(time.perf_counter() - t0)
        print(json.dumps({"median_s": statistics.median(times), "times_s": times}))


def spawn(args, **extra) -> dict:
    cmd = [sys.executable, __file__, "--res", str(args.res), "--classes", str(args.classes),
           "--members", str(args.members), "--fraction", str(args.fraction), "--threads", str(args.threads),
           "--repeats", str(args.repeats)]
    for k, v in extra.items():
        cmd += [f"--{k}", str(v)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ})
    return json.loads(out.stdout.strip().splitlines()[-1])


def flops(cfg: SegmenterConfig, pixels: int, factorised: bool, full: bool) -> float:
    """Multiply-adds x 2 of the first layer plus the rest of the MLP, all members."""
    m, (h1, h2), k = cfg.num_members, cfg.hidden, cfg.num_classes
    tail = 2 * pixels * m * (h1 * h2 + h2 * k)
    if not factorised:
        return 2 * pixels * m * h1 * cfg.in_features + tail
    first = 0
    for c, r in cfg.feature_shapes:
        first += 2 * m * h1 * c * (r * r if full or r * r <= pixels else pixels)
    return first + tail


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--res", type=int, default=512)
    p.add_argument("--classes", type=int, default=32)
    p.add_argument("--members", type=int, default=10)
    p.add_argument("--fraction", type=float, default=0.05)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=None)
    p.add_argument("--child", choices=["memory", "time", "accuracy"], help=argparse.SUPPRESS)
    p.add_argument("--variant", help=argparse.SUPPRESS)
    p.add_argument("--case", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)

    cfg, _, _, pixels = build(args.res, args.classes, args.members, args.fraction)
    h, w = cfg.out_size
    print(f"segmentation bench: {args.res}x{args.res}, {cfg.in_features} feature channels, {args.classes} classes, "
          f"{args.members} members, batch 1, {platform.machine()}, torch {torch.__version__}, threads={args.threads}")
    rows = []
    for case, npix in (("full", h * w), ("subset", len(pixels))):
        for variant in ("naive", "factorised"):
            t = spawn(args, child="time", variant=variant, case=case)
            mem = spawn(args, child="memory", variant=variant, case=case)
            f = flops(cfg, npix, variant == "factorised", case == "full")
            rows.append(dict(case=case, pixels=npix, variant=variant, median_s=t["median_s"], times_s=t["times_s"],
                             peak_extra_mib=mem["peak_extra_bytes"] / 2**20, gflop=f / 1e9,
                             gflops_per_s=f / 1e9 / t["median_s"]))
    acc = spawn(args, child="accuracy")["max_abs_dlogit"]
    print(f"{'case':<8}{'pixels':>9} {'variant':<11}{'median ms':>11}{'peak MiB':>10}{'GFLOP':>8}{'GFLOP/s':>9}"
          f"{'speed-up':>9}{'mem ratio':>10}")
    for i, r in enumerate(rows):
        base = rows[i - 1] if r["variant"] == "factorised" else r
        r["speedup"] = base["median_s"] / r["median_s"]
        r["memory_ratio"] = base["peak_extra_mib"] / max(r["peak_extra_mib"], 1e-9)
        print(f"{r['case']:<8}{r['pixels']:>9} {r['variant']:<11}{r['median_s'] * 1e3:>11.0f}{r['peak_extra_mib']:>10.0f}"
              f"{r['gflop']:>8.0f}{r['gflops_per_s']:>9.1f}{r['speedup']:>8.1f}x{r['memory_ratio']:>9.1f}x")
    print(f"max |logit factorised - naive|: full image {acc['full']:.2e}, {args.fraction:.0%} of pixels {acc['subset']:.2e}")
    out = Path(args.out or f"bench/results/segmentation-cpu-{args.res}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(config=cfg.to_json(), torch=torch.__version__, threads=args.threads,
                                   machine=platform.machine(), repeats=args.repeats, rows=rows,
                                   max_abs_dlogit=acc), indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
