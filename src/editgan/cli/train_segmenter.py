"""`editgan train segmenter`: train the segmentation branch of a bundle from annotated images or w+.

    editgan train segmenter --bundle B --images DIR --masks DIR [--embed-steps N] [--perceptual NAME]
    editgan train segmenter --bundle B --latents W.safetensors --masks DIR [--scheme NAME|FILE]

--images: every image in DIR (the generator's resolution) is paired with `<name>.png|.npy` in the
mask directory and embedded (`Editor.embed` with the bundle's EmbedSettings and the embedding flags);
when the settings tune, each image is also pivotally tuned and its features come from its G', which
lines the features up with the mask (G(w+) alone puts small parts a few pixels off: measured, a
16-annotation toonfaces segmenter reads tuned faces at 0.73 mIoU when it learned from tuned
annotations, 0.55 when it learned from pivots). The latents used are written to
`<out>/annotations.wplus.safetensors` (name -> w+) and the tunings to `<out>/tunings/<name>.safetensors`,
which `--latents` takes to retrain without embedding again.
--latents: W.safetensors maps each image name to its w+ ([num_ws, w_dim] or [1, num_ws, w_dim]).
Masks hold label indices (PNG mode L/P/I, or .npy) or the scheme's colours (RGB PNG; see
editgan.io.masks). Writes B/segmenter.safetensors and B/segmenter.json (a packaged bundle's into
its user folder; a segmenter there first moves to backup/), or into --out, with provenance:
annotations, embedding, steps, final loss, time. A bundle's annotation set (`editgan annotations`)
is read as it is: `--latents <annotations>/latents.safetensors --masks <annotations>/masks`; a
latent with a tuning beside it (`<folder of the latents>/tunings/<name>.safetensors`, an annotation
painted on a tuned upload) gives its features from that G'.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from editgan.annotate.image_folder import embed_annotations, read_annotations
from editgan.annotate.store import read_annotation_latents, tuning_of, tuning_path
from editgan.annotate.training import install_segmenter
from editgan.bundle import MANIFEST, open_bundle, resolve_bundle_path
from editgan.cli.options import BUNDLE, add_compute_args, add_embed_args, embed_settings_from_args
from editgan.editor import load
from editgan.errors import InputError
from editgan.files import read_json, save_tensors
from editgan.formats import ANNOTATION_LATENTS as LATENTS_FORMAT, CURRENT, portable_path
from editgan.io.masks import read_mask
from editgan.io.segmenter_files import save_segmenter
from editgan.labels import SCHEMES, LabelScheme, get_scheme
from editgan.nn.segmenter import Segmenter
from editgan.nn.segmenter_config import SegmenterConfig
from editgan.nn.stylegan2 import Generator
from editgan.progress import Progress, progress_bar
from editgan.io.tuning_files import tuning_entries
from editgan.train.segmenter_training import TrainSettings, extract_features, find_masks, train_segmenter


def resolve_scheme(value: str | None, bundle: Path) -> LabelScheme:
    """--scheme NAME or a JSON file, else the bundle manifest's `label_scheme`."""
    if value:
        if value in SCHEMES:
            return get_scheme(value)
        path = Path(value)
        if path.suffix == ".json" and path.is_file():
            return LabelScheme.from_json(read_json(path))
        return get_scheme(value)
    manifest = bundle / MANIFEST
    if manifest.is_file() and isinstance(read_json(manifest).get("label_scheme"), dict):
        return LabelScheme.from_json(read_json(manifest)["label_scheme"])
    raise InputError(f"no label scheme: pass --scheme (one of {', '.join(SCHEMES)} or a JSON file) "
                     f"or put 'label_scheme' in {manifest}")


def load_latents(path: str | Path, num_ws: int, w_dim: int) -> tuple[list[str], torch.Tensor]:
    """Names (sorted) and stacked w+ [I, num_ws, w_dim] from a safetensors file of w+ per image."""
    tensors = read_annotation_latents(path)
    if not tensors:
        raise InputError(f"{path} holds no latents")
    names = sorted(tensors)
    out = []
    for name in names:
        w = tensors[name].float()
        w = w[0] if w.ndim == 3 and w.shape[0] == 1 else w
        if tuple(w.shape) != (num_ws, w_dim):
            raise InputError(f"latent {name!r} in {path} is {list(tensors[name].shape)}, the generator takes "
                             f"w+ [{num_ws}, {w_dim}]")
        out.append(w)
    return names, torch.stack(out)


ANNOTATION_LATENTS = "annotations.wplus.safetensors"


def embedded_annotations(args: argparse.Namespace, bundle: Path, generator, scheme: LabelScheme,
                         config: SegmenterConfig, out: Path) -> tuple[list[str], torch.Tensor, torch.Tensor, list,
                                                                      dict]:
    """--images: check every pair, embed with `Editor.embed` (the bundle's EmbedSettings with the
    embedding flags; tuned when they tune), save the latents and tunings in `out`. Returns (names,
    w+ [I, num_ws, w_dim], masks int64 [I, H, W], tunings (per image a Tuning or None), provenance)."""
    editor = load(bundle, device=generator.w_avg.device)
    settings = embed_settings_from_args(editor, args)
    annotations = read_annotations(args.images, args.masks, scheme, generator.config.image_size, config.out_size)
    t0 = time.perf_counter()
    with progress_bar(len(annotations) * (settings.steps + 1 + settings.tune_steps), "embed annotations") as update:
        wplus, tunings = embed_annotations(editor, annotations, settings, progress=lambda name, step: update(step, {}))
    names = [a.name for a in annotations]
    latents = out / ANNOTATION_LATENTS
    out.mkdir(parents=True, exist_ok=True)
    for name, tuning in zip(names, tunings):
        if tuning is not None:
            save_tensors(tuning_path(out, name), *tuning_entries(tuning))
    save_tensors(latents, dict(zip(names, wplus)), {"format": LATENTS_FORMAT, "version": CURRENT[LATENTS_FORMAT],
                                                    "images": portable_path(args.images, out),
                                                    "embedding": json.dumps(settings.to_json())})
    masks = torch.from_numpy(np.stack([a.mask for a in annotations]))
    embedding = {"image_dir": str(args.images), "latents": str(latents), "embed_steps": settings.steps,
                 "embed_init": "encoder" if settings.use_encoder and editor.encoder is not None else "w_avg",
                 "embed_lr": settings.lr, "perceptual": settings.perceptual, "settings": settings.to_json(),
                 "tuned": settings.tunes, "embed_time_s": round(time.perf_counter() - t0, 1)}
    return names, wplus, masks, tunings, embedding


def run(args: argparse.Namespace) -> int:
    bundle = resolve_bundle_path(args.bundle)
    generator = Generator.from_pretrained(bundle, device=args.device)
    scheme = resolve_scheme(args.scheme, bundle)
    config = SegmenterConfig.for_generator(generator.config, scheme.num_classes, num_members=args.members,
                                           interpolation=args.interpolation, include_const=not args.no_const)
    home = open_bundle(bundle).user_dir  # a packaged bundle's user folder, else the bundle
    out = Path(args.out) if args.out else home
    t0 = time.perf_counter()
    if args.images:
        names, wplus, masks, tunings, source = embedded_annotations(args, bundle, generator, scheme, config, out)
    else:
        names, wplus = load_latents(args.latents, generator.config.num_ws, generator.config.w_dim)
        masks = torch.from_numpy(np.stack([read_mask(p, scheme, config.out_size)
                                           for p in find_masks(args.masks, names)]))
        tunings = [tuning_of(Path(args.latents).parent, name) for name in names]
        source = {"latents": str(args.latents), "tuned": [n for n, t in zip(names, tunings) if t is not None]}
    feats = [f.cpu() for f in extract_features(generator, wplus.to(args.device), config, tunings=tunings)]
    print(f"features of {len(names)} images: {config.in_features} channels ({time.perf_counter() - t0:.1f} s)")
    settings = TrainSettings(batch_pixels=args.batch_pixels, lr=args.lr, max_steps=args.max_steps, seed=args.seed,
                             class_balance=args.class_balance)
    seg = Segmenter(config, seeds=[args.seed * 1000 + m for m in range(args.members)])
    last_loss = [float("nan")]
    with Progress(settings.max_steps, "train segmenter") as bar:
        def progress(step: int, loss: float) -> None:
            last_loss[0] = loss
            bar.update(1, **({"loss": loss} if step % 50 == 0 else {}))
        report = train_segmenter(seg, feats, masks, settings, progress)
    final_loss = report.window_losses[-1] if report.window_losses else last_loss[0]
    provenance = {"num_annotations": len(names), "images": names, **source, "masks": str(args.masks),
                  "settings": vars(settings), "train_steps": report.steps, "final_loss": round(final_loss, 5),
                  "report": report.to_json(), "wall_time_s": round(time.perf_counter() - t0, 1)}
    path = install_segmenter(open_bundle(bundle), seg, scheme, provenance)["path"] if out == home else \
        save_segmenter(seg, out, scheme, provenance)
    print(f"stopped after {report.steps} steps ({report.stopped}); train pixel accuracy "
          f"{report.train_pixel_accuracy:.4f}; wrote {path}")
    return 0


def register_train(train_subparsers) -> None:
    """Add `segmenter` to the `editgan train` command group."""
    p = train_subparsers.add_parser("segmenter", help="train a bundle's segmentation branch from annotated images")
    BUNDLE.add(p)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", help="directory of annotated images (embedded into W+ first)")
    source.add_argument("--latents", help="safetensors file: image name -> w+ [num_ws, w_dim]")
    p.add_argument("--masks", required=True, help="directory of <name>.png / <name>.npy label maps")
    add_embed_args(p)
    p.add_argument("--scheme", help=f"label scheme: {', '.join(SCHEMES)}, or a JSON file")
    p.add_argument("--out", help="output directory (default: the bundle)")
    p.add_argument("--members", type=int, default=10, help="ensemble size")
    p.add_argument("--interpolation", default="bilinear", choices=["bilinear", "nearest"])
    p.add_argument("--no-const", action="store_true", help="do not feed the generator's 4x4 constant input")
    p.add_argument("--batch-pixels", type=int, default=64, help="pixels per member per step")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--class-balance", type=float, default=0.0,
                   help="0: draw pixels uniformly (paper); up to 1: draw rare parts as often as common ones")
    p.add_argument("--max-steps", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    add_compute_args(p)
    p.set_defaults(func=run)
