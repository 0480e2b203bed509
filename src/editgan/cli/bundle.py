"""`editgan bundle`: create a bundle from a training run, or show one."""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from editgan.bundle import open_bundle, write_bundle
from editgan.errors import InputError
from editgan.io.native import load_generator, read_json


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
    run = Path(args.run)
    if not (run / "checkpoint.json").is_file():
        raise InputError(f"{run} is not a training run directory (no checkpoint.json)")
    generator = load_generator(run / "generator")
    labels = None
    if args.domain == "toonfaces":
        from editgan.domains.toonfaces import TOONFACES_LABELS as labels
    provenance = {**run_provenance(run), "hardware": args.hardware or hardware_description()}
    extra = {"perceptual": args.perceptual, "embedding": {"lr": args.embedding_lr}}
    bundle = write_bundle(args.out, args.domain, generator, labels=labels, provenance={"generator": provenance},
                          extra=extra)
    print(f"wrote bundle {bundle.path} (domain {bundle.domain}, {generator.config.resolution}px, "
          f"{provenance['images_seen']} images seen)")
    return 0


def run_show(args: argparse.Namespace) -> int:
    print(json.dumps(open_bundle(args.bundle).manifest, indent=2))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("bundle", help="create or inspect bundles")
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    c = sub.add_parser("create", help="bundle the EMA generator of a training run, with its provenance")
    c.add_argument("--run", required=True, help="run directory of `editgan train gan`")
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
