"""Edit settings compared on toonfaces optimisation edits, judged by the image (issue 16).

For --n held-out test faces (test split from --start, embedded and cached as in bench/editing.py) and
each of --edits (default edits of `editgan.toonfaces.vectors`: the renderer's parameter change painted
onto the predicted segmentation, Q_edit = the parts it changes), one `Editor.edit` per variant:

- paper:        EditGAN Eq. 1-5 with the bundle's perceptual distance in L_RGB (the default now)
- paper-no-P:   the same without the perceptual term (what the project ran before)
- release:      the official release's settings (29 updates, 15 (10 P + 5 MSE) on [0, 1], encoder
                consistency, painted region + 3 px, nearest features, last iterate); the bundle's
                perceptual distance stands in for LPIPS when no VGG weights are installed
- paper-display: the paper's, minimising the cross-entropy of the distilled display segmenter instead
                of the 10-member ensemble (`EditSettings.segmenter`; beyond the paper, for speed)

Measures per edit: achieved = attribute network change / the renderer's change for the same parameter
edit (1.0: the image moved as much as the ground truth; the attribute network judges the picture);
outside = mean |x_edit - x| outside r (images in [0, 1], r upsampled to the image); IoU in r of the
edited image's segmentation by the ensemble (whichever segmenter the edit optimised) vs the target (what
the optimiser was asked); seconds. --precision: the networks' (fp32, or bf16 as `--precision auto` picks
on CPUs with fast bf16).

    OMP_NUM_THREADS=1 python bench/edit_settings.py          # writes bench/results/edit_settings.json
    python bench/edit_settings.py --n 1 --edits smile         # smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import editgan
from editing import iou_inside, test_latents
from editgan.runtime.allocator import keep_freed_memory
from editgan.toonfaces import edit_params, edit_target, edited_parts
from editgan.toonfaces.attributes import attribute_scores
from editgan.toonfaces.dataset import image_to_tensor, split_seed
from editgan.toonfaces.params import sample_params
from editgan.toonfaces.render import render
from editgan.toonfaces.vectors import default_edit

VARIANTS = {"paper": ("paper", {}), "paper-no-P": ("paper", {"perceptual_weight": 0.0}), "release": ("release", {}),
            "paper-display": ("paper", {"segmenter": "display"})}


def measure(editor, W: torch.Tensor, seeds: list[int], names: list[str], variants: list[str]) -> dict:
    size = editor.generator.config.resolution
    rows: dict[str, list[dict]] = {v: [] for v in variants}
    for i, seed in enumerate(seeds):
        before_params = sample_params(seed)
        labels = editor.segmentation(W[i:i + 1])[1].labels[0].numpy()  # the ensemble's, which edits optimise
        for name in names:
            edit = default_edit(name)
            after_params = edit_params(before_params, **{edit.param: edit.value})
            truth = torch.stack([image_to_tensor(render(p, size)[0]) for p in (before_params, after_params)])
            truth_scores = attribute_scores(truth)[edit.attribute]
            truth_change = float(truth_scores[1] - truth_scores[0])
            target, _ = edit_target(labels, before_params, after_params)
            parts = list(edited_parts(before_params, after_params))
            for variant in variants:
                preset, overrides = VARIANTS[variant]
                t0 = time.perf_counter()
                result, _ = editor.edit(W[i:i + 1], torch.from_numpy(target), parts, settings=preset, **overrides)
                seconds = time.perf_counter() - t0
                judged = editor.segmentation(result.wplus_after)[1].labels  # by the ensemble
                scores = attribute_scores(torch.cat([result.image_before, result.image_after]).clamp(-1, 1))
                change = float(scores[edit.attribute][1] - scores[edit.attribute][0])
                region = F.interpolate(result.region, size=result.image_after.shape[-2:], mode="nearest")
                outside = ((result.image_after - result.image_before).abs() / 2 * (1 - region)).sum() \
                    / ((1 - region).sum() * 3).clamp_min(1)
                rows[variant].append({
                    "face": seed, "edit": name, "truth_change": truth_change, "change": change,
                    "achieved": change / truth_change if abs(truth_change) > 1e-6 else None,
                    "outside": float(outside), "seconds": seconds,
                    "iou_in_r": iou_inside(judged[0].numpy(), target, result.region[0, 0].numpy(),
                                           editor.segmenter.config.num_classes)})
            print(f"face {i + 1}/{len(seeds)} {name}: " + ", ".join(
                f"{v} {rows[v][-1]['achieved'] if rows[v][-1]['achieved'] is None else round(rows[v][-1]['achieved'], 2)}"
                for v in variants), flush=True)
    return rows


def summary(rows: dict) -> dict:
    out = {}
    for variant, items in rows.items():
        achieved = [r["achieved"] for r in items if r["achieved"] is not None]
        out[variant] = {"achieved_median": statistics.median(achieved) if achieved else None,
                        "outside_mean": float(np.mean([r["outside"] for r in items])),
                        "iou_in_r_mean": float(np.mean([r["iou_in_r"] for r in items])),
                        "seconds_median": statistics.median(r["seconds"] for r in items), "n": len(items)}
    return out


def table(summ: dict) -> str:
    lines = ["| settings | achieved (attribute change / renderer's; median) | outside change (mean) | "
             "IoU in r (mean) | s per edit (median) |", "| --- | --- | --- | --- | --- |"]
    for variant, s in summ.items():
        ach = "-" if s["achieved_median"] is None else f"{s['achieved_median']:.2f}"
        lines.append(f"| {variant} | {ach} | {s['outside_mean']:.4f} | {s['iou_in_r_mean']:.3f} | "
                     f"{s['seconds_median']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default="toonfaces")
    ap.add_argument("--n", type=int, default=6, help="held-out test faces")
    ap.add_argument("--start", type=int, default=100, help="first test-split index")
    ap.add_argument("--edits", default="smile,open_mouth,close_eyes")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--embed-steps", type=int, default=150)
    ap.add_argument("--cache", default="outputs/bench_editing/latents")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    ap.add_argument("--out", default="bench/results/edit_settings.json")
    args = ap.parse_args()
    keep_freed_memory()  # as the CLI does
    torch.set_num_threads(args.threads)
    editor = editgan.load(args.bundle, precision=args.precision)
    seeds = [split_seed("test", i) for i in range(args.start, args.start + args.n)]
    W = test_latents(editor, seeds, args.embed_steps, Path(args.cache))
    rows = measure(editor, W, seeds, args.edits.split(","), args.variants.split(","))
    summ = summary(rows)
    print(table(summ))
    result = {"bundle": editor.bundle.path.name, "perceptual": editor.bundle.perceptual(),
              "test_faces": f"test split {args.start}..{args.start + args.n - 1}", "threads": args.threads,
              "precision": args.precision,
              "cpu": platform.processor() or platform.machine(), "summary": summ, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
