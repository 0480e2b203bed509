"""A 30-step edit on full-size generators (random weights, the published shapes): time and peak memory.

Models (--models):
- car:      the official EditGAN car release's shapes: config-f at 512 px with the 512x384 crop and its
            10-member segmenter (the 4x4 const + every S^k: 6016 input channels, 32 classes, hidden
            256/128); the release's edit preset (29 updates, painted region + 3 px, nearest features,
            last iterate) WITHOUT its encoder-consistency term (one extra encoder forward per step,
            not built here: stated in the JSON);
- ffhq1024: config-f at 1024 px with a 10-member segmenter of the same layout (32 classes), the
            paper's settings with the painted region (+ 5 px).
A square over --area of the label map is painted with a new label; --steps updates; the perceptual
term is msssim_l1 (what a bundle without LPIPS weights uses). Each (model,
precision) runs in a fresh subprocess: wall time of `learn_edit` (after building the networks) and
the process's peak resident memory (ru_maxrss, networks included).

    python bench/large_edit.py --threads 2       # bench/results/large-edit.json
    python bench/large_edit.py --models car --precisions bf16 --steps 2 --out /tmp/smoke.json   # smoke
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from editgan.edit.optimize import learn_edit
from editgan.edit.settings import PAPER, RELEASE
from editgan.io.foreign import KNOWN_CROPS
from editgan.io.perceptual import get_perceptual
from editgan.nn.config import GeneratorConfig
from editgan.nn.segmenter import Segmenter, render_and_segment
from editgan.nn.segmenter_config import SegmenterConfig
from editgan.nn.stylegan2 import Generator
from editgan.runtime.allocator import keep_freed_memory
from editgan.runtime.precision import PRECISIONS, layer_dtype

MODELS = {
    "car": (GeneratorConfig(resolution=512, crop=KNOWN_CROPS["stylegan2-car-config-f"]),
            RELEASE.replace(consistency_weight=0.0)),
    "ffhq1024": (GeneratorConfig(resolution=1024), PAPER.replace(region="painted")),
}
CLASSES, MEMBERS = 32, 10


def child(model: str, precision: str, steps: int, area: float, threads: int) -> dict:
    """One edit in this process -> {seconds, peak_rss_gb, region_pixels, ...}."""
    keep_freed_memory()  # as the CLI does
    torch.set_num_threads(threads)
    config, settings = MODELS[model]
    torch.manual_seed(0)
    G = Generator(config).eval().requires_grad_(False)
    seg = Segmenter(SegmenterConfig.for_generator(config, CLASSES, num_members=MEMBERS),
                    seeds=list(range(MEMBERS))).eval().requires_grad_(False)
    dtype = layer_dtype(precision)
    w = G.z_to_wplus(G.sample_z(1, seed=1))
    target = render_and_segment(G, seg, w, dtype=dtype)[1].labels.clone()
    h, wd = target.shape[-2:]
    side_h, side_w = round(h * math.sqrt(area)), round(wd * math.sqrt(area))
    top, left = (h - side_h) // 2, (wd - side_w) // 2
    painted = torch.zeros_like(target, dtype=torch.bool)
    painted[:, top:top + side_h, left:left + side_w] = True
    target[painted] = CLASSES - 1
    t0 = time.perf_counter()
    result = learn_edit(G, seg, w, target, [CLASSES - 1], settings=settings.replace(steps=steps),
                        painted=painted, perceptual=get_perceptual("msssim_l1"), dtype=dtype)
    seconds = time.perf_counter() - t0
    return {"model": model, "precision": precision, "threads": threads, "steps": steps,
            "image_size": list(config.image_size), "segmenter_input_channels": seg.config.in_features,
            "region_pixels": int(result.region.sum()), "label_pixels": h * wd, "seconds": seconds,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
            "settings": settings.replace(steps=steps).to_json(),
            "note": "car: the release preset without its encoder-consistency term" if model == "car" else ""}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["car", "ffhq1024"])
    ap.add_argument("--precisions", nargs="+", choices=sorted(PRECISIONS), default=["bf16", "fp32"])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--area", type=float, default=0.05, help="painted share of the label map")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=900, help="seconds per run before it is stopped")
    ap.add_argument("--out", default="bench/results/large-edit.json")
    ap.add_argument("--child", nargs=2, metavar=("MODEL", "PRECISION"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.steps, args.area, args.threads)))
        return
    rows = []
    for model in args.models:
        for precision in args.precisions:
            cmd = [sys.executable, __file__, "--child", model, precision, "--steps", str(args.steps),
                   "--area", str(args.area), "--threads", str(args.threads)]
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, check=True)
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            except subprocess.TimeoutExpired:
                rows.append({"model": model, "precision": precision, "seconds": None,
                             "note": f"stopped after {args.timeout:.0f} s"})
            r = rows[-1]
            print(f"| {model} | {precision} | {r['seconds'] and round(r['seconds'], 1)} s | "
                  f"{r.get('peak_rss_gb') and round(r['peak_rss_gb'], 2)} GB | {r.get('region_pixels')} px |", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
