"""Exporting and importing annotation sets as a folder or a zip of the store's own layout
(`editgan.annotate.store`): annotations.json (the index plus "scheme", "num_ws", "w_dim"),
latents.safetensors, masks/<id>.png, images/<id>.png, tunings/<id>.safetensors (tuned uploads only).

An import checks everything before it writes anything: the index, every latent's shape, every
mask (size, labels inside the bundle's scheme; PNG or .npy as `editgan.io.masks` reads them), the
names of the labels used against the bundle's scheme when the export carries one, every tuning
(made for this bundle's generator: rendering checks it), and that no id is taken. Without
annotations.json the ids are the latents' names (a `train segmenter --latents` folder:
latents.safetensors + masks/). Images are re-rendered from the latents (by G' where tuned), never trusted.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from editgan.annotate.store import (FORMAT, INDEX, LATENTS, AnnotationSet, read_annotation_latents, tuning_of,
                                   validate_id)
from editgan.errors import CheckpointError, InputError
from editgan.files import atomic_path, read_json, write_json
from editgan.formats import upgrade
from editgan.io.masks import read_mask
from editgan.labels import LabelScheme
from editgan.nn.tuning import Tuning
from editgan.train.segmenter_training import find_masks

MAX_IMPORT_BYTES = 1 << 30  # uncompressed size of a zip's wanted members
MEMBER_RE = re.compile(r"^(annotations\.json|latents\.safetensors|masks/[A-Za-z0-9][A-Za-z0-9_-]{0,63}\.(png|npy)"
                       r"|tunings/[A-Za-z0-9][A-Za-z0-9_-]{0,63}\.safetensors)$")


def export_annotations(store: AnnotationSet, scheme: LabelScheme, dest: str | Path) -> Path:
    """Write every annotation to `dest` (a .zip file, else a new or empty folder); returns dest."""
    dest = Path(dest)
    items = store.list()
    if not items:
        raise InputError(f"no annotations to export in {store.root}")
    index = {**store.index(), "scheme": scheme.to_json(), "num_ws": store.latent_shape[0],
             "w_dim": store.latent_shape[1]}
    paths = [p for m in items for p in (store.mask_path(m["id"]), store.image_path(m["id"]))]
    paths += [p for m in items if (p := store.tuning_path(m["id"])).is_file()]  # tuned uploads only
    files = [(store.root / LATENTS, LATENTS)] + [(p, f"{p.parent.name}/{p.name}") for p in paths]
    if dest.suffix.lower() == ".zip":
        with atomic_path(dest) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(INDEX, json.dumps(index, indent=2, sort_keys=True) + "\n")
            for path, name in files:
                z.write(path, name)
        return dest
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InputError(f"export folder {dest} exists and is not empty; choose a new folder or a .zip")
    for path, name in files:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest / name)
    write_json(dest / INDEX, index)
    return dest


def import_annotations(store: AnnotationSet, scheme: LabelScheme, src: str | Path,
                       render: Callable[[torch.Tensor, Tuning | None], np.ndarray],
                       shown: str | None = None) -> list[dict]:
    """Add the annotations of folder or zip `src` (see the module); render(w+ [1, num_ws, w_dim],
    tuning or None) -> uint8 [H, W, 3], drawn by G or that tuning's G' (CheckpointError for a tuning
    of another generator). `shown` names src in messages (an upload's file name). Returns their metas."""
    src = Path(src)
    shown = shown or str(src)
    if src.is_dir():
        return _import_folder(store, scheme, src, render, shown, src)
    if not src.is_file():
        raise InputError(f"nothing to import at {src}: give a folder or a .zip export")
    with tempfile.TemporaryDirectory(prefix="editgan-import-") as tmp:
        _extract(src, Path(tmp), shown)
        return _import_folder(store, scheme, Path(tmp), render, shown, Path(tmp))


def _extract(zip_path: Path, out: Path, shown: str) -> None:
    """The wanted members of a zip into `out` (other members are ignored; no path leaves `out`)."""
    try:
        with zipfile.ZipFile(zip_path) as z:
            wanted = [i for i in z.infolist() if MEMBER_RE.match(i.filename)]
            if sum(i.file_size for i in wanted) > MAX_IMPORT_BYTES:
                raise InputError(f"{shown} unpacks to more than {MAX_IMPORT_BYTES} bytes")
            for info in wanted:
                target = out / info.filename
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(z.read(info))
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise InputError(f"{shown} is not a readable zip ({err})") from None


def _import_folder(store: AnnotationSet, scheme: LabelScheme, folder: Path, render, shown: str,
                   root: Path) -> list[dict]:
    def named(err: InputError | CheckpointError) -> InputError | CheckpointError:
        return type(err)(str(err).replace(str(root), shown))

    try:
        metas, latents, masks = _read_folder(store, scheme, folder, shown)
        tunings = {k: tuning_of(folder, k) for k in metas}
    except (InputError, CheckpointError) as err:
        raise named(err) from None
    taken = sorted(set(metas) & {m["id"] for m in store.list()})
    if taken:
        raise InputError(f"{shown}: annotation ids already in this bundle: {', '.join(taken[:10])}; "
                         "delete or rename those first")
    images = {}
    for k in metas:  # rendering checks every tuning before anything is added
        try:
            images[k] = render(latents[k], tunings[k])
        except CheckpointError as err:
            raise CheckpointError(f"{shown}: annotation {k!r}: {err}") from None
    return [store.create(latents[k], images[k], masks[k], scheme, annotation_id=k, tuning=tunings[k],
                         source=str(meta.get("source") or f"import {Path(shown).name}"),
                         seed=meta.get("seed"), psi=meta.get("psi"), created=meta.get("created"))
            for k, meta in metas.items()]


def _read_folder(store: AnnotationSet, scheme: LabelScheme, folder: Path, shown: str):
    """(metas by id, w+ by id, label maps by id), all checked; InputError on the first problem."""
    if not (folder / LATENTS).is_file():
        raise InputError(f"{shown} holds no {LATENTS}")
    latents = {k: store.check_wplus(v, f"latent {k!r}") for k, v in read_annotation_latents(folder / LATENTS).items()}
    index = read_json(folder / INDEX) if (folder / INDEX).is_file() else {"format": FORMAT, "annotations": {
        k: {} for k in latents}}
    if index.get("format") != FORMAT or not isinstance(index.get("annotations"), dict):
        raise InputError(f"{shown}: {INDEX} is not an editgan annotation index")
    index = upgrade(index, FORMAT, folder / INDEX)
    metas = {validate_id(k): v if isinstance(v, dict) else {} for k, v in index["annotations"].items()}
    if not metas:
        raise InputError(f"{shown} holds no annotations")
    lacking = sorted(set(metas) - set(latents))
    if lacking:
        raise InputError(f"{shown}: no latent for annotation(s) {', '.join(lacking[:10])}")
    paths = find_masks(folder / "masks", sorted(metas))
    masks = {p.stem: read_mask(p, scheme, store.label_size) for p in paths}
    if "scheme" in index:
        _check_names(LabelScheme.from_json(index["scheme"]), scheme, masks, shown)
    return metas, latents, masks


def _check_names(theirs: LabelScheme, ours: LabelScheme, masks: dict[str, np.ndarray], shown: str) -> None:
    """InputError when a label index used in the import names another part in this bundle."""
    used = sorted({int(v) for m in masks.values() for v in np.unique(m)})
    clash = [i for i in used if i >= theirs.num_classes or theirs.names[i] != ours.names[i]]
    if clash:
        listed = ", ".join(f"{i} is {theirs.names[i] if i < theirs.num_classes else '?'!r} there but "
                           f"{ours.names[i]!r} here" for i in clash[:5])
        raise InputError(f"{shown} uses labels that mean other parts in this bundle: {listed}")

