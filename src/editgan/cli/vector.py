"""`editgan vector list|show|apply|rename|set-scale|delete|import`: the editing vector library of a
bundle (Sec. 3.4). `import` reads the official EditGAN release's vectors (`editgan.io.release_vectors`)."""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path

import numpy as np

from editgan.bundle import Bundle, open_bundle
from editgan.cli.edit import EDIT_PROGRESS, add_source_args, open_editor, source_wplus
from editgan.cli.options import BUNDLE, EDIT_PRESET, EDIT_SEGMENTER, REFINE_STEPS, VECTORS
from editgan.edit.release_vector import release_vector
from editgan.edit.vectors import VectorLibrary, bundle_library
from editgan.errors import InputError
from editgan.io.figures import make_figure
from editgan.io.images import save_png, to_uint8
from editgan.io.release_vectors import CONVENTIONS
from editgan.labels import LabelScheme
from editgan.progress import progress_bar


def _library(args: argparse.Namespace, bundle: Bundle | None = None) -> VectorLibrary:
    return bundle_library(bundle or open_bundle(args.bundle), args.vectors)


def parse_vector_spec(spec: str) -> tuple[str, float | None]:
    """'NAME=SCALE' -> (NAME, SCALE); 'NAME' -> (NAME, None: the vector's default scale)."""
    name, sep, scale = spec.partition("=")
    if not sep:
        return name, None
    try:
        value = float(scale)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InputError(f"--vector {spec!r}: the scale must be a finite number (NAME=SCALE)")
    return name, value


def run_list(args: argparse.Namespace) -> int:
    lib = _library(args)
    names = lib.list()
    for name in names:
        v = lib.get(name)
        origin = "\tshipped (read-only)" if lib.is_shipped(name) else \
            "\tyours, shadows the shipped one" if lib.shadows_shipped(name) else ""
        print(f"{name}\tparts={','.join(v.parts)}\tdefault_scale={v.default_scale:g}{origin}")
    for problem in lib.problems:
        print(f"skipped {problem}")
    if not names:
        print(f"no editing vectors in {lib.directory}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    v = _library(args).get(args.name)
    final = v.losses[-1] if v.losses else {}
    print(f"name: {v.name}\nparts: {', '.join(v.parts)}\ndefault scale: {v.default_scale:g}\n"
          f"shape: {list(v.shape)}\nnorm: {float(v.delta.norm()):.4f}\nthumbnails: {', '.join(sorted(v.thumbnails))}\n"
          f"steps: {len(v.losses)}\nfinal losses: {final}\ncreated: {v.created}")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    lib = _library(args)
    lib.delete(args.name)
    print(f"deleted {args.name} from {lib.directory}")
    return 0


def run_rename(args: argparse.Namespace) -> int:
    lib = _library(args)
    lib.rename(args.name, args.new, overwrite=args.overwrite)
    print(f"renamed {args.name} to {args.new} in {lib.directory}")
    return 0


def run_set_scale(args: argparse.Namespace) -> int:
    if not math.isfinite(args.scale):
        raise InputError(f"the default scale must be a finite number, got {args.scale}")
    lib = _library(args)
    vector = dataclasses.replace(lib.get(args.name), default_scale=args.scale)
    lib.add(vector, overwrite=True)
    print(f"default scale of {args.name} is now {args.scale:g}")
    return 0


def run_apply(args: argparse.Namespace) -> int:
    editor = open_editor(args)
    wanted = {}
    for spec in args.vector:
        name, scale = parse_vector_spec(spec)
        v = editor.library.get(name)
        wanted[v] = v.default_scale if scale is None else scale
    editor, wplus = source_wplus(editor, args)
    if args.refine_steps:
        with progress_bar(args.refine_steps + 1, "refine", EDIT_PROGRESS) as update:
            new_wplus, image = editor.apply(wplus, wanted, refine_steps=args.refine_steps, settings=args.edit_preset,
                                            segmenter=args.edit_segmenter, progress=update)
    else:
        new_wplus, image = editor.apply(wplus, wanted)
    out = Path(args.out)
    before, after = to_uint8(editor.render(wplus)), to_uint8(image)
    suffixes = [""] if len(before) == 1 else [f"_{i:04d}" for i in range(len(before))]
    for b, a, suffix in zip(before, after, suffixes):
        save_png(out / f"before{suffix}.png", b)
        save_png(out / f"after{suffix}.png", a)
    headers = [suffix.lstrip("_") for suffix in suffixes] + [None] * len(after)  # columns named as the files
    save_png(out / "grid.png", make_figure(np.concatenate([before, after]), cols=len(before), captions=headers,
                                           row_labels=["before", "after"]))
    editor.save_latent(out / "wplus_after.safetensors", new_wplus)
    applied = ", ".join(f"{v.name}x{s:g}" for v, s in wanted.items())
    print(f"applied {applied}{f' + {args.refine_steps} refinement steps' if args.refine_steps else ''}; wrote {out}")
    return 0


def _scheme(bundle: Bundle) -> LabelScheme:
    """The bundle's label scheme (the manifest's, else its segmenter's); InputError without one."""
    scheme = bundle.labels
    if scheme is None and bundle.segmenter_dir is not None:
        scheme = bundle.segmenter()[1]
    if scheme is None:
        raise InputError(f"bundle {bundle.path} has no label scheme to name the edited parts with")
    return scheme


def run_import(args: argparse.Namespace) -> int:
    bundle = open_bundle(args.bundle)
    lib, scheme = _library(args, bundle), _scheme(bundle)
    parts = None if args.parts is None else [p.strip() for p in args.parts.split(",") if p.strip()]
    vector = release_vector(args.file, scheme, name=args.name, parts=parts, convention=args.scale_convention)
    vector.created["bundle"] = bundle.path.name
    existed = lib.owns(vector.name)
    path = lib.add(vector, overwrite=args.overwrite)
    kept = f"; the previous version is in {lib.directory / '.backup'}" if existed else ""
    print(f"imported {args.file} as {vector.name!r} (parts: {', '.join(vector.parts)}; "
          f"delta = {vector.created['delta']}, default scale {vector.default_scale:g}) "
          f"into {path}{kept}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("vector", help="list, show, apply, rename, rescale, delete or import editing vectors")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, func, helptext in (("list", run_list, "list the library's vectors"),
                                   ("show", run_show, "print one vector's metadata"),
                                   ("delete", run_delete, "remove a vector from the library"),
                                   ("rename", run_rename, "give a vector a new name"),
                                   ("set-scale", run_set_scale, "set a vector's default scale")):
        q = sub.add_parser(action, help=helptext)
        BUNDLE.add(q)
        VECTORS.add(q)
        if action != "list":
            q.add_argument("name", help="vector name")
        if action == "rename":
            q.add_argument("new", help="new name")
            q.add_argument("--overwrite", action="store_true", help="replace an existing vector of the new name")
        if action == "set-scale":
            q.add_argument("scale", type=float, help="default scale s_edit (negative reverses the edit)")
        q.set_defaults(func=func)
    q = sub.add_parser("apply", help="apply vectors to a latent: w+ + sum of scale x vector")
    add_source_args(q)
    q.add_argument("--vector", action="append", required=True, metavar="NAME[=SCALE]",
                   help="vector and scale (default: its default scale); repeat to compose")
    REFINE_STEPS.add(q, old=("--refine",))
    EDIT_PRESET.add(q, old=("--preset",))
    EDIT_SEGMENTER.add(q)
    q.add_argument("--out", required=True, help="output directory")
    q.set_defaults(func=run_apply)
    q = sub.add_parser("import", help="add an official EditGAN release vector (.npy or the tool's pickle)")
    q.add_argument("file", help="<operation>_<change>.npy [1, num_ws, w_dim], or the tool's pickle "
                                "{'edit_vector', 'roi_ids'}")
    BUNDLE.add(q)
    VECTORS.add(q)
    q.add_argument("--name", help="vector name (default: the file name without its suffix)")
    q.add_argument("--parts", help="edited part labels, comma-separated (default: the pickle's roi_ids, "
                                   "else from the file name, e.g. wheel_enlarge -> the car's wheels)")
    q.add_argument("--scale-convention", choices=sorted(CONVENTIONS), default="ui",
                   help="ui (default): the release UI applies w + v * (slider / 2), so delta = v / 2 and "
                        "scale S here equals slider S there (default scale 2 = w + v); raw: delta = v")
    q.add_argument("--overwrite", action="store_true",
                   help="replace a vector of that name, keeping the old files in <vectors>/.backup/")
    q.set_defaults(func=run_import)
