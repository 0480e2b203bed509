"""`editgan bundle`: create a bundle from a training run or a converted generator, show one, learn
its default editing vectors, or distil its segmenter's ensemble into a display segmenter.

    editgan bundle distill-segmenter --bundle B [--out DIR] [--samples 256 --max-steps 1500 --hidden H1 H2]

distill-segmenter trains one pixel MLP on the generator's own samples to match the ensemble's mean
probabilities (`editgan.train.segmenter_distillation`) and installs it as the bundle's
`display_segmenter.*` (a packaged bundle's into its user folder; one there first moves to backup/);
label maps are then shown with it, while edits, refinement and uncertainty keep the ensemble. --out
DIR writes it as a plain one-member segmenter (`DIR/segmenter.*`) instead and leaves the bundle alone."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

from editgan.annotate.scheme import parse_scheme
from editgan.annotate.training import install_segmenter
from editgan.bundle import DEFAULT_PERCEPTUAL, DISPLAY_SEGMENTER, MANIFEST, SEGMENTER, open_bundle, write_bundle
from editgan.cli.edit import EDIT_PROGRESS
from editgan.cli.options import (BUNDLE, EDIT_STEPS, EMBED_LR, EMBED_STEPS, IDENTITY, PERCEPTUAL, TUNE_STEPS, VECTORS,
                                 add_compute_args)
from editgan.edit.settings import PAPER as PAPER_EDIT
from editgan.editor import load
from editgan.errors import InputError
from editgan.files import file_sha256, read_json, staged_directory
from editgan.io.foreign import load_foreign_generator
from editgan.io.segmenter_files import save_segmenter
from editgan.inversion.settings import PAPER as PAPER_EMBEDDING
from editgan.labels import SCHEMES, LabelScheme, get_scheme
from editgan.nn.stylegan2 import Generator
from editgan.progress import Progress, progress_bar
from editgan.registry import DEFAULT_VECTORS, LABEL_SCHEMES
from editgan.train.segmenter_distillation import DistillSettings, distill_segmenter, distilled_provenance


def hardware_description() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"


def run_provenance(run: Path) -> dict:
    """Provenance of a `editgan train gan` run: data, widths, images seen, wall time, fd_toon curve."""
    state = read_json(run / "checkpoint.json")["state"]
    cfg = state["config"]
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()] \
        if (run / "log.jsonl").is_file() else []
    fd_curve = [[r["kimg"], r["fd_toon"]] for r in log if "fd_toon" in r]
    return {"data": cfg.get("data", "see run"), "resolution": cfg["generator"]["resolution"],
            "channels": cfg["generator"]["channels"], "batch": cfg["batch"], "images_seen": state["images_seen"],
            "train_seconds": round(state["train_seconds"], 3), "fd_toon_curve": fd_curve,
            "final_fd_toon": fd_curve[-1][1] if fd_curve else None, "training_config": cfg}


def run_create(args: argparse.Namespace) -> int:
    if bool(args.run) == bool(args.generator):
        raise InputError("give either --run (a training run) or --generator (a converted generator or checkpoint)")
    if args.run:
        generator, provenance = run_generator(Path(args.run))
        provenance["hardware"] = args.hardware or hardware_description()
    else:
        generator, provenance = foreign_generator(Path(args.generator))
    labels = scheme_arg(args.scheme) if args.scheme else \
        LABEL_SCHEMES.get(args.domain) if args.domain in LABEL_SCHEMES else None
    extra = {"perceptual": args.perceptual or DEFAULT_PERCEPTUAL,
             "embedding": {"lr": PAPER_EMBEDDING.lr if args.embed_lr is None else args.embed_lr}}
    out = Path(args.out)
    before = read_json(out / MANIFEST) if (out / MANIFEST).is_file() else {}
    with staged_directory(out, start_from_existing=out.exists()) as stage:  # moved into place when complete
        write_bundle(stage, args.domain, generator, labels=labels, provenance={"generator": provenance}, extra=extra)
    bundle = open_bundle(out)
    seen = f", {provenance['images_seen']} images seen" if "images_seen" in provenance else ""
    print(f"wrote bundle {bundle.path} (domain {bundle.domain}, {generator.config.resolution}px{seen}, "
          f"{labels.num_classes if labels else 'no'} labels, segmenter: "
          f"{'present' if bundle.segmenter_dir else 'none yet (annotate samples, then train one)'})")
    if len(bundle.manifest.get("superseded", [])) > len(before.get("superseded", [])):
        print(f"the generator changed: its encoder, segmenter and vectors moved to "
              f"{bundle.path / bundle.manifest['superseded'][-1]} (retrain them for the new generator)")
    return 0


def scheme_arg(value: str) -> LabelScheme:
    """--scheme: a published scheme's name, or a JSON file checked by `parse_scheme`."""
    if value in SCHEMES:
        return get_scheme(value)
    if not Path(value).is_file():
        raise InputError(f"--scheme {value!r} is neither a JSON file nor one of {', '.join(SCHEMES)}")
    return parse_scheme(read_json(value))


def run_generator(run: Path) -> tuple[Generator, dict]:
    """The EMA generator of a `editgan train gan` run and its provenance."""
    if not (run / "checkpoint.json").is_file():
        raise InputError(f"{run} is not a training run directory (no checkpoint.json)")
    return Generator.from_pretrained(run / "generator"), run_provenance(run)


def foreign_generator(path: Path) -> tuple[Generator, dict]:
    """A generator folder (`editgan convert` output: generator.json + .safetensors) or a rosinality
    `.pt` / NVIDIA `.pkl` checkpoint (converted on the fly), with its provenance."""
    if path.is_dir():
        return Generator.from_pretrained(path), {"source": str(path), "format": "editgan"}
    if not path.is_file():
        raise InputError(f"no generator at {path}: give a folder written by `editgan convert` or a .pt/.pkl file")
    generator, extras = load_foreign_generator(path)
    return generator, {"source": str(path), "format": extras["format"]}


def run_show(args: argparse.Namespace) -> int:
    if args.bundle_positional is not None:  # the old spelling `editgan bundle show B`
        print(f"editgan: note: `bundle show {args.bundle_positional}` is deprecated, use "
              f"--bundle {args.bundle_positional}", file=sys.stderr)
        args.bundle = args.bundle_positional
    print(json.dumps(open_bundle(args.bundle).manifest, indent=2))
    return 0


def run_learn_vectors(args: argparse.Namespace) -> int:
    if args.faces < 1:
        raise InputError(f"--faces must be at least 1, got {args.faces}")
    if args.tune_steps and args.faces != 1:
        raise InputError("a tuned learning face has a generator of its own: learn from one face when tuning")
    editor = load(args.bundle, device=args.device, vectors=args.vectors, identity=args.identity)
    domain = editor.bundle.domain
    if domain not in DEFAULT_VECTORS:
        raise InputError(f"no default vectors are defined for {domain!r} bundles ({editor.bundle.path}); "
                         f"domains with defaults: {', '.join(DEFAULT_VECTORS.names()) or 'none'}")
    recipe = DEFAULT_VECTORS.get(domain)
    names = args.only.split(",") if args.only else recipe.names
    unknown = sorted(set(names) - set(recipe.names))
    if unknown:
        raise InputError(f"unknown default vectors {unknown} for {domain}; known: {', '.join(recipe.names)}")
    for name in names:
        with progress_bar(args.edit_steps + 1, name, EDIT_PROGRESS) as update:
            vector, summary = recipe.learn(editor, name, faces=args.faces, embed_steps=args.embed_steps,
                                           tune_steps=args.tune_steps,
                                           edit_steps=args.edit_steps, progress=update)
        editor.library.add(vector, overwrite=True)
        print(summary, flush=True)
    print(f"saved {len(names)} vectors to {editor.library.directory}")
    return 0


def run_distill_segmenter(args: argparse.Namespace) -> int:
    bundle = open_bundle(args.bundle)
    teacher, scheme = bundle.segmenter(args.device)  # MissingWeightsError without one
    teacher_dir = bundle.segmenter_dir
    settings = DistillSettings(samples=args.samples, psi=args.psi, mixing=args.mixing, batch_pixels=args.batch_pixels,
                               lr=args.lr, max_steps=args.max_steps, class_balance=args.class_balance, seed=args.seed,
                               eval_samples=args.eval_samples)
    settings.validate()  # before the generator's samples are rendered
    generator = bundle.generator(args.device)
    with Progress(settings.max_steps, "distil segmenter") as bar:
        def progress(step: int, kl: float) -> None:
            bar.update(1, **({"kl": kl} if step % 50 == 0 else {}))
        student, report = distill_segmenter(teacher, generator, settings, tuple(args.hidden) if args.hidden else None,
                                            progress)
    provenance = distilled_provenance(file_sha256(teacher_dir / f"{SEGMENTER}.safetensors"), teacher, settings, report,
                                      teacher_folder=str(teacher_dir), hardware=hardware_description())
    if args.out:
        path = save_segmenter(student, args.out, scheme, provenance)
    else:
        path = install_segmenter(bundle, student, scheme, provenance, name=DISPLAY_SEGMENTER)["path"]
    for name, a in (("start (" + report.start + ")", report.before), ("distilled", report.after)):
        if a:
            print(f"{name}: agrees with the {teacher.num_members}-member ensemble on {100 * a['pixel_accuracy']:.2f}% "
                  f"of pixels, label-map mIoU {a['mean_iou']:.3f}, KL {a['kl']:.4f} nats ({a['n']} held-out samples)")
    print(f"stopped after {report.steps} steps ({report.stopped}, {report.train_s} s); wrote {path}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("bundle", help="create or inspect bundles")
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    c = sub.add_parser("create", help="bundle a generator (of a training run, or converted) with its provenance")
    c.add_argument("--run", help="run directory of `editgan train gan`")
    c.add_argument("--generator", help="instead of --run: a folder written by `editgan convert`, or a rosinality "
                                       ".pt / NVIDIA .pkl checkpoint (the bundle then has no segmenter until trained)")
    c.add_argument("--scheme", help="label scheme: a JSON file {name, names, colors} or a published scheme name "
                                    "(default: the domain's, if it has one)")
    c.add_argument("--domain", required=True, help="domain name, e.g. toonfaces")
    c.add_argument("--out", required=True, help="bundle directory to create or update")
    c.add_argument("--hardware", default=None, help="hardware the run trained on (default: this machine)")
    PERCEPTUAL.add(c)
    EMBED_LR.add(c, old=("--embedding-lr",))  # written to the manifest's "embedding"; unset: the paper's
    c.set_defaults(func=run_create)
    s = sub.add_parser("show", help="print a bundle's manifest")
    BUNDLE.add(s)
    s.add_argument("bundle_positional", nargs="?", metavar="BUNDLE", help=argparse.SUPPRESS)  # the old spelling
    s.set_defaults(func=run_show)
    v = sub.add_parser("learn-vectors", help="learn a bundle's default editing vectors (defined by its domain) into "
                                             "<bundle>/vectors")
    BUNDLE.add(v)
    VECTORS.add(v)
    v.add_argument("--only", help="comma-separated subset (toonfaces: smile, close_eyes, raise_eyebrows, "
                                  "enlarge_pupils, open_mouth, gaze_left)")
    v.add_argument("--faces", type=int, default=1, help="learn each vector from this many faces' edits at once (one "
                                                      "vector for all; default 1, the paper's one-edit recipe)")
    EMBED_STEPS.add(v, default=300)  # the shipped vectors' learning faces were embedded with 300 steps
    TUNE_STEPS.add(v, default=0)  # one face only
    EDIT_STEPS.add(v, default=PAPER_EDIT.steps)
    IDENTITY.add(v)
    add_compute_args(v)
    v.set_defaults(func=run_learn_vectors)
    d = sub.add_parser("distill-segmenter", help="distil the segmenter's ensemble into one fast pixel MLP that "
                                                 "shows the bundle's label maps")
    BUNDLE.add(d)
    d.add_argument("--out", help="write a plain one-member segmenter (DIR/segmenter.*) instead of installing it")
    d.add_argument("--hidden", type=int, nargs=2, metavar=("H1", "H2"),
                   help="hidden widths (default: the members'; then training starts from the closest member)")
    defaults = DistillSettings()
    d.add_argument("--samples", type=int, default=defaults.samples, help="generated images the pixels come from")
    d.add_argument("--psi", type=float, default=defaults.psi, help="truncation of the samples")
    d.add_argument("--mixing", type=float, default=defaults.mixing, help="share of style-mixed samples (W+ coverage)")
    d.add_argument("--batch-pixels", type=int, default=defaults.batch_pixels, help="pixels per step")
    d.add_argument("--lr", type=float, default=defaults.lr)
    d.add_argument("--max-steps", type=int, default=defaults.max_steps)
    d.add_argument("--class-balance", type=float, default=defaults.class_balance,
                   help="0: pixels uniformly; up to 1: the ensemble's rare classes as often as common ones")
    d.add_argument("--eval-samples", type=int, default=defaults.eval_samples,
                   help="held-out samples the agreement with the ensemble is measured on")
    d.add_argument("--seed", type=int, default=defaults.seed)
    add_compute_args(d)
    d.set_defaults(func=run_distill_segmenter)
