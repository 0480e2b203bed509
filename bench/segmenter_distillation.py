"""The distilled display segmenter against the ensemble it comes from: agreement, quality, apply speed.

quality part (--part quality or all):
- the bundle's ensemble is distilled into one member-shaped pixel MLP
  (`editgan.train.segmenter_distillation`, the settings of `editgan bundle distill-segmenter` unless
  given), saved as <--work>/display_segmenter.* (copy both files into a bundle to install it; a
  distilled segmenter there is reused on reruns with --reuse);
- agreement with the ensemble on --agree-n held-out generator samples (pixel accuracy of the argmax
  labels, mIoU between the two label maps with the ensemble's as reference, KL): the distilled
  segmenter and, as the "fewer members" baseline, the single member closest to the ensemble;
- mIoU against the renderer's labels on --eval-n held-out toonfaces test faces embedded with
  `Editor.embed` (encoder + --embed-steps; latents cached under --work), G(w+) segmented by each,
  scored as bench/segmentation_quality.py does.
speed part (--part speed or all): apply = image + full segmentation of G(w+ + δ), batch 1, --threads,
median of --repeats after a warm-up, the image alone likewise (the three calls timed round-robin); on the bundle (its ensemble vs
the distilled segmenter) and on a random-weight generator at --speed-res with the bundle's widths
(bench/editing.py's `random_networks`) with a random ensemble of the bundle's shape vs one random
member of that shape (the distilled segmenter's cost does not depend on its weights).

    OMP_NUM_THREADS=1 python bench/segmenter_distillation.py --bundle toonfaces --part quality
    OMP_NUM_THREADS=1 python bench/segmenter_distillation.py --bundle toonfaces --part speed --reuse   # keeps the quality part
    ... --hidden 64 32 --max-steps 3000 --work outputs/segmenter_distillation_h64 \
        --out bench/results/segmenter-distillation-toonfaces-h64.json                  # a narrower distilled MLP
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from editing import random_networks  # noqa: E402
from segmentation_quality import embed_all, predict, scores  # noqa: E402

from editgan.bundle import DISPLAY_SEGMENTER, SEGMENTER  # noqa: E402
from editgan.editor import load  # noqa: E402
from editgan.eval.iou import confusion, iou_from_confusion, mean_iou  # noqa: E402
from editgan.files import file_sha256, read_json  # noqa: E402
from editgan.formats import portable_path, portable_paths  # noqa: E402
from editgan.io.latents import load_wplus, save_wplus  # noqa: E402
from editgan.io.segmenter_files import load_segmenter, save_segmenter  # noqa: E402
from editgan.nn.segmenter import Segmenter, render_and_segment  # noqa: E402
from editgan.toonfaces.bench_faces import fingerprint  # noqa: E402
from editgan.toonfaces.dataset import render_split  # noqa: E402
from editgan.nn.segmenter_inference import gather_features  # noqa: E402
from editgan.train.segmenter_distillation import (EVAL_SEED_OFFSET, DistillSettings, agreement, closest_member,  # noqa: E402
                                                  copy_member, distill_segmenter, distillation_data,
                                                  distilled_provenance, sample_latents, student_config)

AGREE_SEED = 7 * EVAL_SEED_OFFSET  # generator samples of the agreement measure: neither training nor the report's


def distilled(editor, args) -> tuple[Segmenter, dict]:
    """(the distilled segmenter, its provenance): reused from --work when --reuse finds one distilled
    from this ensemble, else distilled now and saved there."""
    teacher, work = editor.segmenter, Path(args.work)
    digest = file_sha256(editor.bundle.segmenter_dir / f"{SEGMENTER}.safetensors")
    meta = work / f"{DISPLAY_SEGMENTER}.json"
    if args.reuse and meta.is_file() and read_json(meta)["provenance"]["distilled_from"]["sha256"] == digest \
            and read_json(meta)["config"]["hidden"] == list(args.hidden or teacher.config.hidden):
        return load_segmenter(work, name=DISPLAY_SEGMENTER)[0], read_json(meta)["provenance"]
    settings = DistillSettings(samples=args.samples, max_steps=args.max_steps, batch_pixels=args.batch_pixels,
                               seed=args.seed)
    last = [0.0]

    def progress(step: int, kl: float) -> None:
        last[0] = kl
        if step % 100 == 0:
            print(f"  step {step}: KL {kl:.4f}", flush=True)

    student, report = distill_segmenter(teacher, editor.generator, settings, tuple(args.hidden) if args.hidden else None,
                                        progress=progress)
    provenance = distilled_provenance(digest, teacher, settings, report,
                                      teacher_folder=portable_path(editor.bundle.segmenter_dir),
                                      command=portable_paths(" ".join(sys.argv)))
    save_segmenter(student, work, editor.scheme, provenance, name=DISPLAY_SEGMENTER)
    return student, provenance


def best_member(teacher: Segmenter, G) -> int:
    """The member closest to the ensemble (as distillation picks it when the widths match)."""
    x, target = distillation_probe(teacher, G)
    return closest_member(teacher, x, target)[0]


def distillation_probe(teacher: Segmenter, G, n: int = 8, pixels: int = 8192):
    """Feature vectors and ensemble probabilities at random pixels of n samples."""
    feats, probs = distillation_data(teacher, G, sample_latents(G, n, seed=0, mixing=0.5))
    k, (h, w) = probs.shape[1], probs.shape[2:]
    idx = torch.randint(0, n * h * w, (pixels,), generator=torch.Generator().manual_seed(0))
    img, pix = idx // (h * w), idx % (h * w)
    x = gather_features(teacher.config, feats, img, pix // w, pix % w).float()
    return x, probs.movedim(1, -1).reshape(-1, k)[idx].float()


def quality(editor, args) -> dict:
    G, teacher = editor.generator, editor.segmenter
    t0 = time.perf_counter()
    student, provenance = distilled(editor, args)
    report = provenance["report"]
    member = int(report["start"].split()[-1]) if report["start"].startswith("member") else best_member(teacher, G)
    single = Segmenter(student_config(teacher)).eval()  # the member closest to the ensemble
    copy_member(single, teacher, member)
    single.requires_grad_(False)
    held = sample_latents(G, args.agree_n, AGREE_SEED, 1.0, 0.5)
    agree = {"distilled": agreement(student, teacher, G, held), f"member {member}": agreement(single, teacher, G, held)}
    print(f"distilled in {time.perf_counter() - t0:.0f} s; agreement measured", flush=True)

    res = G.config.resolution
    networks = [editor.bundle.path / f"{n}.safetensors" for n in ("generator", "encoder") if editor.bundle.has(n)]
    cache = Path(args.work) / f"test-{args.eval_n}-{args.embed_steps}-{fingerprint(*networks)}.wplus.safetensors"
    _, images, truth = render_split("test", args.eval_n, res)
    if cache.is_file():
        W = load_wplus(cache, G.config.num_ws, G.config.w_dim)
    else:
        W = embed_all(editor, images, args.embed_steps)
        save_wplus(cache, W)
    preds = {name: predict(G, seg, W) for name, seg in (("ensemble", teacher), ("distilled", student),
                                                         (f"member {member}", single))}
    truth_scores = {name: scores(pred, truth) for name, pred in preds.items()}
    k = teacher.config.num_classes
    agree_test = {name: {"pixel_accuracy": float((pred == preds["ensemble"]).mean()),
                         "mean_iou": mean_iou(iou_from_confusion(confusion(pred, preds["ensemble"], k)))}
                  for name, pred in preds.items() if name != "ensemble"}
    return {"teacher_members": teacher.num_members, "hidden": list(student.config.hidden), "distillation": provenance,
            "agreement_samples": args.agree_n, "agreement": agree, "eval_n": args.eval_n,
            "embed_steps": args.embed_steps, "agreement_test_faces": agree_test, "truth": truth_scores}


def median_ms(fns: dict, repeats: int) -> dict:
    """{name: median ms} of the calls `fns` {name: fn}, timed round-robin (one call of each per round,
    so that all see the same machine load) after a warm-up round."""
    times: dict = {name: [] for name in fns}
    for r in range(repeats + 1):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            if r:
                times[name].append(time.perf_counter() - t0)
    return {name: 1000 * statistics.median(t) for name, t in times.items()}


@torch.no_grad()
def time_pair(G, ensemble: Segmenter, single: Segmenter, repeats: int) -> dict:
    w = G.z_to_wplus(G.sample_z(1, seed=1))
    w = w + 0.1 * torch.randn(w.shape[1:], generator=torch.Generator().manual_seed(2))  # w+ + δ
    ms = median_ms({"apply_ensemble_ms": lambda: render_and_segment(G, ensemble, w),
                    "apply_distilled_ms": lambda: render_and_segment(G, single, w),
                    "image_only_ms": lambda: G.synthesis(w, noise_mode="const")}, repeats)
    return {"resolution": G.config.resolution, "ensemble_members": ensemble.num_members,
            "hidden": list(ensemble.config.hidden), "single_hidden": list(single.config.hidden), "repeats": repeats, **ms}


def speed(editor, args) -> dict:
    student = load_segmenter(args.work, name=DISPLAY_SEGMENTER)[0] if (Path(args.work) / f"{DISPLAY_SEGMENTER}.json").is_file() \
        else Segmenter(student_config(editor.segmenter, tuple(args.hidden) if args.hidden else None)).eval()
    out = {"bundle": time_pair(editor.generator, editor.segmenter, student, args.repeats)}
    G, ensemble = random_networks(editor, args.speed_res)
    single = Segmenter(student_config(ensemble, student.config.hidden)).eval().requires_grad_(False)
    out["random"] = time_pair(G, ensemble, single, args.repeats)
    return out


def markdown(results: dict) -> str:
    lines = []
    q = results.get("quality")
    if q:
        lines += [f"| segmenter | agreement with the {q['teacher_members']}-member ensemble on {q['agreement_samples']} "
                  "generator samples: pixel acc. / label-map mIoU / KL | the same on the embedded test faces: pixel acc. / "
                  f"mIoU | mIoU vs renderer ({q['eval_n']} test faces) | small parts | pixel acc. vs renderer |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for name, t in q["truth"].items():
            a, b = q["agreement"].get(name), q.get("agreement_test_faces", {}).get(name)
            agree = f"{100 * a['pixel_accuracy']:.2f}% / {a['mean_iou']:.3f} / {a['kl']:.4f}" if a else "(reference)"
            test = f"{100 * b['pixel_accuracy']:.2f}% / {b['mean_iou']:.3f}" if b else "(reference)"
            lines.append(f"| {name} | {agree} | {test} | {t['mean_iou']:.3f} | {t['mean_iou_small']:.3f} | "
                         f"{t['pixel_accuracy']:.4f} |")
    s = results.get("speed")
    if s:
        lines += ["", "| apply (image + full segmentation), batch 1, 1 thread | ensemble | distilled (1 member) | image only |",
                  "| --- | --- | --- | --- |"]
        for name, r in s.items():
            what = "the bundle" if name == "bundle" else "random-weight generator, bundle widths"
            lines.append(f"| {what} ({r['resolution']}², {r['ensemble_members']} members {r['hidden'][0]}:{r['hidden'][1]}) "
                         f"| {r['apply_ensemble_ms']:.1f} ms | {r['apply_distilled_ms']:.1f} ms "
                         f"({r['single_hidden'][0]}:{r['single_hidden'][1]}) | {r['image_only_ms']:.1f} ms |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default="toonfaces")
    ap.add_argument("--part", choices=["all", "quality", "speed"], default="all")
    ap.add_argument("--work", default="outputs/segmenter_distillation")
    ap.add_argument("--reuse", action="store_true", help="reuse a segmenter distilled from this ensemble in --work")
    defaults = DistillSettings()
    ap.add_argument("--samples", type=int, default=defaults.samples)
    ap.add_argument("--max-steps", type=int, default=defaults.max_steps)
    ap.add_argument("--batch-pixels", type=int, default=defaults.batch_pixels)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", type=int, nargs=2, help="the distilled MLP's widths (default: the members')")
    ap.add_argument("--agree-n", type=int, default=50, help="held-out generator samples for the agreement")
    ap.add_argument("--eval-n", type=int, default=50, help="held-out test faces for the mIoU against the renderer")
    ap.add_argument("--embed-steps", type=int, default=150)
    ap.add_argument("--speed-res", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="bench/results/segmenter-distillation-toonfaces.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    editor = load(args.bundle)
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() else {}
    results.update(bundle=editor.bundle.path.name, threads=args.threads)
    if args.part in ("all", "quality"):
        results["quality"] = quality(editor, args)
    if args.part in ("all", "speed"):
        results["speed"] = speed(editor, args)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
