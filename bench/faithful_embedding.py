"""Faithful embedding on held-out rendered toonfaces: W+ alone against W+ plus pivotal tuning (issue 25).

For --n test-split faces (from --start) rendered at the generator's resolution, each face is embedded
with the bundle's settings (`Editor.embed`: its encoder, then --embed-steps W+ steps; the pivot),
then tuned from that pivot with --tune-steps (the other tuning fields: the bundle's settings, else the
"faithful" preset's). Both rows report, averaged over the faces: PSNR (images in [0, 1]), the bundle's
perceptual distance and the toon distance, the segmentation mIoU of the bundle's segmenter on G(w+)
resp. G'(w+) against the renderer's labels (data-set counts; the thin parts listed), and seconds per
image (embedding; tuning on its own). The tuned row adds the tuning's bytes in a latent file, and how
far G' strays from G: mean |G'(w) - G(w)| ([0, 1] units) at random latents, and the change of each
shipped vector's effect at the pivot, mean |Δ_G' - Δ_G| / mean |Δ_G| with Δ = G(w+ + δ) - G(w+).

The pivots' PSNR and distance percentiles are the limits `editgan` warns at (manifest "fidelity":
the 2nd percentile of PSNR and the 98th of the distance over the held-out faces; --write-limits
writes them into the bundle's manifest). The size of a tuning for a 1024-px config-f generator (the
published widths) is computed from its shapes.

    python bench/faithful_embedding.py --n 24 --threads 1               # the committed figures
    python bench/faithful_embedding.py --n 2 --embed-steps 5 --tune-steps 5 --json /tmp/x.json   # smoke run
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from editgan.bundle import read_manifest, write_manifest
from editgan.editor import load
from editgan.eval.iou import confusion, iou_from_confusion, mean_iou
from editgan.files import write_json
from editgan.inversion.fidelity import measure_fidelity
from editgan.inversion.pivotal import tune
from editgan.inversion.settings import FAITHFUL
from editgan.io.images import from_uint8, make_grid, save_png, to_uint8
from editgan.io.latents import save_wplus
from editgan.io.perceptual import get_perceptual
from editgan.nn.config import GeneratorConfig
from editgan.nn.stylegan2 import Generator
from editgan.nn.tuning import factor_shapes, tunable_weights
from editgan.toonfaces.dataset import render_split
from editgan.toonfaces.scheme import TOONFACES_LABELS
from segmentation_quality import one_pixel_off  # noqa: E402  (bench/ is the script's folder)

THIN_PARTS = ("eyebrow", "sclera", "iris", "pupil", "upper_lip", "lower_lip", "mouth_interior", "teeth")
CONFIG_F_1024 = GeneratorConfig(resolution=1024, z_dim=512, w_dim=512, num_mapping_layers=8,
                                channels={4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128,
                                          512: 64, 1024: 32})
GRID_ROWS = 6


def tuning_bytes(config: GeneratorConfig, rank: int, min_resolution: int = 0) -> int:
    """float32 bytes of a rank-`rank` tuning of the blocks >= min_resolution of a generator with `config`
    (its factors' shapes)."""
    weights = tunable_weights(Generator(config), min_resolution)
    return 4 * sum(b[0] * b[1] + a[0] * a[1] for b, a in (factor_shapes(w, rank) for w in weights.values()))


def segmentation_scores(confusions: np.ndarray) -> dict:
    iou = iou_from_confusion(confusions)
    names = TOONFACES_LABELS.names
    return {"mean_iou": mean_iou(iou), "iou": {n: float(iou[i]) for i, n in enumerate(names)},
            "thin_min": float(min(iou[names.index(n)] for n in THIN_PARTS))}


def row_metrics(recons: torch.Tensor, targets: torch.Tensor, confusions: np.ndarray, perceptual: str) -> dict:
    fid = measure_fidelity(recons, targets, perceptual)
    toon = get_perceptual("toon")(recons.clamp(-1, 1), targets)
    return {"psnr": float(np.mean([f.psnr for f in fid])), perceptual: float(np.mean([f.distance for f in fid])),
            "toon": float(toon.mean()), **segmentation_scores(confusions)}


@torch.no_grad()
def drift(editor, tuned, pivot: torch.Tensor, seed: int) -> tuple[float, float]:
    """(mean |G'(w) - G(w)| at 4 random latents in [0, 1] units, mean relative change of the shipped
    vectors' effect at the pivot)."""
    G, Gt = editor.generator, tuned.generator
    w = G.z_to_wplus(G.sample_z(4, seed=seed))
    random_change = float((Gt.synthesis(w) - G.synthesis(w)).abs().mean() / 2)
    changes = []
    for name in editor.library.list():
        delta = editor.library.get(name).delta.to(pivot)
        d0 = G.synthesis(pivot + delta) - G.synthesis(pivot)
        d1 = Gt.synthesis(pivot + delta) - Gt.synthesis(pivot)
        changes.append(float((d1 - d0).abs().mean() / d0.abs().mean().clamp_min(1e-8)))
    return random_change, float(np.mean(changes)) if changes else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default="toonfaces")
    ap.add_argument("--n", type=int, default=24, help="held-out test faces")
    ap.add_argument("--start", type=int, default=1000, help="first test-split index (the demo uses the first ones)")
    ap.add_argument("--embed-steps", type=int, default=500)
    ap.add_argument("--tune-steps", type=int, default=FAITHFUL.tune_steps)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--write-limits", action="store_true", help="record the pivots' fidelity limits in the manifest")
    ap.add_argument("--json", default="bench/results/faithful-embedding-toonfaces.json")
    ap.add_argument("--grid", default="reports/faithful_embedding.png")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    editor = load(args.bundle)
    G, size = editor.generator, editor.generator.config.resolution
    settings = editor.embed_settings(steps=args.embed_steps, tune_steps=args.tune_steps)
    if not settings.tunes:
        settings = settings.replace(**{k: v for k, v in FAITHFUL.to_json().items() if k.startswith(("tune", "locality"))},
                                    tune_steps=args.tune_steps)
    perceptual = settings.perceptual
    _, images, labels = render_split("test", args.n, size, start=args.start)
    targets = from_uint8(images)
    k = TOONFACES_LABELS.num_classes
    pivots, recon_w, recon_t = [], [], []
    conf_w, conf_t = np.zeros((k, k), np.int64), np.zeros((k, k), np.int64)
    seconds_w = seconds_t = 0.0
    drifts, sizes = [], []
    for i in range(args.n):
        x = targets[i:i + 1]
        t0 = time.perf_counter()
        pivot = editor.embed(x, settings=settings.replace(tune_steps=0))
        t1 = time.perf_counter()
        tuned_run = tune(G, x, pivot.wplus, **settings.tuning_options())
        t2 = time.perf_counter()
        seconds_w, seconds_t = seconds_w + t1 - t0, seconds_t + t2 - t1
        tuning = tuned_run.tunings[0]
        tuned = editor.tuned(tuning)
        for ed, conf, recons, rec in ((editor, conf_w, recon_w, pivot.reconstruction),
                                      (tuned, conf_t, recon_t, tuned_run.reconstruction)):
            conf += confusion(ed.segmentation(pivot.wplus)[1].labels.numpy(), labels[i:i + 1], k)
            recons.append(rec)
        drifts.append(drift(editor, tuned, pivot.wplus, seed=10_000 + i))
        with tempfile.TemporaryDirectory() as tmp:
            plain = save_wplus(Path(tmp) / "a.safetensors", pivot.wplus).stat().st_size
            sizes.append(save_wplus(Path(tmp) / "b.safetensors", pivot.wplus, tuning=tuning).stat().st_size - plain)
        pivots.append(pivot.pivot_fidelity[0])
        print(f"face {args.start + i}: W+ {pivot.fidelity[0].describe()}; tuned "
              f"{measure_fidelity(tuned_run.reconstruction, x, perceptual)[0].describe()} "
              f"({t1 - t0:.1f} + {t2 - t1:.1f} s)", flush=True)
    recon_w, recon_t = torch.cat(recon_w), torch.cat(recon_t)
    untuned = {"row": f"W+ ({args.embed_steps} steps)", **row_metrics(recon_w, targets, conf_w, perceptual),
               "seconds_per_image": seconds_w / args.n}
    tuned_row = {"row": f"W+ + tuning ({settings.tune_steps} steps)", **row_metrics(recon_t, targets, conf_t, perceptual),
                 "seconds_per_image": (seconds_w + seconds_t) / args.n, "tune_seconds_per_image": seconds_t / args.n,
                 "tuning_bytes": int(np.median(sizes)), "random_latent_change": float(np.mean([d[0] for d in drifts])),
                 "vector_effect_change": float(np.mean([d[1] for d in drifts]))}
    psnrs, dists = np.array([f.psnr for f in pivots]), np.array([f.distance for f in pivots])
    limits = {"psnr_floor": round(float(np.percentile(psnrs, 2)), 2),
              "perceptual_ceiling": round(float(np.percentile(dists, 98)), 4),
              "source": f"2nd / 98th percentile of {args.n} held-out toonfaces renders' W+ pivots "
                        f"({args.embed_steps} steps, {perceptual}; bench/faithful_embedding.py)"}
    report = {
        "bundle": editor.bundle.path.name, "resolution": size, "n": args.n, "test_start": args.start,
        "threads": torch.get_num_threads(), "load_average_before_after": [load_before[0], os.getloadavg()[0]],
        "settings": settings.to_json(), "rows": [untuned, tuned_row],
        "truth_one_pixel_off": {**segmentation_scores(confusion(one_pixel_off(labels), labels, k)),
                                "what": "the rendered labels against themselves shifted 1 px right"},
        "pivot_fidelity_percentiles": {str(p): [float(np.percentile(psnrs, p)), float(np.percentile(dists, p))]
                                       for p in (2, 10, 50, 90, 98)},
        "fidelity_limits": limits,
        "tuning_bytes_1024px_config_f": tuning_bytes(CONFIG_F_1024, settings.tune_rank,
                                                     settings.tune_min_resolution),
        "perceptual_reduction": 1 - tuned_row[perceptual] / untuned[perceptual]}
    for r in report["rows"]:
        print(f"| {r['row']} | {r['psnr']:.2f} dB | {perceptual} {r[perceptual]:.4f} | toon {r['toon']:.4f} | "
              f"mIoU {r['mean_iou']:.3f} (thin min {r['thin_min']:.3f}) | {r['seconds_per_image']:.1f} s/image |")
    print(f"tuning: {tuned_row['tune_seconds_per_image']:.1f} s/image, {tuned_row['tuning_bytes'] / 1e6:.2f} MB "
          f"(1024-px config-f: {report['tuning_bytes_1024px_config_f'] / 1e6:.2f} MB); {perceptual} "
          f"{100 * report['perceptual_reduction']:.0f} % lower; G' vs G at random latents "
          f"{tuned_row['random_latent_change']:.4f}, vector effect change {tuned_row['vector_effect_change']:.2f}")
    write_json(args.json, report)
    if args.write_limits:
        write_manifest(editor.bundle.path, {**read_manifest(editor.bundle.path), "fidelity": limits})
        print(f"wrote the fidelity limits into {editor.bundle.path / 'manifest.json'}")
    tiles = []
    for i in range(min(GRID_ROWS, args.n)):
        tiles += [images[i], to_uint8(recon_w[i:i + 1])[0], to_uint8(recon_t[i:i + 1])[0]]
    save_png(args.grid, make_grid(np.stack(tiles), cols=3))
    print(f"wrote {args.json} and {args.grid} (columns: target, W+, tuned)")


if __name__ == "__main__":
    main()
