"""Where the time goes on the user-facing paths of a bundle, in each precision (issue 28's "profile first").

- apply: the image alone, the display segmenter on its feature maps, both together (what `apply` shows);
- edit step: one forward + backward of the generator with its feature maps, of the ensemble at an edit
  region's pixels (the region of `bench/editing.py`'s speed edit, `speed_edit`: Eq. 1 with 5 px), and of the perceptual distance (the bundle's);
- embedding step: `embed` of one image under torch.profiler: seconds per step and the five ops with the most
  self time (a one-image step is many small ops).
Medians after warm-up, --threads; JSON to --out.

    python bench/profile_paths.py --threads 1 --out bench/results/profile-paths-1thread.json
    python bench/profile_paths.py --threads 2 --out bench/results/profile-paths-2threads.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

import editgan
from editgan.edit.region import edit_region
from editgan.inversion.optimize import embed
from editgan.io.perceptual import get_perceptual
from editgan.nn.segmenter import render_and_segment, segmentation_features
from editgan.runtime.allocator import keep_freed_memory
from editgan.runtime.precision import PRECISIONS, layer_dtype
from editing import speed_edit  # noqa: E402  (bench/ is the script's folder)


def median_ms(fn, repeats: int) -> float:
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def profile_precision(editor, precision: str, repeats: int) -> dict:
    G, ensemble, display = editor.generator, editor.segmenter, editor.display_segmenter
    dtype = layer_dtype(precision)
    w, _, target, part = speed_edit(G, ensemble)  # the editing bench's speed edit
    labels = render_and_segment(G, ensemble, w)[1].labels
    pixels = edit_region(labels, target, [part], 5, ensemble.config.num_classes)[0, 0] > 0.5
    out = {}
    with torch.no_grad():
        _, feats = segmentation_features(G, w, display.config, dtype=dtype)
        out["apply_image_ms"] = median_ms(lambda: G.synthesis(w, noise_mode="const", dtype=dtype), repeats)
        out["apply_display_segmenter_ms"] = median_ms(lambda: display.predict(feats), repeats)
        out["apply_total_ms"] = median_ms(lambda: render_and_segment(G, display, w, dtype=dtype), repeats)

    delta = torch.zeros_like(w, requires_grad=True)

    def generator_step():
        image, maps = segmentation_features(G, w + delta, ensemble.config, dtype=dtype)
        torch.autograd.grad(image.square().mean() + sum(m.float().mean() for m in maps), delta)

    _, maps = segmentation_features(G, w, ensemble.config, dtype=dtype)
    maps = [m.detach().requires_grad_(True) for m in maps]

    def ensemble_step():
        torch.autograd.grad(ensemble.inference.member_logits(maps, pixels).square().mean(), maps)

    distance = get_perceptual(editor.bundle.perceptual())
    image = G.synthesis(w, noise_mode="const").detach()
    x = image.clone().requires_grad_(True)

    def perceptual_step():
        torch.autograd.grad(distance(x, image.flip(-1)).sum(), x)

    out["edit_region_pixels"] = int(pixels.sum())
    out["edit_generator_fwd_bwd_ms"] = median_ms(generator_step, repeats)
    out["edit_ensemble_fwd_bwd_ms"] = median_ms(ensemble_step, repeats)
    out["edit_perceptual_fwd_bwd_ms"] = median_ms(perceptual_step, repeats)

    steps = 20
    embed(G, image, steps=2, perceptual=editor.bundle.perceptual(), dtype=dtype)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        embed(G, image, steps=steps, perceptual=editor.bundle.perceptual(), dtype=dtype)
        seconds = time.perf_counter() - t0
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:5]
    out["embed_ms_per_step_profiled"] = 1000 * seconds / (steps + 1)
    out["embed_top_ops_ms_per_step"] = {e.key: e.self_cpu_time_total / 1000 / (steps + 1) for e in events}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default="toonfaces")
    ap.add_argument("--precisions", nargs="+", choices=sorted(PRECISIONS), default=["fp32", "bf16"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--out", default="bench/results/profile-paths.json")
    args = ap.parse_args()
    keep_freed_memory()  # as the CLI does
    torch.set_num_threads(args.threads)
    editor = editgan.load(args.bundle)
    rows = {p: profile_precision(editor, p, args.repeats) for p in args.precisions}
    keys = [k for k in rows[args.precisions[0]] if k != "embed_top_ops_ms_per_step"]
    print(f"| measure ({args.threads} thread(s)) | " + " | ".join(args.precisions) + " |")
    print("| --- |" + " --- |" * len(args.precisions))
    for k in keys:
        print(f"| {k} | " + " | ".join(f"{rows[p][k]:.1f}" for p in args.precisions) + " |")
    for p in args.precisions:
        tops = ", ".join(f"{name} {ms:.2f}" for name, ms in rows[p]["embed_top_ops_ms_per_step"].items())
        print(f"embedding step, {p}, top ops (ms/step): {tops}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"bundle": args.bundle, "threads": args.threads, "rows": rows}, indent=2)
                              + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
