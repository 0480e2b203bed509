"""Which synthesis blocks pivotal tuning should change (issue 25): vector transfer against segmentation.

For each --min-resolutions R (tune only the blocks of resolution >= R; 0: all), with the "faithful"
preset's other fields and the bundle's perceptual distance:
- transfer: the held-out faces --transfer-start.. (--transfer-n, the editing bench's 150-step pivots and
  tunings, cached in its folder) are tuned to their renders and every shipped vector is measured on each
  face's G' as `bench/editing.py` measures it (success rate, median attribute change, outside change);
- segmentation: the held-out faces --seg-start.. (--seg-n, 500-step pivots cached the same way) are
  tuned; PSNR of G'(pivot), the shipped segmenter's mIoU and its pupil and iris IoU against the
  renderer's labels, tuning seconds per face.
The JSON is updated in place: entries for settings not run this time are kept.

    python bench/tuning_blocks.py --min-resolutions 0 32 64 --threads 1   # bench/results/tuning-blocks.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import editgan
from editgan.eval.iou import confusion, iou_from_confusion, mean_iou
from editgan.files import write_json
from editgan.inversion.fidelity import measure_fidelity
from editgan.inversion.pivotal import tune
from editgan.inversion.settings import FAITHFUL
from editgan.io.images import from_uint8
from editgan.toonfaces.dataset import render_split, split_seed
from editgan.toonfaces.scheme import TOONFACES_LABELS
from editing import measure_vector, test_latents, test_tunings  # noqa: E402  (bench/ is the script's folder)


def transfer(editor, min_resolution: int, seeds: list[int], cache: Path) -> dict:
    """Per vector: success rate, median attribute change and outside change on the tuned faces."""
    W = test_latents(editor, seeds, 150, cache)
    tunings = test_tunings(editor, seeds, W, FAITHFUL.tune_steps, cache, min_resolution)
    out = {}
    for name in editor.library.list():
        r = measure_vector(editor, editor.library.get(name), seeds, W, 0, 0, tunings=tunings)
        out[name] = {k: r[k] for k in ("success_rate", "median_change", "preservation")}
    out["mean_success"] = float(np.mean([v["success_rate"] for v in out.values()]))
    return out


def segmentation(editor, min_resolution: int, n: int, start: int, cache: Path) -> dict:
    """PSNR, mIoU, pupil and iris IoU, tuning seconds per face on the tuned faces."""
    size = editor.generator.config.resolution
    seeds, images, labels = render_split("test", n, size, start=start)
    x = from_uint8(images)
    pivots = test_latents(editor, seeds, 500, cache)
    settings = editor.embed_settings(steps=500).replace(tune_min_resolution=min_resolution)
    k, names = TOONFACES_LABELS.num_classes, TOONFACES_LABELS.names
    conf, psnr, seconds = np.zeros((k, k), np.int64), [], 0.0
    for i in range(n):
        t0 = time.perf_counter()
        run = tune(editor.generator, x[i:i + 1], pivots[i:i + 1], **settings.tuning_options())
        seconds += time.perf_counter() - t0
        labels_t = editor.tuned(run.tunings[0]).segmentation(pivots[i:i + 1])[1].labels.numpy()
        conf += confusion(labels_t, labels[i:i + 1], k)
        psnr.append(measure_fidelity(run.reconstruction, x[i:i + 1], settings.perceptual)[0].psnr)
    iou = iou_from_confusion(conf)
    return {"psnr": float(np.mean(psnr)), "mean_iou": mean_iou(iou), "pupil": float(iou[names.index("pupil")]),
            "iris": float(iou[names.index("iris")]), "tune_seconds": seconds / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default="toonfaces")
    ap.add_argument("--min-resolutions", type=int, nargs="+", default=[0, 32, 64])
    ap.add_argument("--parts", nargs="+", choices=("transfer", "segmentation"), default=["transfer", "segmentation"])
    ap.add_argument("--transfer-n", type=int, default=20)
    ap.add_argument("--transfer-start", type=int, default=100)
    ap.add_argument("--seg-n", type=int, default=12)
    ap.add_argument("--seg-start", type=int, default=1000)
    ap.add_argument("--cache", default="outputs/bench_editing/latents", help="the editing bench's latent cache")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default="bench/results/tuning-blocks.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    editor = editgan.load(args.bundle)
    path = Path(args.json)
    report = json.loads(path.read_text()) if path.is_file() else {"transfer": {}, "segmentation": {}}
    report.update(bundle=editor.bundle.path.name, tune_steps=FAITHFUL.tune_steps, threads=args.threads,
                  transfer_faces=f"test split {args.transfer_start}..{args.transfer_start + args.transfer_n - 1}",
                  segmentation_faces=f"test split {args.seg_start}..{args.seg_start + args.seg_n - 1}")
    seeds = [split_seed("test", i) for i in range(args.transfer_start, args.transfer_start + args.transfer_n)]
    for r in args.min_resolutions:
        if "transfer" in args.parts:
            report["transfer"][str(r)] = transfer(editor, r, seeds, Path(args.cache))
        if "segmentation" in args.parts:
                report["segmentation"][str(r)] = segmentation(editor, r, args.seg_n, args.seg_start, Path(args.cache))
        print(f"min_resolution {r}: transfer {report['transfer'].get(str(r), {}).get('mean_success')}, "
              f"segmentation {report['segmentation'].get(str(r))}", flush=True)
        write_json(path, report)
    names = editor.library.list()
    print("| min_resolution | " + " | ".join(names) + " | mean transfer | PSNR | mIoU | pupil | s / face |")
    print("|---" * (len(names) + 6) + "|")
    for r in sorted({*report["transfer"], *report["segmentation"]}, key=int):
        t, s = report["transfer"].get(r, {}), report["segmentation"].get(r, {})
        cells = [f"{100 * t[n]['success_rate']:.0f}%" if n in t else "" for n in names]
        seg = [f"{s['psnr']:.2f}", f"{s['mean_iou']:.3f}", f"{s['pupil']:.3f}", f"{s['tune_seconds']:.1f}"] if s \
            else [""] * 4
        mean = f"{100 * t['mean_success']:.1f}%" if t else ""
        print(f"| {r} | " + " | ".join(cells + [mean] + seg) + " |")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
