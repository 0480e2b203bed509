"""Embedding quality and speed on held-out rendered toonfaces (EditGAN Sec. 3.2, App. A.2).

For --n test-split faces rendered at the generator's resolution, each initialisation (the bundle's
encoder when it has one, and w_avg) is scored as it is ("0 steps", i.e. encoder-only) and after each
--steps count of `editgan.inversion.optimize.embed` with every --perceptual distance. A row reports, averaged
over the faces: PSNR (images in [0, 1]), the msssim_l1 and toon distances to the target, the mean
IoU of the bundle segmenter's labels on G(w+) against the renderer's labels (what editing needs
from an embedding), and seconds per image (batch wall time / batch size). Every row is scored by
all metrics, so a perceptual distance is never judged only by itself.

Every optimised row is run in each of --precisions (fp32; bf16: the generator's layers in bfloat16,
w+, Adam and the losses in float32), batch by batch in turn so that load changes hit both alike, and
scored by rendering and segmenting in its own precision (what a user of that precision sees).

--speed-resolution R also times `embed` for one image at R x R on a random-weight generator with
the bundle's widths (a block per extra octave at the last width), in each precision (alternating,
median of --speed-repeats, on --speed-threads): the targets are 500 steps <= 60 s at 128^2 (issue 7) and <= 8 s on 2
threads (issue 28).

Outputs: a markdown table on stdout, JSON (--json), and a grid (--grid): per face, the target,
then the reconstruction of each row of the first perceptual distance.

    python bench/embedding.py --bundle toonfaces                               # 200 faces, 100 / 500 steps
    python bench/embedding.py --n 48 --perceptual msssim_l1 toon --json bench/results/embedding-perceptual.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from editgan.bundle import open_bundle
from editgan.eval.iou import confusion, iou_from_confusion, mean_iou
from editgan.inversion.optimize import embed, encode
from editgan.inversion.settings import embed_settings
from editgan.io.images import from_uint8, make_grid, save_png, to_uint8
from editgan.io.perceptual import get_perceptual
from editgan.nn.config import GeneratorConfig
from editgan.nn.segmenter import render_and_segment
from editgan.nn.stylegan2 import Generator
from editgan.runtime.allocator import keep_freed_memory
from editgan.runtime.precision import PRECISIONS, fast_bf16, layer_dtype
from editgan.toonfaces.dataset import render_split
from editgan.toonfaces.scheme import TOONFACES_LABELS
from gan_training import conv_peaks  # noqa: E402  (bench/ is the script's folder)

GRID_ROWS = 6
METRIC_DISTANCES = ("msssim_l1", "toon")


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PSNR in dB [N] of images in [-1, 1], measured on [0, 1] (peak 1)."""
    mse = ((a.clamp(-1, 1) - b.clamp(-1, 1)) / 2).square().mean(dim=(1, 2, 3))
    return 10 * torch.log10(1 / mse.clamp_min(1e-12))


@torch.no_grad()
def score(G, seg, wplus: torch.Tensor, targets: torch.Tensor, labels: np.ndarray,
          precision: str = "fp32") -> tuple[dict, torch.Tensor]:
    """Metrics of G(w+) against the targets [N, 3, R, R] and true labels [N, R, R], both networks in
    `precision`; also the reconstructions."""
    recon, segmentation = render_and_segment(G, seg, wplus, dtype=layer_dtype(precision))
    iou = iou_from_confusion(confusion(segmentation.labels.numpy(), labels, TOONFACES_LABELS.num_classes))
    metrics = {"psnr": float(psnr(recon, targets).mean()), "mean_iou": mean_iou(iou)}
    for name in METRIC_DISTANCES:
        metrics[name] = float(get_perceptual(name)(recon.clamp(-1, 1), targets).mean())
    return metrics, recon


def run_rows(G, seg, init: torch.Tensor | None, targets: torch.Tensor, labels: np.ndarray, steps: int,
             perceptual: str, lr: float, batch: int, precisions: list[str]) -> dict[str, tuple[dict, torch.Tensor]]:
    """Embed all targets in batches from `init` (None: w_avg), each batch in every precision in turn ->
    {precision: (averaged metrics + s/image, w+)}."""
    wplus, seconds = {p: [] for p in precisions}, dict.fromkeys(precisions, 0.0)
    for i in range(0, len(targets), batch):
        start = None if init is None else init[i:i + batch]
        for p in precisions:
            t0 = time.perf_counter()
            wplus[p].append(embed(G, targets[i:i + batch], init=start, steps=steps, lr=lr, perceptual=perceptual,
                                  dtype=layer_dtype(p)).wplus)
            seconds[p] += time.perf_counter() - t0
    rows = {}
    for p in precisions:
        w = torch.cat(wplus[p])
        metrics, _ = score(G, seg, w, targets, labels, p)
        rows[p] = {**metrics, "seconds_per_image": seconds[p] / len(targets)}, w
    return rows


def wider_config(config: GeneratorConfig, resolution: int) -> GeneratorConfig:
    """The bundle's generator config grown (or kept) to `resolution`, extra blocks at the last width."""
    channels = dict(config.channels)
    last = channels[max(channels)]
    for r in (2 ** k for k in range(int(math.log2(max(channels))) + 1, int(math.log2(resolution)) + 1)):
        channels[r] = last
    channels = {r: c for r, c in channels.items() if r <= resolution}
    return dataclasses.replace(config, resolution=resolution, channels=channels, crop=None)


def time_one_image(config: GeneratorConfig, steps: int, perceptual: str, lr: float, precisions: list[str],
                   repeats: int) -> dict[str, float]:
    """{precision: median seconds for `embed` of one random target} with a random-weight generator of
    `config`, the precisions alternating."""
    torch.manual_seed(0)
    G = Generator(config).eval().requires_grad_(False)
    target = torch.rand(1, 3, config.resolution, config.resolution) * 2 - 1
    times = {p: [] for p in precisions}
    for p in precisions:
        embed(G, target, steps=2, lr=lr, perceptual=perceptual, dtype=layer_dtype(p))  # warm-up
    for _ in range(repeats):
        for p in precisions:
            t0 = time.perf_counter()
            embed(G, target, steps=steps, lr=lr, perceptual=perceptual, dtype=layer_dtype(p))
            times[p].append(time.perf_counter() - t0)
    return {p: float(np.median(t)) for p, t in times.items()}


def table_row(r: dict) -> str:
    return (f"| {r['init']} | {r['perceptual'] or '-'} | {r['steps']} | {r.get('precision', 'fp32')} | "
            f"{r['psnr']:.2f} | {r['msssim_l1']:.4f} | {r['toon']:.4f} | {r['mean_iou']:.3f} | "
            f"{r['seconds_per_image']:.2f} |")


def markdown(rows: list[dict]) -> str:
    header = ["| init | perceptual | steps | precision | PSNR dB | msssim_l1 | toon | seg mIoU | s/image |",
              "|---" * 9 + "|"]
    return "\n".join(header + [table_row(r) for r in rows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default="toonfaces")
    ap.add_argument("--n", type=int, default=200, help="held-out test faces")
    ap.add_argument("--start", type=int, default=1000, help="first test-split index (the demo uses the first ones)")
    ap.add_argument("--steps", type=int, nargs="+", default=[100, 500])
    ap.add_argument("--perceptual", nargs="+", default=None, help="distances to embed with (default: the bundle's)")
    ap.add_argument("--lr", type=float, default=None, help="embedding lr (default: the bundle's)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--no-w-avg", action="store_true", help="skip the w_avg-initialised rows")
    ap.add_argument("--speed-resolution", type=int, default=128, help="0 skips the one-image timing")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--precisions", nargs="+", choices=sorted(PRECISIONS), default=None,
                    help="precisions run side by side (default: fp32, and bf16 where it is fast)")
    ap.add_argument("--speed-repeats", type=int, default=3)
    ap.add_argument("--speed-threads", type=int, default=2, help="torch threads of the one-image timing")
    ap.add_argument("--json", default="bench/results/embedding-toonfaces.json")
    ap.add_argument("--grid", default="reports/embedding_reconstructions.png")
    args = ap.parse_args()
    keep_freed_memory()  # as the CLI does
    if args.threads:
        torch.set_num_threads(args.threads)
    precisions = args.precisions or (["fp32", "bf16"] if fast_bf16("cpu") else ["fp32"])
    bundle = open_bundle(args.bundle)
    G, seg = bundle.generator(), bundle.segmenter()[0]
    res = G.config.resolution
    lr = args.lr if args.lr is not None else embed_settings(bundle.embedding).lr
    distances = args.perceptual or [bundle.perceptual()]
    _, images, labels = render_split("test", args.n, res, start=args.start)
    targets = from_uint8(images)

    inits = {}
    if bundle.has("encoder"):
        t0 = time.perf_counter()
        inits["encoder"] = torch.cat([encode(bundle, targets[i:i + args.batch]) for i in range(0, args.n, args.batch)])
        inits["encoder_seconds"] = (time.perf_counter() - t0) / args.n
    if not args.no_w_avg:
        inits["w_avg"] = None

    rows, recons = [], []
    for init_name in [k for k in inits if not k.endswith("_seconds")]:
        init = inits[init_name]
        start = init if init is not None else G.w_avg.expand(args.n, G.num_ws, -1)
        metrics, recon = score(G, seg, start, targets, labels)
        rows.append({"init": init_name, "perceptual": None, "steps": 0, "precision": "fp32", **metrics,
                     "seconds_per_image": inits.get(f"{init_name}_seconds", 0.0)})
        recons.append(recon[:GRID_ROWS])
        print(table_row(rows[-1]), flush=True)
        for perceptual in distances:
            for steps in args.steps:
                runs = run_rows(G, seg, init, targets, labels, steps, perceptual, lr, args.batch, precisions)
                for p, (metrics, wplus) in runs.items():
                    rows.append({"init": init_name, "perceptual": perceptual, "steps": steps, "precision": p,
                                 **metrics})
                    if perceptual == distances[0] and p == precisions[0]:
                        recons.append(score(G, seg, wplus[:GRID_ROWS], targets[:GRID_ROWS], labels[:GRID_ROWS])[1])
                    print(table_row(rows[-1]), flush=True)

    speed = None
    if args.speed_resolution:
        config = wider_config(G.config, args.speed_resolution)
        threads = torch.get_num_threads()
        torch.set_num_threads(args.speed_threads)
        speed = {"resolution": args.speed_resolution, "steps": 500, "perceptual": distances[0],
                 "threads": args.speed_threads, "conv_peak_gflop_per_s": conv_peaks([args.speed_threads]),
                 "seconds": time_one_image(config, 500, distances[0], lr, precisions, args.speed_repeats)}
        torch.set_num_threads(threads)
    print(markdown(rows))
    if speed:
        timed = ", ".join(f"{p} {s:.1f} s" for p, s in speed["seconds"].items())
        print(f"one image, {speed['steps']} steps at {speed['resolution']}^2 ({speed['perceptual']}, random weights, "
              f"bundle widths, {speed['threads']} threads): {timed} (targets: <= 60 s; <= 8 s on 2 threads)")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({
        "bundle": bundle.path.name, "resolution": res, "n": args.n, "test_start": args.start, "lr": lr,
        "batch": args.batch, "threads": torch.get_num_threads(), "rows": rows, "speed": speed}, indent=2) + "\n")
    tiles = []
    for i in range(min(GRID_ROWS, args.n)):
        tiles += [images[i]] + [to_uint8(r[i:i + 1])[0] for r in recons]
    save_png(args.grid, make_grid(np.stack(tiles), cols=1 + len(recons)))
    print(f"wrote {args.json} and {args.grid}")


if __name__ == "__main__":
    main()
