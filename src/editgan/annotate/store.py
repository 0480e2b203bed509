"""A bundle's annotation set: GAN samples with painted part maps, the segmenter's training data
(DatasetGAN's step: 16-30 of them train the segmentation branch).

Layout under `<Bundle.user_dir>/annotations/`, which `editgan train segmenter --latents
latents.safetensors --masks masks` reads as it is:

    annotations.json        index {"format", "version", "label_size": [H, W], "annotations": {id: meta}}
    latents.safetensors     id -> w+ float32 [1, num_ws, w_dim] (metadata: format, version)
    masks/<id>.png          label map: uint8 label indices (PNG mode L) [H, W] on the generator's image
                            grid (its crop's size), which is the label grid of segmenters trained here
    images/<id>.png         G(w+) with constant noise: the image the map was painted on (RGB)
    tunings/<id>.safetensors  only for a map painted on a pivotally tuned upload: its tuning
                            (`editgan.io.tuning_files` entries); its image is G'(w+) and its
                            features for training come from G' (`tuning_of`)
    backup/<id>/<time>.png  every label map a save replaced (UTC time; none is ever dropped)
    trash/<time>-<id>/      deleted annotations: meta.json, <id>.safetensors (w+), masks-<id>.png,
                            images-<id>.png (and tunings-<id>.safetensors)

meta: {"id", "source" ("seed 12", "upload cat.png", "import ..."), "seed" (int or null), "psi",
"created", "updated" (UTC ISO 8601), "labels" (label indices present in the map), "version" (1 when
created, one more with every save that changed the map; absent in older sets: 1)}. A save may name
the version it started from: a stale one is refused (`AnnotationConflict`), so of two tabs editing
one map the second to save learns of the first instead of silently replacing it.

Every file is written atomically. A save writes image, tuning and mask, then the latents, then the
index (the commit point); a delete goes the other way round. An interruption therefore never leaves
an index entry without its latent, nor a latent without its mask or tuning. Reading refuses an
index or latents file of a newer format version than this release reads (`editgan.formats`).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from editgan.bundle import Bundle
from editgan.errors import CheckpointError, InputError
from editgan.files import atomic_path, load_tensors, read_json, read_tensor_metadata, save_tensors, write_json
from editgan.formats import ANNOTATION_LATENTS, ANNOTATIONS, CURRENT, check_tensor_file, upgrade
from editgan.io.tuning_files import read_tuning, tuning_entries
from editgan.labels import LabelScheme
from editgan.nn.tuning import Tuning

FORMAT = ANNOTATIONS
INDEX = "annotations.json"
LATENTS = "latents.safetensors"
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class AnnotationNotFound(InputError):
    """No annotation with that id (HTTP 404)."""


class AnnotationConflict(InputError):
    """A save based on an older version, or a second annotation of one sample (HTTP 409); `extra`
    says which annotation and version are current, for the page to offer reload or copy."""

    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.extra = extra


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def stamp(t: datetime) -> str:
    """A UTC time as a file-name-safe, sortable stamp."""
    return t.strftime("%Y%m%dT%H%M%S%fZ")


def validate_id(annotation_id: str) -> str:
    if not isinstance(annotation_id, str) or not ID_RE.match(annotation_id):
        raise InputError(f"invalid annotation id {annotation_id!r}: use 1-64 letters, digits, '_' or '-', "
                         "starting with a letter or digit")
    return annotation_id


def tuning_path(folder: str | Path, annotation_id: str) -> Path:
    return Path(folder) / "tunings" / f"{annotation_id}.safetensors"


def tuning_of(folder: str | Path, annotation_id: str) -> Tuning | None:
    """The tuning stored for an annotation in the set (or an export) at `folder`, or None when its
    map was painted on G's image; CheckpointError when the file is malformed."""
    path = tuning_path(folder, annotation_id)
    return read_tuning(path, load_tensors(path), read_tensor_metadata(path)) if path.is_file() else None


def read_annotation_latents(path: str | Path) -> dict[str, torch.Tensor]:
    """name -> w+ of an annotation latents file (an annotation set's, or `editgan train segmenter
    --images`'s); CheckpointError when it is of a newer format version than this release reads."""
    check_tensor_file(path, ANNOTATION_LATENTS)
    return load_tensors(path)


def write_png(path: Path, array: np.ndarray) -> None:
    """uint8 [H, W] (mode L) or [H, W, 3] (RGB) -> PNG, atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(array)).save(tmp, format="PNG")


@dataclass
class AnnotatedSample:
    """One stored annotation: meta (see module), w+ float32 [1, num_ws, w_dim], labels int64 [H, W],
    and its tuning (None: painted on G(w+))."""

    meta: dict
    wplus: torch.Tensor
    labels: np.ndarray
    tuning: Tuning | None = None


class AnnotationSet:
    """The annotation folder `root` for label maps of `label_size` (H, W) and w+ of `latent_shape`
    (num_ws, w_dim). One writer at a time per instance (a lock); readers see whole files."""

    def __init__(self, root: str | Path, label_size: tuple[int, int], latent_shape: tuple[int, int]):
        self.root = Path(root)
        self.label_size = tuple(int(v) for v in label_size)
        self.latent_shape = tuple(int(v) for v in latent_shape)
        self.lock = threading.RLock()

    @classmethod
    def of_bundle(cls, bundle: Bundle, generator_config) -> "AnnotationSet":
        """`bundle.user_dir/annotations` for the bundle's generator (its config)."""
        return cls(bundle.user_dir / "annotations", generator_config.image_size,
                   (generator_config.num_ws, generator_config.w_dim))

    # ------------------------------------------------------------------ reading
    def index(self) -> dict:
        """The index (an empty one when nothing was saved yet)."""
        path = self.root / INDEX
        if not path.is_file():
            return {"format": FORMAT, "version": CURRENT[FORMAT], "label_size": list(self.label_size),
                    "annotations": {}}
        index = read_json(path)
        if index.get("format") != FORMAT:
            raise InputError(f"{path} is not an editgan annotation index")
        index = upgrade(index, FORMAT, path)
        if tuple(index.get("label_size", ())) != self.label_size:
            raise InputError(f"{path} holds {index.get('label_size')} label maps; this generator labels "
                             f"{list(self.label_size)} (HxW)")
        return index

    def list(self) -> list[dict]:
        """Every annotation's meta, by id."""
        annotations = self.index()["annotations"]
        return [annotations[k] for k in sorted(annotations)]

    def meta(self, annotation_id: str) -> dict:
        found = self.index()["annotations"].get(validate_id(annotation_id))
        if found is None:
            raise AnnotationNotFound(f"no annotation {annotation_id!r} in {self.root}")
        return found

    def mask_path(self, annotation_id: str) -> Path:
        return self.root / "masks" / f"{annotation_id}.png"

    def image_path(self, annotation_id: str) -> Path:
        return self.root / "images" / f"{annotation_id}.png"

    def tuning_path(self, annotation_id: str) -> Path:
        return tuning_path(self.root, annotation_id)

    def latents(self) -> dict[str, torch.Tensor]:
        path = self.root / LATENTS
        return read_annotation_latents(path) if path.is_file() else {}

    def get(self, annotation_id: str) -> AnnotatedSample:
        meta = self.meta(annotation_id)
        latents = self.latents()
        try:
            with Image.open(self.mask_path(annotation_id)) as im:
                labels = np.asarray(im).astype(np.int64)
        except OSError as err:
            raise CheckpointError(f"annotation {annotation_id!r}: cannot read its label map ({err})") from None
        if annotation_id not in latents:
            raise CheckpointError(f"annotation {annotation_id!r} has no latent in {self.root / LATENTS}")
        return AnnotatedSample(meta, latents[annotation_id], labels, tuning_of(self.root, annotation_id))

    def labels_in_use(self) -> set[int]:
        """Label indices that occur in any stored label map."""
        return {int(i) for meta in self.list() for i in meta["labels"]}

    def training_data(self) -> tuple[list[str], torch.Tensor, torch.Tensor, list[Tuning | None]]:
        """(ids, w+ float32 [I, num_ws, w_dim], label maps int64 [I, H, W], tunings: per annotation
        its Tuning or None) of every annotation."""
        with self.lock:  # a consistent snapshot while the web tool keeps saving
            ids = [m["id"] for m in self.list()]
            if not ids:
                raise InputError(f"no annotations in {self.root} yet")
            samples = [self.get(i) for i in ids]
        return (ids, torch.cat([s.wplus for s in samples]), torch.stack([torch.from_numpy(s.labels) for s in samples]),
                [s.tuning for s in samples])

    # ------------------------------------------------------------------ writing
    def check_labels(self, labels, scheme: LabelScheme, what: str = "label map") -> np.ndarray:
        """int [H, W] on the label grid with values in `scheme` -> uint8 [H, W]; InputError otherwise."""
        arr = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
        if arr.ndim != 2 or tuple(arr.shape) != self.label_size:
            raise InputError(f"{what} is {list(arr.shape)}; this bundle's label maps are {list(self.label_size)} (HxW)")
        if not np.issubdtype(arr.dtype, np.integer):
            raise InputError(f"{what} must hold integer label indices, got {arr.dtype}")
        scheme.validate(arr, what=what)
        return arr.astype(np.uint8)

    def check_wplus(self, wplus: torch.Tensor, what: str = "w+") -> torch.Tensor:
        """w+ [num_ws, w_dim] or [1, num_ws, w_dim] -> float32 CPU [1, num_ws, w_dim]; InputError otherwise."""
        w = wplus.detach().to("cpu", torch.float32)
        w = w[None] if w.ndim == 2 else w
        if tuple(w.shape) != (1, *self.latent_shape):
            raise InputError(f"{what} is {list(wplus.shape)}; the generator takes w+ [1, {self.latent_shape[0]}, "
                             f"{self.latent_shape[1]}]")
        if not torch.isfinite(w).all():
            raise InputError(f"{what} has non-finite values")
        return w.contiguous()

    def new_id(self, prefix: str = "a") -> str:
        return self._next_id(set(self.index()["annotations"]), prefix)

    @staticmethod
    def _next_id(taken: set[str], prefix: str = "a") -> str:
        n = len(taken) + 1
        while f"{prefix}{n:04d}" in taken:
            n += 1
        return f"{prefix}{n:04d}"

    def create(self, wplus: torch.Tensor, image: np.ndarray, labels, scheme: LabelScheme, *, source: str,
               seed: int | None = None, psi: float | None = None, annotation_id: str | None = None,
               created: str | None = None, tuning: Tuning | None = None, unique_seed: bool = False) -> dict:
        """Add an annotation: w+ [1, num_ws, w_dim], its image uint8 [H, W, 3] (drawn by G, or by G' of
        `tuning`), its label map [H', W']; InputError if the id is taken or anything is malformed;
        with `unique_seed`, AnnotationConflict naming the annotation of that seed and psi when there
        is one (checked under the lock: two tabs creating one sample make one annotation). Its meta."""
        return self.create_many(scheme, [dict(wplus=wplus, image=image, labels=labels, source=source, seed=seed,
                                              psi=psi, annotation_id=annotation_id, created=created,
                                              tuning=tuning, unique_seed=unique_seed)])[0]

    def create_many(self, scheme: LabelScheme, entries: list[dict]) -> list[dict]:
        """Add several annotations (each a dict of `create`'s arguments) in one commit: every file,
        then the latents once, then the index once, so adding N costs one rewrite of each, not N;
        all are checked first (nothing is added when one is malformed or its id taken). Their metas."""
        checked = [(e, self.check_wplus(e["wplus"]), self.check_labels(e["labels"], scheme)) for e in entries]
        with self.lock:
            index = self.index()
            ids, metas = set(index["annotations"]), []
            for e, _, _ in checked:
                if e.get("unique_seed") and e.get("seed") is not None:
                    self._refuse_second(index, e["seed"], e.get("psi"))
                annotation_id = validate_id(e["annotation_id"]) if e.get("annotation_id") else self._next_id(ids)
                if annotation_id in ids and e.get("annotation_id"):
                    raise InputError(f"annotation {annotation_id!r} exists already; save its label map instead")
                ids.add(annotation_id)
                now = utc_now().isoformat()
                metas.append({"id": annotation_id, "source": str(e["source"]), "seed": e.get("seed"),
                              "psi": e.get("psi"), "created": e.get("created") or now, "updated": now,
                              "version": 1})
            for meta, (e, _, mask) in zip(metas, checked):
                write_png(self.image_path(meta["id"]), np.asarray(e["image"], dtype=np.uint8))
                if e.get("tuning") is None:
                    self.tuning_path(meta["id"]).unlink(missing_ok=True)  # one an interrupted create left
                else:
                    save_tensors(self.tuning_path(meta["id"]), *tuning_entries(e["tuning"]))
                write_png(self.mask_path(meta["id"]), mask)
                meta["labels"] = sorted(int(v) for v in np.unique(mask))
            self._write_latents({**self.latents(), **{m["id"]: w for m, (_, w, _) in zip(metas, checked)}})
            index["annotations"].update({m["id"]: m for m in metas})
            write_json(self.root / INDEX, index)
        return metas

    @staticmethod
    def _refuse_second(index: dict, seed: int, psi: float | None) -> None:
        for meta in index["annotations"].values():
            if meta.get("seed") == seed and (meta.get("psi") or 1.0) == (psi or 1.0):
                raise AnnotationConflict(f"seed {seed} is annotated already as {meta['id']!r}: open that one, or "
                                         "save yours as a copy", id=meta["id"], version=meta.get("version", 1))

    def save_labels(self, annotation_id: str, labels, scheme: LabelScheme, version: int | None = None) -> dict:
        """Replace an annotation's label map (autosave); the previous map goes to backup/<id>/ first.
        An unchanged map writes nothing. `version`: the one the change started from; when another
        save came in between, AnnotationConflict and nothing is written. Returns the meta."""
        mask = self.check_labels(labels, scheme)
        with self.lock:
            index = self.index()
            meta = dict(self.meta(annotation_id))
            current = meta.get("version", 1)
            if version is not None and version != current:
                raise AnnotationConflict(f"annotation {annotation_id!r} was saved elsewhere (another tab?) since you "
                                         f"opened it (version {current}, yours {version}): reload it, or save yours "
                                         "as a copy", id=annotation_id, version=current)
            old = self.get(annotation_id).labels
            if np.array_equal(old, mask):
                return {**meta, "version": current}
            write_png(self.backup_path(annotation_id), old.astype(np.uint8))
            meta["updated"] = utc_now().isoformat()
            meta["version"] = current + 1
            self._commit(index, meta, mask, None)
        return meta

    def backup_path(self, annotation_id: str) -> Path:
        return self.root / "backup" / annotation_id / f"{stamp(utc_now())}.png"

    def backups(self, annotation_id: str) -> list[Path]:
        """Earlier label maps of an annotation, oldest first."""
        return sorted((self.root / "backup" / validate_id(annotation_id)).glob("*.png"))

    def backup(self, annotation_id: str, name: str) -> np.ndarray:
        """The backed-up label map `name` (a `backups` file's stem) of an annotation: int64 [H, W]."""
        found = {p.stem: p for p in self.backups(annotation_id)}.get(name)
        if found is None:
            raise AnnotationNotFound(f"annotation {annotation_id!r} has no backup {name!r}")
        try:
            with Image.open(found) as im:
                return np.asarray(im).astype(np.int64)
        except OSError as err:
            raise CheckpointError(f"annotation {annotation_id!r}: cannot read backup {name!r} ({err})") from None

    def _commit(self, index: dict, meta: dict, mask: np.ndarray, wplus: torch.Tensor | None) -> None:
        """Mask, then (when given) the latent, then the index entry."""
        write_png(self.mask_path(meta["id"]), mask)
        if wplus is not None:
            self._write_latents({**self.latents(), meta["id"]: wplus})
        meta["labels"] = sorted(int(v) for v in np.unique(mask))
        index["annotations"][meta["id"]] = meta
        write_json(self.root / INDEX, index)

    def _write_latents(self, latents: dict[str, torch.Tensor]) -> None:
        save_tensors(self.root / LATENTS, latents,
                     {"format": ANNOTATION_LATENTS, "version": CURRENT[ANNOTATION_LATENTS]})

    def delete(self, annotation_id: str) -> Path:
        """Move an annotation to trash/<time>-<id>/ (index entry first, then latent, then files);
        returns that folder."""
        with self.lock:
            index = self.index()
            sample = self.get(annotation_id)
            trash = self.root / "trash" / f"{stamp(utc_now())}-{annotation_id}"
            trash.mkdir(parents=True)
            write_json(trash / "meta.json", sample.meta)
            save_tensors(trash / f"{annotation_id}.safetensors", {annotation_id: sample.wplus})
            del index["annotations"][annotation_id]
            write_json(self.root / INDEX, index)
            self._write_latents({k: v for k, v in self.latents().items() if k != annotation_id})
            for path in (self.mask_path(annotation_id), self.image_path(annotation_id),
                         self.tuning_path(annotation_id)):
                if path.is_file():
                    path.rename(trash / f"{path.parent.name}-{path.name}")
        return trash
