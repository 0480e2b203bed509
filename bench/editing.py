"""Editing quality and speed on toonfaces with a bundle's editing vectors (issue 7's measures).

Test set: --n held-out test-split faces starting at index --start (default 100..199; the default
vectors learn from indices below 100), rendered at the bundle's resolution and embedded into W+
(`Editor.embed`: the bundle's encoder, then --embed-steps with its lr and perceptual distance); latents are cached as
<--cache>/<digest of the networks and settings>/<seed>.wplus.safetensors, so reruns on the same
bundle skip the embedding.

Per vector (the bundle's library; learned by `editgan bundle learn-vectors`), applied at s = 1:
- transfer: success when the attribute network's score moves in the edit's direction by at least half
  of what it moved on the vector's learning face (`created.attribute_change`: the mean over its
  learning faces for a vector learned from several, `bundle learn-vectors --faces K`); undefined (null) when
  the learning face itself moved the wrong way (then only the share that moved the intended way);
- preservation: mean |G(w+ + δ) - G(w+)| outside r, images in [0, 1], where r is Eq. 1's region for
  the vector's parts between the segmentations of the two images (5-pixel buffer); without refinement
  on all faces, and without / with 30-step refinement on the first --refine-n faces whose r is not
  empty (refinement is relative to the same G(w+) and r);
- optimisation edits on the first --opt-n faces: the renderer's change carried onto the predicted
  segmentation (`edit_target`, as when learning; its `repaint_precision` recorded), r = the repainted
  pixels + 5 px, 100 steps; IoU inside r between the segmentation of the result and y_edited (mean
  over the labels present there). The vector's own targets' precision comes from its `created`.
With --tune-steps T every face is also tuned to its render (pivotal tuning from its cached pivot, the
"faithful" preset's other fields; tunings cached beside the latents) and every vector measured again
with each face's G': transfer and outside change on tuned against untuned faces.
A figure (--grid) shows the vectors on the first four test faces.
Precision: every measure is taken in each of --precisions (fp32, bf16: the generator and segmenter in
bfloat16, `editgan.load(precision=)`), interleaved vector by vector and speed row by speed row, on the
same cached latents; the table puts bf16 beside fp32.
Speed (median, batch 1, each of --speed-threads; default: --threads): applying a vector = w+ + δ,
then image + full segmentation (with the ensemble, and on the bundle also with its display segmenter: what `apply` and the web tool run),
and the image alone; a 100-step optimisation; a 30-step refinement. On a random-weight generator at
--speed-res (the bundle's widths, the last one repeated for new resolutions) with a random segmenter
of the bundle's shape, and on the bundle itself.

    OMP_NUM_THREADS=1 python bench/editing.py --bundle toonfaces            # writes bench/results/editing.json
    python bench/editing.py --n 4 --refine-n 1 --opt-n 1 --speed-repeats 2  # smoke run
    OMP_NUM_THREADS=1 python bench/editing.py --n 30 --tune-steps 200 --out bench/results/editing-tuned.json
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

import editgan
from editgan.edit.optimize import learn_edit, refine
from editgan.edit.region import edit_region
from editgan.eval.iou import confusion, iou_from_confusion, mean_iou
from editgan.inversion.pivotal import tune
from editgan.inversion.settings import FAITHFUL
from editgan.io.images import make_grid, save_png, to_uint8
from editgan.io.latents import load_tuning, load_wplus, save_wplus
from editgan.nn.config import GeneratorConfig
from editgan.nn.segmenter import Segmenter, render_and_segment
from editgan.nn.segmenter_config import SegmenterConfig
from editgan.nn.stylegan2 import Generator
from editgan.runtime.allocator import keep_freed_memory
from editgan.runtime.precision import PRECISIONS, fast_bf16, layer_dtype
from editgan.toonfaces import edit_params, edit_target, edited_parts, repaint_precision
from editgan.toonfaces.attributes import attribute_scores
from editgan.toonfaces.bench_faces import fingerprint
from editgan.toonfaces.dataset import image_to_tensor, split_seed
from editgan.toonfaces.params import sample_params
from editgan.toonfaces.render import render
from editgan.toonfaces.vectors import default_edit
from gan_training import conv_peaks  # noqa: E402  (bench/ is the script's folder)

BUFFER = 5
TARGETS = {"success": 0.85, "preservation": 0.02, "iou": 0.8, "apply_ms": 50.0, "optimise_s": 20.0, "refine_s": 6.0}


# ---------------------------------------------------------------------------------------------- test set
def test_latents(editor, seeds: list[int], steps: int, cache: Path, batch: int = 8) -> torch.Tensor:
    """w+ [n, num_ws, w_dim] of the rendered faces `seeds`, embedded once and cached per seed under
    a subdirectory named by what the embedding depends on (generator, encoder, steps, lr, distance)."""
    cfg, size = editor.generator.config, editor.generator.config.resolution
    b = editor.bundle
    networks = [b.path / f"{n}.safetensors" for n in ("generator", "encoder") if b.has(n)]
    settings = editor.embed_settings(steps=steps, tune_steps=0)
    pivot_fields = {k: v for k, v in settings.to_json().items() if not k.startswith(("tune_", "locality_"))}
    cache = cache / fingerprint(*networks, pivot_fields)  # the tuning fields do not change a pivot
    path = {s: cache / f"{s}.wplus.safetensors" for s in seeds}
    missing = [s for s in seeds if not path[s].is_file()]
    for i in range(0, len(missing), batch):
        chunk = missing[i:i + batch]
        images = torch.stack([image_to_tensor(render(sample_params(s), size)[0]) for s in chunk])
        result = editor.embed(images, settings=settings)
        for s, w in zip(chunk, result.wplus):
            save_wplus(path[s], w)
        print(f"  embedded {i + len(chunk)}/{len(missing)} test faces", flush=True)
    return torch.cat([load_wplus(path[s], cfg.num_ws, cfg.w_dim) for s in seeds])


def test_tunings(editor, seeds: list[int], W: torch.Tensor, steps: int, cache: Path,
                 min_resolution: int = FAITHFUL.tune_min_resolution) -> list:
    """One pivotal tuning per test face at its cached pivot W[i] (`editgan.inversion.pivotal`, the
    "faithful" preset's fields with `steps` and `min_resolution`), cached beside the latents as
    <seed>.tuned<steps>.wplus.safetensors."""
    size = editor.generator.config.resolution
    b = editor.bundle
    networks = [b.path / f"{n}.safetensors" for n in ("generator", "encoder") if b.has(n)]
    settings = FAITHFUL.replace(tune_steps=steps, perceptual=b.perceptual(), tune_min_resolution=min_resolution)
    folder = cache / fingerprint(*networks, W, settings.to_json())
    tunings = []
    for i, s in enumerate(seeds):
        path = folder / f"{s}.tuned{steps}.wplus.safetensors"
        if not path.is_file():
            image = image_to_tensor(render(sample_params(s), size)[0])[None]
            tuning = tune(editor.generator, image, W[i:i + 1], **settings.tuning_options()).tunings[0]
            save_wplus(path, W[i:i + 1], tuning=tuning)
            print(f"  tuned {i + 1}/{len(seeds)} test faces", flush=True)
        tunings.append(load_tuning(path))
    return tunings


def outside_change(a: torch.Tensor, b: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Mean |a - b| per image over the channels and pixels outside region; images [N, 3, H, W] in
    [-1, 1] measured in [0, 1] units; region [N, 1, H, W] in {0, 1} -> [N]."""
    outside = (1 - region).expand_as(a)
    return ((a - b).abs() / 2 * outside).sum((1, 2, 3)) / outside.sum((1, 2, 3)).clamp_min(1)


def iou_inside(pred: np.ndarray, target: np.ndarray, region: np.ndarray, k: int) -> float:
    """Mean IoU over the labels present in pred or target at the region's pixels."""
    inside = region.astype(bool)
    return mean_iou(iou_from_confusion(confusion(pred[inside], target[inside], k)))


# ---------------------------------------------------------------------------------------------- quality
def measure_vector(editor, vector, seeds: list[int], W: torch.Tensor, refine_n: int, opt_n: int,
                   batch: int = 20, tunings: list | None = None) -> dict:
    """The vector's measures on the faces W (module docstring); with `tunings` (one per face) every face
    is drawn, segmented, refined and edited with its own tuned generator G'."""
    edit = default_edit(vector.name)
    parts = editor.part_indices(list(vector.parts))
    learned = float(vector.created["attribute_change"])
    threshold = 0.5 * learned
    changes, preserve = [], []
    regions = []
    step = 1 if tunings else batch
    for i in range(0, len(W), step):
        w, view = W[i:i + step], editor.tuned(tunings[i]) if tunings else editor
        before, seg_before = view.segmentation(w)
        after, seg_after = view.segmentation(w + vector.delta)
        region = edit_region(seg_before.labels, seg_after.labels, parts, BUFFER)
        regions.append(region)
        scores = attribute_scores(torch.cat([before, after]).clamp(-1, 1))[edit.attribute]
        changes.append(scores[len(w):] - scores[:len(w)])
        preserve.append(outside_change(after, before, region))
    changes, preserve, regions = torch.cat(changes), torch.cat(preserve), torch.cat(regions)
    success = (edit.sign * changes >= edit.sign * threshold) & (edit.sign * changes > 0)
    valid = edit.sign * learned > 0  # otherwise the learning face itself moved the wrong way: no reference

    # Refinement needs a region: the first refine_n faces where the vector's parts are segmented at all.
    subset = [i for i in range(len(W)) if regions[i].any()][:refine_n]
    refined_preserve, plain_subset = [], preserve[subset]
    t_refine = []
    for i in subset:
        G = editor.tuned(tunings[i]).generator if tunings else editor.generator
        t0 = time.perf_counter()
        result = refine(G, editor.segmenter, W[i:i + 1], vector.delta, 1.0, parts=parts, steps=30,
                        dtype=editor.compute_dtype)
        t_refine.append(time.perf_counter() - t0)
        refined_preserve.append(float(outside_change(result.image_after, result.image_before, regions[i:i + 1])[0]))

    ious, precision = [], []
    for i in range(opt_n):
        before_params = sample_params(seeds[i])
        after_params = edit_params(before_params, **{edit.param: edit.value})
        view = editor.tuned(tunings[i]) if tunings else editor
        labels = view.segmentation(W[i:i + 1])[1].labels[0].numpy()  # the ensemble's, which edits optimise
        target, painted = edit_target(labels, before_params, after_params)
        precision.append(repaint_precision(labels, target, render(before_params, len(labels))[1],
                                           render(after_params, len(labels))[1]))
        q = editor.part_indices(list(edited_parts(before_params, after_params)))
        result = learn_edit(view.generator, editor.segmenter, W[i:i + 1], torch.from_numpy(target)[None], q,
                            region="painted", painted=torch.from_numpy(painted)[None], dtype=editor.compute_dtype)
        ious.append(iou_inside(result.labels_after[0].numpy(), target, result.region[0, 0].numpy(),
                               editor.segmenter.config.num_classes))
    return {
        "attribute": edit.attribute, "direction": edit.sign, "learning_faces": vector.created.get("test_indices"),
        "learning_repaint_precision": vector.created.get("repaint_precision"),
        "learning_change": learned, "threshold": threshold, "n": len(W),
        "success_rate": float(success.float().mean()) if valid else None,
        "moved_intended_way": float((edit.sign * changes > 0).float().mean()), "median_change": float(changes.median()),
        "changes": [round(float(c), 5) for c in changes],  # per test face, to score other thresholds
        "preservation": float(preserve.mean()),
        "faces_without_region": int(sum(not r.any() for r in regions)),
        "refine_n": len(subset), "preservation_subset_plain": float(plain_subset.mean()) if subset else None,
        "preservation_subset_refined": float(np.mean(refined_preserve)) if subset else None,
        "refine_s_median": statistics.median(t_refine) if t_refine else None,
        "opt_n": opt_n, "opt_iou_mean": float(np.mean(ious)) if ious else None, "opt_ious": ious,
        "opt_repaint_precision": precision,
    }


# ---------------------------------------------------------------------------------------------- speed
def random_networks(editor, res: int, seed: int = 0) -> tuple[Generator, Segmenter]:
    """A random generator at `res` with the bundle's mapping and widths (last width repeated) and a
    random segmenter of the bundle segmenter's members, hidden sizes and classes."""
    g = editor.generator.config
    channels = {r: g.channels.get(r, g.channels[max(g.channels)]) for r in [4 * 2 ** i for i in range(res.bit_length() - 2)]}
    torch.manual_seed(seed)
    G = Generator(GeneratorConfig(resolution=res, z_dim=g.z_dim, w_dim=g.w_dim, num_mapping_layers=g.num_mapping_layers,
                                  channels=channels)).eval().requires_grad_(False)
    s = editor.segmenter.config
    seg = Segmenter(SegmenterConfig.for_generator(G.config, num_classes=s.num_classes, num_members=s.num_members,
                                                  hidden=s.hidden)).eval().requires_grad_(False)
    return G, seg


def speed_edit(G: Generator, seg: Segmenter) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """The speed rows' edit: (w+ [1, num_ws, w_dim], a vector δ [num_ws, w_dim], target labels [1, H', W'],
    part): a square painted over the label covering closest to 10% of G(w+ + δ)'s label map."""
    w = G.z_to_wplus(G.sample_z(1, seed=1))
    delta = 0.1 * torch.randn(w.shape[1:], generator=torch.Generator().manual_seed(2))
    labels = render_and_segment(G, seg, w + delta)[1].labels
    area = torch.bincount(labels.flatten(), minlength=seg.config.num_classes).float() / labels.numel()
    part = int((area - 0.1).abs().argmin())
    target = render_and_segment(G, seg, w)[1].labels.clone()
    h = target.shape[-1]
    target[:, h // 3:h // 2, h // 3:2 * h // 3] = part
    return w, delta, target, part


def time_config(G: Generator, seg: Segmenter, repeats: int, precision: str = "fp32",
                display: Segmenter | None = None) -> dict:
    """Median apply time (w+ + δ -> image + segmentation by `seg`, and by `display` when given), one
    100-step optimisation (minimising `seg`'s CE, and `display`'s when given), median 30-step refinement,
    with the networks in `precision`. The edited part is the label covering closest to 10% of G(w+ + δ)'s
    label map."""
    dtype = layer_dtype(precision)
    w, delta, target, part = speed_edit(G, seg)
    area = float((render_and_segment(G, seg, w + delta)[1].labels == part).float().mean())
    calls = max(repeats * 5, 10) + 1  # the first call warms up

    def median_ms(fn) -> float:
        times = []
        with torch.no_grad():
            for _ in range(calls):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
        return 1000 * statistics.median(times[1:])

    out = {"resolution": G.config.resolution, "channels": G.config.channels, "precision": precision,
           "segmenter_members": seg.config.num_members, "segmenter_hidden": list(seg.config.hidden),
           "edited_part_area": area,
           "apply_ms_median": median_ms(lambda: render_and_segment(G, seg, w + delta, dtype=dtype)),
           "apply_display_ms_median": None if display is None else
           median_ms(lambda: render_and_segment(G, display, w + delta, dtype=dtype)),
           "image_only_ms_median": median_ms(lambda: G.synthesis(w + delta, noise_mode="const", dtype=dtype))}
    t0 = time.perf_counter()
    learn_edit(G, seg, w, target, [part], steps=100, dtype=dtype)
    out["optimise_100_s"] = time.perf_counter() - t0
    if display is not None:  # EditSettings(segmenter="display")
        t0 = time.perf_counter()
        learn_edit(G, display, w, target, [part], steps=100, dtype=dtype)
        out["optimise_100_display_s"] = time.perf_counter() - t0
    refine_times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        refine(G, seg, w, delta, 1.0, parts=[part], steps=30, dtype=dtype)
        refine_times.append(time.perf_counter() - t0)
    out["refine_30_s_median"] = statistics.median(refine_times)
    return out


@torch.no_grad()
def vector_grid(editor, names: list[str], W: torch.Tensor, path: Path, rows: int = 4) -> Path:
    """A figure: one row per test face, columns G(w+) then G(w+ + δ) for each vector at s = 1."""
    cells = []
    for w in W[:rows]:
        w = w[None]
        cells.append(editor.render(w))
        cells += [editor.render(w + editor.library.get(n).delta) for n in names]
    return save_png(path, make_grid(to_uint8(torch.cat(cells)), cols=len(names) + 1))


# ---------------------------------------------------------------------------------------------- report
def table(results: dict) -> str:
    rows = ["| vector | success (target ≥85%) | median Δattr (learn Δ) | preservation s=1, all | "
            "subset plain → refined | opt. IoU in r (target ≥0.8) |", "| --- | --- | --- | --- | --- | --- |"]
    for name, r in results["vectors"].items():
        subset = (f"{r['preservation_subset_plain']:.4f} → {r['preservation_subset_refined']:.4f} (n={r['refine_n']})"
                  if r["refine_n"] else "-")
        iou = f"{r['opt_iou_mean']:.3f} (n={r['opt_n']})" if r["opt_n"] else "-"
        rate = f"{100 * r['success_rate']:.0f}% of {r['n']}" if r["success_rate"] is not None else \
            f"n/a: learning face moved the wrong way ({100 * r['moved_intended_way']:.0f}% moved the intended way)"
        rows.append(f"| {name} | {rate} | {r['median_change']:+.3f} "
                    f"({r['learning_change']:+.3f}) | {r['preservation']:.4f} | {subset} | {iou} |")
    if "tuned" in results:
        rows += ["", f"| vector | success untuned → tuned ({results['tuned']['tune_steps']} tuning steps) | "
                     "outside change untuned → tuned (target ≤ 0.02) |", "| --- | --- | --- |"]
        for name, r in results["tuned"]["vectors"].items():
            u = results["vectors"][name]
            rate = (lambda x: f"{100 * x['success_rate']:.0f}%" if x["success_rate"] is not None else "n/a")
            rows.append(f"| {name} | {rate(u)} → {rate(r)} | {u['preservation']:.4f} → {r['preservation']:.4f} |")
    for precision, other in results.get("other_precisions", {}).items():
        first = results["precisions"][0]
        rows += ["", f"| vector | success {first} → {precision} | outside change {first} → {precision} | "
                     f"opt. IoU in r {first} → {precision} |", "| --- | --- | --- | --- |"]
        for name, r in other["vectors"].items():
            u = results["vectors"][name]
            rate = (lambda x: f"{100 * x['success_rate']:.0f}%" if x["success_rate"] is not None else "n/a")
            iou = (lambda x: f"{x['opt_iou_mean']:.3f}" if x["opt_n"] else "-")
            rows.append(f"| {name} | {rate(u)} → {rate(r)} | {u['preservation']:.4f} → {r['preservation']:.4f} | "
                        f"{iou(u)} → {iou(r)} |")
    if not results["vectors"]:  # --speed-only
        rows = []
    rows += ["", "| speed config | precision | apply (image + seg.) | apply, display segmenter | image only | "
                 "100-step optimisation | same, display segmenter's CE | 30-step refinement |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, s in results["speed"].items():
        display = "-" if s.get("apply_display_ms_median") is None else f"{s['apply_display_ms_median']:.1f} ms"
        fast = "-" if s.get("optimise_100_display_s") is None else f"{s['optimise_100_display_s']:.2f} s"
        rows.append(f"| {name} ({s['resolution']}²) | {s.get('precision', 'fp32')} | {s['apply_ms_median']:.1f} ms | "
                    f"{display} | {s['image_only_ms_median']:.1f} ms | {s['optimise_100_s']:.2f} s | {fast} | "
                    f"{s['refine_30_s_median']:.2f} s |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default="toonfaces")
    ap.add_argument("--vectors", help="vector library (default: <bundle>/vectors)")
    ap.add_argument("--n", type=int, default=100, help="held-out test faces for transfer")
    ap.add_argument("--start", type=int, default=100, help="first test-split index")
    ap.add_argument("--embed-steps", type=int, default=150)
    ap.add_argument("--tune-steps", type=int, default=0,
                    help="also measure every vector on the same faces tuned to their renders (pivotal tuning)")
    ap.add_argument("--cache", default="outputs/bench_editing/latents")
    ap.add_argument("--refine-n", type=int, default=10, help="faces refined (30 steps) per vector")
    ap.add_argument("--opt-n", type=int, default=3, help="optimisation edits per vector")
    ap.add_argument("--speed-res", type=int, default=128)
    ap.add_argument("--speed-repeats", type=int, default=3)
    ap.add_argument("--speed-threads", type=int, nargs="+", default=None,
                    help="torch threads of the speed rows, each in turn (default: --threads)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--precisions", nargs="+", choices=sorted(PRECISIONS), default=None,
                    help="precisions measured side by side (default: fp32, and bf16 where it is fast)")
    ap.add_argument("--speed-only", action="store_true", help="only the speed rows (no test faces)")
    ap.add_argument("--out", default="bench/results/editing.json")
    ap.add_argument("--grid", default="reports/editing_vectors.png", help="figure of the vectors on test faces")
    args = ap.parse_args()
    keep_freed_memory()  # as the CLI does
    torch.set_num_threads(args.threads)

    precisions = args.precisions or (["fp32", "bf16"] if fast_bf16("cpu") else ["fp32"])
    editors = {p: editgan.load(args.bundle, vectors=args.vectors, precision=p) for p in precisions}
    editor = editors[precisions[0]]
    names = editor.library.list()
    seeds = [split_seed("test", i) for i in range(args.start, args.start + args.n)]
    if not args.speed_only:
        t0 = time.perf_counter()
        W = test_latents(editor, seeds, args.embed_steps, Path(args.cache))
        print(f"{len(W)} test latents ready in {time.perf_counter() - t0:.0f} s", flush=True)

    results = {"bundle": editor.bundle.path.name, "resolution": editor.generator.config.resolution,
               "test_faces": f"test split {args.start}..{args.start + args.n - 1}", "embed_steps": args.embed_steps,
               "threads": args.threads, "cpu": platform.processor() or platform.machine(), "targets": TARGETS,
               "precisions": precisions, "vectors": {}, "speed": {},
               "other_precisions": {p: {"vectors": {}} for p in precisions[1:]}}
    for name in [] if args.speed_only else names:
        for p in precisions:  # interleaved, so that load changes hit every precision alike
            t0 = time.perf_counter()
            r = measure_vector(editors[p], editors[p].library.get(name), seeds, W, args.refine_n, args.opt_n)
            (results["vectors"] if p == precisions[0] else results["other_precisions"][p]["vectors"])[name] = r
            print(f"{name} ({p}): success {r['success_rate']}, outside {r['preservation']:.4f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    if args.tune_steps and not args.speed_only:
        tunings = test_tunings(editor, seeds, W, args.tune_steps, Path(args.cache))
        results["tuned"] = {"tune_steps": args.tune_steps, "vectors": {}}
        for name in names:
            results["tuned"]["vectors"][name] = measure_vector(editor, editor.library.get(name), seeds, W,
                                                               args.refine_n, args.opt_n, tunings=tunings)
            r, u = results["tuned"]["vectors"][name], results["vectors"][name]
            print(f"{name} on tuned faces: success {r['success_rate']} (untuned {u['success_rate']}), outside "
                  f"{r['preservation']:.4f} (untuned {u['preservation']:.4f})", flush=True)
    if not args.speed_only:
        grid = vector_grid(editor, names, W, Path(args.grid))
        print(f"wrote {grid} (rows: test faces; columns: input, then {', '.join(names)} at s=1)", flush=True)
    G, seg = random_networks(editor, args.speed_res)
    results["conv_peak_gflop_per_s"] = conv_peaks(sorted({*(args.speed_threads or []), args.threads}))
    print("conv peak GFLOP/s:", {k: round(v) for k, v in results["conv_peak_gflop_per_s"].items()}, flush=True)
    for threads in args.speed_threads or [args.threads]:
        torch.set_num_threads(threads)
        for p in precisions:
            results["speed"][f"random {args.speed_res} {p}, {threads} thr"] = \
                {**time_config(G, seg, args.speed_repeats, p), "threads": threads}
        for p in precisions:
            results["speed"][f"bundle {p}, {threads} thr"] = \
                {**time_config(editor.generator, editor.segmenter, args.speed_repeats, p,
                               display=editor.display_segmenter), "threads": threads}
    torch.set_num_threads(args.threads)
    print(table(results))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
