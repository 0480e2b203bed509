"""Segmentation quality on toonfaces against the renderer's exact part labels.

For each K in --ks: the first K train-split faces are rendered at the generator's resolution,
embedded into W+ (as `Editor.embed`: from the bundle's encoder when it has one, then optimisation
with its lr and perceptual distance) and a segmenter is
trained on them (`editgan.train.segmenter_training`); each lands in <--work>/K<K>/ with the latents it
used. --eval-n held-out test-split faces (default 200) are embedded once, G(w+) is segmented by
every K's segmenter, and per-part IoU (data-set counts, `editgan.eval.iou`) against the rendered
labels is reported, with the small parts (pupil, iris, teeth) averaged separately. The scores
measure embedding and segmentation together, as EditGAN uses them on real images.

With --tune-steps T every face (annotated and held-out) is also tuned to its render (pivotal tuning
from its pivot, the "faithful" preset's other fields), the held-out faces are segmented from their own
G' features, and each K's segmenter learns from the annotated faces' G' features (--train-on tuned,
the default with tuning: the tuned reconstruction lines up with the annotation, its pivot does not)
or from G's (--train-on untuned: the segmenter a bundle ships today).

Outputs: a markdown table on stdout, JSON in bench/results/, a grid in reports/ (rows: test
faces; columns: image, truth overlay, one prediction overlay per K). The bundle is left alone
unless --install K writes that K's segmenter into it.

    python bench/segmentation_quality.py --bundle toonfaces                      # full run
    python bench/segmentation_quality.py --bundle B --ks 4 8 --eval-n 20 --embed-steps 50 --max-steps 500
    python bench/segmentation_quality.py --ks 16 --eval-n 40 --embed-steps 150 --tune-steps 200 --members 10 \
        --max-steps 3000 --batch-pixels 1024 --class-balance 0.5 --json bench/results/segmentation-quality-tuned.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from editgan.cli.train_segmenter import ANNOTATION_LATENTS, install_segmenter
from editgan.editor import Editor, load
from editgan.eval.iou import confusion, iou_from_confusion, mean_iou
from editgan.files import save_tensors
from editgan.inversion.pivotal import tune
from editgan.inversion.settings import FAITHFUL
from editgan.io.images import from_uint8, make_grid, save_png
from editgan.io.segmentation_files import blend
from editgan.io.segmenter_files import save_segmenter
from editgan.nn.segmenter import Segmenter, render_and_segment
from editgan.nn.segmenter_config import SegmenterConfig
from editgan.toonfaces.dataset import render_split
from editgan.toonfaces.scheme import TOONFACES_LABELS
from editgan.train.segmenter_training import TrainSettings, extract_features, train_segmenter

SMALL_PARTS = ("pupil", "iris", "teeth")
GRID_ROWS = 6


def embed_all(editor: Editor, images: np.ndarray, steps: int, batch: int = 8) -> torch.Tensor:
    """Embed uint8 [N, H, W, 3] with `Editor.embed` in batches (batching does not change the result)
    -> w+ [N, num_ws, w_dim]."""
    out = []
    for i in range(0, len(images), batch):
        out.append(editor.embed(from_uint8(images[i:i + batch]), steps=steps, tune=False).wplus)
        print(f"  embedded {min(i + batch, len(images))}/{len(images)}", flush=True)
    return torch.cat(out)


def tune_all(editor: Editor, images: np.ndarray, wplus: torch.Tensor, steps: int) -> list:
    """Each face's Tuning (pivotal tuning of uint8 images [N, H, W, 3] at their pivots)."""
    s = FAITHFUL.replace(tune_steps=steps, perceptual=editor.embed_settings().perceptual)
    out = []
    for i in range(len(images)):
        tuning = tune(editor.generator, from_uint8(images[i:i + 1]), wplus[i:i + 1], **s.tuning_options()).tunings[0]
        out.append(tuning)
        print(f"  tuned {i + 1}/{len(images)}", flush=True)
    return out


@torch.no_grad()
def predict(G, seg: Segmenter, wplus: torch.Tensor, batch: int = 8) -> np.ndarray:
    """Labels int64 [N, H, W] of G(w+); G: one generator, or one per latent (tuned faces)."""
    if isinstance(G, list):
        return np.concatenate([render_and_segment(g, seg, w[None])[1].labels.numpy() for g, w in zip(G, wplus)])
    return np.concatenate([render_and_segment(G, seg, wplus[i:i + batch])[1].labels.numpy()
                           for i in range(0, len(wplus), batch)])


def scores(pred: np.ndarray, truth: np.ndarray) -> dict:
    names = TOONFACES_LABELS.names
    iou = iou_from_confusion(confusion(pred, truth, len(names)))
    small = [names.index(p) for p in SMALL_PARTS]
    return {"mean_iou": mean_iou(iou), "mean_iou_parts": mean_iou(iou, list(range(1, len(names)))),
            "mean_iou_small": mean_iou(iou, small), "pixel_accuracy": float((pred == truth).mean()),
            "iou": {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, iou)}}


def one_pixel_off(truth: np.ndarray) -> np.ndarray:
    """Labels int64 [N, H, W] shifted one pixel right: scored against `truth`, what a segmenter that is
    exact but one pixel off would score (the scale of a thin part's IoU at this resolution)."""
    return np.concatenate([truth[:, :, :1], truth[:, :, :-1]], axis=2)


def markdown(results: dict, reference: dict) -> str:
    fmt = lambda v: "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3f}"  # noqa: E731
    lines = ["| K | mIoU | mIoU (parts) | small parts | " + " | ".join(SMALL_PARTS) + " | pixel acc. | steps | train s |",
             "|---" * (7 + len(SMALL_PARTS)) + "|"]
    for k, r in results.items():
        lines.append(f"| {k} | {fmt(r['mean_iou'])} | {fmt(r['mean_iou_parts'])} | {fmt(r['mean_iou_small'])} | "
                     + " | ".join(fmt(r["iou"][p]) for p in SMALL_PARTS)
                     + f" | {fmt(r['pixel_accuracy'])} | {r['train_steps']} | {r['train_time_s']} |")
    names = TOONFACES_LABELS.names
    lines += ["", "| part | " + " | ".join(f"K={k}" for k in results) + " | truth 1 px off |",
              "|---" * (len(results) + 2) + "|"]
    lines += [f"| {n} | " + " | ".join(fmt(r["iou"][n]) for r in [*results.values(), reference]) + " |"
              for n in names]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default="toonfaces")
    ap.add_argument("--ks", type=int, nargs="+", default=[4, 8, 16, 30], help="numbers of annotated images")
    ap.add_argument("--eval-n", type=int, default=200, help="held-out test faces")
    ap.add_argument("--embed-steps", type=int, default=500)
    ap.add_argument("--tune-steps", type=int, default=0, help="pivotal tuning steps per face (0: none)")
    ap.add_argument("--train-on", choices=("tuned", "untuned"), default="tuned",
                    help="with tuning: the features the segmenters learn from")
    ap.add_argument("--max-steps", type=int, default=20000, help="segmenter training steps at most")
    ap.add_argument("--batch-pixels", type=int, default=64, help="pixels per member per step (paper: 64)")
    ap.add_argument("--class-balance", type=float, default=0.0, help="see `editgan train segmenter --class-balance`")
    ap.add_argument("--members", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default="outputs/segmentation_quality", help="one segmenter per K under here")
    ap.add_argument("--install", type=int, help="write the segmenter trained on this K into the bundle")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", default="bench/results/segmentation-quality-toonfaces.json")
    ap.add_argument("--grid", default="reports/segmentation_quality_grid.png")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.install is not None and args.install not in args.ks:
        ap.error(f"--install {args.install} is not one of --ks {args.ks}")
    editor = load(args.bundle)
    bundle, G = editor.bundle, editor.generator
    res, perceptual = G.config.resolution, editor.embed_settings().perceptual
    config = SegmenterConfig.for_generator(G.config, TOONFACES_LABELS.num_classes, num_members=args.members)
    if tuple(config.out_size) != (res, res):
        raise SystemExit(f"the segmenter labels {config.out_size}, the renderer draws {res}x{res} labels")

    t0 = time.perf_counter()
    init = "encoder" if editor.encoder is not None else "w_avg"
    train_seeds, train_images, train_labels = render_split("train", max(args.ks), res)
    print(f"embedding {len(train_seeds)} train faces (from {init}, {args.embed_steps} steps, {perceptual})", flush=True)
    train_w = embed_all(editor, train_images, args.embed_steps)
    _, test_images, test_labels = render_split("test", args.eval_n, res)
    print(f"embedding {args.eval_n} test faces", flush=True)
    test_w = embed_all(editor, test_images, args.embed_steps)
    train_tunings, test_G = None, G
    if args.tune_steps:
        print(f"tuning {len(train_seeds)} train and {args.eval_n} test faces ({args.tune_steps} steps)", flush=True)
        test_G = [editor.tuned(t).generator for t in tune_all(editor, test_images, test_w, args.tune_steps)]
        if args.train_on == "tuned":
            train_tunings = tune_all(editor, train_images, train_w, args.tune_steps)
    embed_time = round(time.perf_counter() - t0, 1)

    results, predictions = {}, {}
    for k in args.ks:
        t1 = time.perf_counter()
        seg = Segmenter(config, seeds=[args.seed * 1000 + m for m in range(args.members)])
        settings = TrainSettings(batch_pixels=args.batch_pixels, max_steps=args.max_steps, seed=args.seed,
                                 class_balance=args.class_balance)
        report = train_segmenter(seg, extract_features(G, train_w[:k], config,
                                                       tunings=train_tunings[:k] if train_tunings else None),
                                 torch.from_numpy(train_labels[:k]), settings)
        names = [f"{s:08d}" for s in train_seeds[:k]]
        train_time = round(time.perf_counter() - t1, 1)
        provenance = {"num_annotations": k, "images": names, "source": "toonfaces train split, rendered",
                      "embed_steps": args.embed_steps, "perceptual": perceptual, "train_steps": report.steps,
                      "final_loss": report.window_losses[-1] if report.window_losses else None,
                      "settings": vars(settings), "report": report.to_json(), "wall_time_s": train_time}
        out = Path(args.work) / f"K{k}"
        save_segmenter(seg, out, TOONFACES_LABELS, provenance)
        save_tensors(out / ANNOTATION_LATENTS, dict(zip(names, train_w[:k])), {"steps": args.embed_steps})
        if args.install == k:
            install_segmenter(bundle, seg, TOONFACES_LABELS, provenance)
        predictions[k] = predict(test_G, seg, test_w)
        results[k] = {**scores(predictions[k], test_labels), "train_steps": report.steps, "train_time_s": train_time}
        print(f"K={k}: mIoU {results[k]['mean_iou']:.3f} ({report.steps} steps, {train_time} s)", flush=True)

    reference = scores(one_pixel_off(test_labels), test_labels)
    print(markdown(results, reference))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({
        "bundle": bundle.path.name, "resolution": res, "eval_n": args.eval_n, "embed_init": init,
        "embed_steps": args.embed_steps, "tune_steps": args.tune_steps,
        "train_on": args.train_on if args.tune_steps else "untuned",
        "perceptual": perceptual, "members": args.members, "max_steps": args.max_steps,
        "batch_pixels": args.batch_pixels, "class_balance": args.class_balance, "embed_time_s": embed_time,
        "iou": "data-set counts over all test pixels; mean over parts present", "small_parts": list(SMALL_PARTS),
        "results": {str(k): r for k, r in results.items()},
        "truth_one_pixel_off": {**reference, "what": "the rendered labels against themselves shifted 1 px right"},
    }, indent=2) + "\n")
    colour = TOONFACES_LABELS.colorize
    tiles = []
    for i in range(min(GRID_ROWS, args.eval_n)):
        tiles += [test_images[i], blend(test_images[i], colour(test_labels[i]))]
        tiles += [blend(test_images[i], colour(predictions[k][i])) for k in args.ks]
    Path(args.grid).parent.mkdir(parents=True, exist_ok=True)
    save_png(args.grid, make_grid(np.stack(tiles), cols=2 + len(args.ks)))
    print(f"wrote {args.json} and {args.grid}")


if __name__ == "__main__":
    main()
