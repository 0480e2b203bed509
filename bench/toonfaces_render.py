"""Toonface render speed: images per second for one process, per image size.

Each repeat renders the same `--batch` distinct faces (seeds 0..batch-1); the table shows the
median over `--repeats` after one warm-up repeat. Writes bench/results/toonfaces_render.json.

    PYTHONPATH=src python bench/toonfaces_render.py [--sizes 64 128 256] [--batch 100] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from editgan.toonfaces import render, sample_params


def bench(size: int, batch: int, repeats: int) -> dict:
    params = [sample_params(seed) for seed in range(batch)]
    times = []
    for rep in range(repeats + 1):
        t0 = time.perf_counter()
        for p in params:
            render(p, size)
        if rep:  # the first repeat is warm-up
            times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    return {"size": size, "batch": batch, "repeats": repeats, "median_s": median,
            "ms_per_image": 1000 * median / batch, "images_per_s": batch / median,
            "min_images_per_s": batch / max(times), "max_images_per_s": batch / min(times)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "toonfaces_render.json")
    args = ap.parse_args()
    rows = [bench(s, args.batch, args.repeats) for s in args.sizes]
    print(f"{'size':>5} {'ms/img':>8} {'img/s':>8} {'img/s range':>15}")
    for r in rows:
        print(f"{r['size']:>5} {r['ms_per_image']:>8.2f} {r['images_per_s']:>8.1f} "
              f"{r['min_images_per_s']:>7.1f}-{r['max_images_per_s']:<7.1f}")
    meta = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "numpy": np.__version__, "python": platform.python_version(), "processes": 1}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "toonfaces_render", "meta": meta, "results": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
