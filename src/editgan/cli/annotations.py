"""`editgan annotations`: a bundle's annotation set (`editgan.annotate.store`) from the shell.

    editgan annotations list     [--bundle B]
    editgan annotations export   [--bundle B] --out set.zip|DIR
    editgan annotations import   [--bundle B] SRC            (a zip or folder of an export)
    editgan annotations delete   [--bundle B] ID [ID ...]    (moved to the set's trash/)
    editgan annotations suggest  [--bundle B] --count N [--candidates M] [--start-seed S] [--psi P]
    editgan annotations scheme   [--bundle B] [--set scheme.json]
    editgan annotations train    [--bundle B] [--holdout 0.2] [--max-steps N] ...

--bundle defaults to the packaged bundle (its annotation set lives in the user data folder); import,
suggest and train take --device and --threads.
"""

from __future__ import annotations

import argparse
import json

from editgan.annotate.scheme import check_scheme_change, parse_scheme, save_scheme
from editgan.annotate.store import AnnotationSet
from editgan.annotate.suggest import suggest_seeds
from editgan.annotate.training import train_and_install
from editgan.annotate.transfer import export_annotations, import_annotations
from editgan.cli.options import BUNDLE, add_compute_args
from editgan.editor import Editor, load
from editgan.errors import InputError
from editgan.files import read_json
from editgan.io.images import to_uint8
from editgan.labels import LabelScheme
from editgan.progress import Progress
from editgan.train.segmenter_training import TrainSettings


def opened(args: argparse.Namespace) -> tuple[Editor, AnnotationSet]:
    editor = load(args.bundle, device=getattr(args, "device", "cpu"))  # the commands that compute take --device
    return editor, AnnotationSet.of_bundle(editor.bundle, editor.generator.config)


def scheme_of(editor: Editor) -> LabelScheme:
    if editor.bundle.labels is None:
        raise InputError(f"bundle {editor.bundle.path} has no label scheme: "
                         f"`editgan annotations scheme --bundle {editor.bundle.path} --set scheme.json`")
    return editor.bundle.labels


def run_list(args: argparse.Namespace) -> int:
    editor, store = opened(args)
    items = store.list()
    scheme = editor.bundle.labels
    for m in items:
        used = ", ".join(scheme.names[i] if scheme and i < scheme.num_classes else str(i) for i in m["labels"])
        print(f"{m['id']}\t{m['source']}\tupdated {m['updated']}\tlabels: {used}")
    print(f"{len(items)} annotations in {store.root}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    editor, store = opened(args)
    dest = export_annotations(store, scheme_of(editor), args.out)
    print(f"exported {len(store.list())} annotations to {dest}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    editor, store = opened(args)
    added = import_annotations(store, scheme_of(editor), args.source,
                               lambda w, tuning: to_uint8(editor.tuned(tuning).render(w.to(editor.device)))[0])
    print(f"imported {len(added)} annotations into {store.root}: {', '.join(m['id'] for m in added)}")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    _, store = opened(args)
    for annotation_id in args.ids:
        store.meta(annotation_id)  # all exist, or nothing is deleted
    for annotation_id in args.ids:
        print(f"deleted {annotation_id} (kept in {store.delete(annotation_id)})")
    return 0


def run_suggest(args: argparse.Namespace) -> int:
    editor, store = opened(args)
    seg = editor.segmenter if editor.bundle.segmenter_dir is not None else None
    found = suggest_seeds(editor.generator, seg, store, args.count, args.candidates, args.start_seed, args.psi)
    print(json.dumps(found, indent=2))
    return 0


def run_scheme(args: argparse.Namespace) -> int:
    editor, store = opened(args)
    if args.set:
        new = parse_scheme(read_json(args.set))
        check_scheme_change(editor.bundle.labels, new, store.labels_in_use())
        save_scheme(editor.bundle, new)
        editor.reload()
    print(json.dumps({"scheme": editor.bundle.labels.to_json() if editor.bundle.labels else None,
                      "labels_in_use": sorted(store.labels_in_use())}, indent=2))
    return 0


def run_train(args: argparse.Namespace) -> int:
    editor, store = opened(args)
    settings = TrainSettings(batch_pixels=args.batch_pixels, max_steps=args.max_steps, seed=args.seed,
                             class_balance=args.class_balance)
    with Progress(None, "train segmenter") as bar:
        def progress(phase: str, step: int, loss: float) -> None:
            bar.set_description(f"train segmenter ({phase})")
            bar.update(1)

        result = train_and_install(editor.bundle, editor.generator, store, scheme_of(editor), settings,
                                   members=args.members, holdout=args.holdout, progress=progress)
    iou = "no held-out estimate" if result["mean_iou"] is None else \
        f"held-out mean IoU {result['mean_iou']:.4f} on {len(result['held_out'])} annotations"
    print(json.dumps(result["iou"], indent=2) if result["iou"] else "")
    print(f"{iou}; installed {result['segmenter']}" + (f" (previous in {result['backup']})" if result["backup"] else ""))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("annotations", help="a bundle's annotated samples: list, export, import, delete, "
                                                  "suggest, scheme, train")
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)

    def command(name: str, func, help: str, computes: bool = False) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help)
        BUNDLE.add(c)
        if computes:
            add_compute_args(c)
        c.set_defaults(func=func)
        return c

    command("list", run_list, "list the annotations")
    command("export", run_export, "write every annotation to a zip or a new folder").add_argument(
        "--out", required=True, help="a .zip file or a new folder")
    command("import", run_import, "add the annotations of an export (all checked first)", computes=True).add_argument(
        "source", help="a zip or folder written by export")
    command("delete", run_delete, "move annotations to the set's trash").add_argument("ids", nargs="+")
    s = command("suggest", run_suggest, "seeds to annotate next (ensemble disagreement, or farthest in W)",
                computes=True)
    s.add_argument("--count", type=int, default=5)
    s.add_argument("--candidates", type=int, default=50, help="seeds scored: start-seed, start-seed + 1, ...")
    s.add_argument("--start-seed", type=int, default=0)
    s.add_argument("--psi", type=float, default=1.0)
    command("scheme", run_scheme, "show, create or edit the label scheme").add_argument(
        "--set", help="JSON {name, names, colors}: labels in use can be renamed and recoloured, and labels appended")
    t = command("train", run_train, "train the segmenter on the annotations (held-out IoU first) and install it",
                computes=True)
    t.add_argument("--holdout", type=float, default=0.2, help="fraction held out for the IoU estimate (0: none)")
    t.add_argument("--members", type=int, default=10)
    t.add_argument("--max-steps", type=int, default=20000)
    t.add_argument("--batch-pixels", type=int, default=64)
    t.add_argument("--class-balance", type=float, default=0.0)
    t.add_argument("--seed", type=int, default=0)
