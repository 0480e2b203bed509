"""`editgan train features`: train the feature pyramid that a projected discriminator keeps frozen.

    editgan train features --data toonfaces --out DIR [--resolution 128] [--count 6000] [--steps 800]

The data is a registered labelled source (a domain's renders with their part labels; see
`registry.LABELLED_DATA`): `--count` training images, and `--test-count` held-out images on which the
per-class IoU is measured and recorded. Writes DIR/feature_pyramid.{safetensors,json} with provenance
(data, counts, settings, final loss, time, test IoU); an existing pyramid in DIR is never overwritten.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch

from editgan.cli.options import add_compute_args, add_progress_args
from editgan.errors import InputError
from editgan.eval.iou import mean_iou
from editgan.nn.feature_pyramid import FeaturePyramid, FeaturePyramidConfig
from editgan.progress import Progress
from editgan.registry import LABEL_SCHEMES, LABELLED_DATA
from editgan.train.feature_training import FeatureTrainSettings, segmentation_iou, train_feature_pyramid


def parse_widths(text: str) -> tuple[int, ...]:
    """'32,64,128,256' -> (32, 64, 128, 256)."""
    try:
        return tuple(int(w) for w in text.split(","))
    except ValueError:
        raise InputError(f"--widths must look like '32,64,128,256', got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if (out / f"{FeaturePyramid.file_name}.json").exists():
        raise InputError(f"{out} already holds a feature pyramid; choose another --out")
    labelled = LABELLED_DATA.get(args.data)
    config = FeaturePyramidConfig(resolution=args.resolution, widths=parse_widths(args.widths),
                                  num_classes=LABEL_SCHEMES.get(args.data).num_classes)
    settings = FeatureTrainSettings(steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed)
    print(f"preparing {args.count} training and {args.test_count} test images of {args.data} at {args.resolution}px")
    images, labels = labelled("train", args.count, args.resolution)
    test_images, test_labels = labelled("test", args.test_count, args.resolution)
    with Progress(settings.steps, "train features") as bar:
        net, report = train_feature_pyramid(images, labels, config, settings,
                                            lambda step, steps, loss: bar.update(1, loss=loss), device=args.device)
    iou = segmentation_iou(net, test_images, test_labels)
    net.save_pretrained(out, data=args.data, train_images=args.count, test_images=args.test_count,
                        settings=dataclasses.asdict(settings), threads=torch.get_num_threads(), device=args.device,
                        **report, test_miou=mean_iou(iou), test_iou=[None if np.isnan(v) else float(v) for v in iou])
    print(f"test mIoU {mean_iou(iou):.3f} (worst part {np.nanmin(iou):.3f}) after {report['seconds']:.0f} s; "
          f"wrote {out / FeaturePyramid.file_name}.json")
    return 0


def register_train(train_subparsers) -> None:
    """Add `features` to the `editgan train` command group."""
    p = train_subparsers.add_parser("features", help="train the frozen feature pyramid of a projected discriminator")
    p.add_argument("--data", default="toonfaces", help="a registered labelled data source")
    p.add_argument("--out", required=True, help="output directory (feature_pyramid.safetensors/.json)")
    p.add_argument("--resolution", type=int, default=128)
    p.add_argument("--widths", default="32,64,128,256", help="one width per stage; each stage halves the size")
    p.add_argument("--count", type=int, default=6000, help="training images")
    p.add_argument("--test-count", type=int, default=256, help="held-out images for the recorded IoU")
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3, help="peak of the one-cycle schedule")
    p.add_argument("--seed", type=int, default=0)
    add_compute_args(p)
    add_progress_args(p, old_quiet=("--no-progress",))
    p.set_defaults(func=run)
