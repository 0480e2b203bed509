"""Exporting and importing annotation sets as a folder or a zip of the store's own layout
(`editgan.annotate.store`): annotations.json (the index plus "scheme", "num_ws", "w_dim"),
latents.safetensors, masks/<id>.png, images/<id>.png, tunings/<id>.safetensors (tuned uploads only).

An import checks everything before it writes anything (every problem is an InputError naming the
file: a bad file is bad input): the index, every latent's shape, every
mask (size, labels inside the bundle's scheme; PNG or .npy as `editgan.io.masks` reads them), the
names of the labels used against the bundle's scheme when the export carries one, every index
entry's fields (`check_meta`: source text, seed an integer in [0, 2^63 - 1], psi in [0, 2], created
an ISO time; each may be null), every tuning
(made for this bundle's generator: rendering checks it), and that no id is taken. Without
annotations.json the ids are the latents' names (a `train segmenter --latents` folder:
latents.safetensors + masks/). Images are re-rendered from the latents (by G' where tuned), never trusted.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
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

MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed's range, as the web API's seeds
MAX_SOURCE_CHARS = 200
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


@dataclass
class ImportPlan:
    """A checked import, read whole into memory, nothing added yet: per id its meta (`check_meta`),
    w+ [1, num_ws, w_dim], label map uint8 [H, W] and tuning (or None); `shown` names the source."""

    shown: str
    metas: dict[str, dict]
    latents: dict[str, torch.Tensor]
    masks: dict[str, np.ndarray]
    tunings: dict[str, Tuning | None]

    def __len__(self) -> int:
        return len(self.metas)


def import_annotations(store: AnnotationSet, scheme: LabelScheme, src: str | Path,
                       render: Callable[[torch.Tensor, Tuning | None], np.ndarray],
                       shown: str | None = None) -> list[dict]:
    """Add the annotations of folder or zip `src` (see the module); render(w+ [1, num_ws, w_dim],
    tuning or None) -> uint8 [H, W, 3], drawn by G or that tuning's G' (CheckpointError for a tuning
    of another generator). `shown` names src in messages (an upload's file name). Returns their metas."""
    return add_import(store, scheme, read_import(store, scheme, src, shown), render)


def read_import(store: AnnotationSet, scheme: LabelScheme, src: str | Path, shown: str | None = None) -> ImportPlan:
    """Read and check folder or zip `src` whole (all but the tunings' fit to the generator, which
    rendering checks); InputError naming `shown` on the first problem."""
    src = Path(src)
    shown = shown or str(src)
    if src.is_dir():
        return _read_checked(store, scheme, src, shown)
    if not src.is_file():
        raise InputError(f"nothing to import at {src}: give a folder or a .zip export")
    with tempfile.TemporaryDirectory(prefix="editgan-import-") as tmp:
        _extract(src, Path(tmp), shown)
        return _read_checked(store, scheme, Path(tmp), shown)


def add_import(store: AnnotationSet, scheme: LabelScheme, plan: ImportPlan,
               render: Callable[[torch.Tensor, Tuning | None], np.ndarray],
               progress: Callable[[int], None] | None = None) -> list[dict]:
    """Render every annotation of `plan` (this checks every tuning; progress(done) after each, which
    may raise to stop), then add them all in one commit (`AnnotationSet.create_many`): an import
    stopped or refused before that adds nothing. Returns their metas."""
    images = {}
    for n, k in enumerate(plan.metas, 1):
        try:
            images[k] = render(plan.latents[k], plan.tunings[k])
        except CheckpointError as err:
            raise InputError(f"{plan.shown}: annotation {k!r}: {err}") from None
        if progress is not None:
            progress(n)
    name = Path(plan.shown).name
    return store.create_many(scheme, [
        dict(wplus=plan.latents[k], image=images[k], labels=plan.masks[k], annotation_id=k, tuning=plan.tunings[k],
             source=meta["source"] or f"import {name}", seed=meta["seed"], psi=meta["psi"], created=meta["created"])
        for k, meta in plan.metas.items()])


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


def _read_checked(store: AnnotationSet, scheme: LabelScheme, folder: Path, shown: str) -> ImportPlan:
    try:
        metas, latents, masks = _read_folder(store, scheme, folder, shown)
        tunings = {k: tuning_of(folder, k) for k in metas}
    except (InputError, CheckpointError) as err:  # a bad file in an import is bad input
        raise InputError(str(err).replace(str(folder), shown)) from None
    taken = sorted(set(metas) & {m["id"] for m in store.list()})
    if taken:
        raise InputError(f"{shown}: annotation ids already in this bundle: {', '.join(taken[:10])}; "
                         "delete or rename those first")
    masks = {k: store.check_labels(v, scheme, f"mask {k!r}") for k, v in masks.items()}
    return ImportPlan(shown, metas, {k: latents[k] for k in metas}, masks, tunings)


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
    metas = {validate_id(k): check_meta(k, v) for k, v in index["annotations"].items()}
    if not metas:
        raise InputError(f"{shown} holds no annotations")
    lacking = sorted(set(metas) - set(latents))
    if lacking:
        raise InputError(f"{shown}: no latent for annotation(s) {', '.join(lacking[:10])}")
    paths = find_masks(folder / "masks", sorted(metas))
    masks = {p.stem: read_mask(p, scheme, store.label_size) for p in paths}
    if "scheme" in index:
        try:
            theirs = LabelScheme.from_json(index["scheme"])
        except InputError as err:
            raise InputError(f"{shown}: {INDEX}: {err}") from None
        _check_names(theirs, scheme, masks, shown)
    return metas, latents, masks


def check_meta(annotation_id: str, meta) -> dict:
    """An imported index entry -> {source, seed, psi, created}, each None when absent; InputError naming
    the annotation and the field when one has the wrong type or range (so nothing malformed is stored
    and no later request trips over it). Other fields (id, updated, labels) are recomputed on import."""
    what = f"annotation {annotation_id!r}"
    if not isinstance(meta, dict):
        raise InputError(f"{what}: its index entry must be a JSON object, got {type(meta).__name__}")
    source, seed, psi, created = (meta.get(k) for k in ("source", "seed", "psi", "created"))
    if source is not None and not (isinstance(source, str) and len(source) <= MAX_SOURCE_CHARS):
        raise InputError(f"{what}: source must be a text of at most {MAX_SOURCE_CHARS} characters")
    if seed is not None and not (type(seed) is int and 0 <= seed <= MAX_SEED):
        raise InputError(f"{what}: seed must be an integer in [0, 2^63 - 1] or null, got {_shown(seed)}")
    if psi is not None and not (type(psi) in (int, float) and math.isfinite(psi) and 0.0 <= psi <= 2.0):
        raise InputError(f"{what}: psi must be a number in [0, 2] or null, got {_shown(psi)}")
    if created is not None:
        try:
            datetime.fromisoformat(created if isinstance(created, str) and len(created) <= 64 else "?")
        except ValueError:
            raise InputError(f"{what}: created must be an ISO 8601 time or null, got {_shown(created)}") from None
    return {"source": source, "seed": seed, "psi": None if psi is None else float(psi), "created": created}


def _shown(value) -> str:
    if isinstance(value, (list, dict)):
        return f"a JSON {'array' if isinstance(value, list) else 'object'}"
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_names(theirs: LabelScheme, ours: LabelScheme, masks: dict[str, np.ndarray], shown: str) -> None:
    """InputError when a label index used in the import names another part in this bundle."""
    used = sorted({int(v) for m in masks.values() for v in np.unique(m)})
    clash = [i for i in used if i >= theirs.num_classes or theirs.names[i] != ours.names[i]]
    if clash:
        listed = ", ".join(f"{i} is {theirs.names[i] if i < theirs.num_classes else '?'!r} there but "
                           f"{ours.names[i]!r} here" for i in clash[:5])
        raise InputError(f"{shown} uses labels that mean other parts in this bundle: {listed}")

