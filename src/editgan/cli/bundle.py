"""`editgan bundle`: create a bundle from a training run or a converted generator, show one, or learn
its default editing vectors."""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from editgan.bundle import MANIFEST, open_bundle, write_bundle
from editgan.cli.edit import VECTORS_HELP, add_identity_arg, progress_bar
from editgan.edit.optimize import EDIT_STEPS
from editgan.editor import load
from editgan.errors import InputError
from editgan.files import read_json
from editgan.io.foreign import load_foreign_generator
from editgan.labels import SCHEMES, LabelScheme, get_scheme
from editgan.nn.stylegan2 import Generator
from editgan.registry import DEFAULT_VECTORS, LABEL_SCHEMES
from editgan.train.scheme_edit import parse_scheme


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
    extra = {"perceptual": args.perceptual, "embedding": {"lr": args.embedding_lr}}
    out = Path(args.out)
    before = read_json(out / MANIFEST) if (out / MANIFEST).is_file() else {}
    bundle = write_bundle(args.out, args.domain, generator, labels=labels, provenance={"generator": provenance},
                          extra=extra)
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
    print(json.dumps(open_bundle(args.bundle).manifest, indent=2))
    return 0


def run_learn_vectors(args: argparse.Namespace) -> int:
    editor = load(args.bundle, vectors=args.vectors, identity=args.identity)
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
        bar, update = progress_bar(args.edit_steps, name)
        with bar:
            vector, summary = recipe.learn(editor, name, embed_steps=args.embed_steps, edit_steps=args.edit_steps,
                                           progress=update)
        editor.library.add(vector, overwrite=True)
        print(summary, flush=True)
    print(f"saved {len(names)} vectors to {editor.library.directory}")
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
    c.add_argument("--perceptual", default="msssim_l1", help="perceptual distance the bundle's tools use")
    c.add_argument("--embedding-lr", type=float, default=1e-3,
                   help="Adam lr for embedding into W+ (1e-3 in the paper, which starts from an encoder)")
    c.set_defaults(func=run_create)
    s = sub.add_parser("show", help="print a bundle's manifest")
    s.add_argument("bundle", help="bundle name or directory")
    s.set_defaults(func=run_show)
    v = sub.add_parser("learn-vectors", help="learn a bundle's default editing vectors (defined by its domain) into "
                                             "<bundle>/vectors")
    v.add_argument("--bundle", default="toonfaces", help="bundle name or directory (default: toonfaces)")
    v.add_argument("--vectors", help=VECTORS_HELP)
    v.add_argument("--only", help="comma-separated subset (toonfaces: smile, close_eyes, raise_eyebrows, "
                                  "enlarge_pupils, open_mouth, gaze_left)")
    v.add_argument("--embed-steps", type=int, default=300, help="embedding steps for each learning face")
    v.add_argument("--edit-steps", type=int, default=EDIT_STEPS,
                   help=f"optimisation steps per vector (paper: {EDIT_STEPS})")
    add_identity_arg(v)
    v.set_defaults(func=run_learn_vectors)
