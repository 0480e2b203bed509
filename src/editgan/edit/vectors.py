"""Editing vectors δw+ (EditGAN Sec. 3.4) and the directory library that keeps them.

One vector `<name>` is two files, each written atomically (temporary file + rename):
- `<name>.safetensors`: tensor "delta" float32 [num_ws, w_dim] and, optionally, uint8 thumbnails
  "thumbnail.<key>" [H, W, 3] (e.g. the source image before/after the edit);
- `<name>.json`: format, version, name, parts (Q_edit label names), default_scale, shape,
  thumbnail keys, learning losses (one {term: value} per optimisation step), created metadata
  (its paths relative to the directory or bare names), and the SHA-256 of the tensor file; an older
  format version is migrated on loading, a newer one refused (`editgan.formats`). The JSON is
  written last and names the exact tensor file it belongs to, so an interrupted save never yields
  a silently mismatched pair: the old JSON then fails its digest check and the vector is reported
  as corrupt.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes

from editgan.bundle import Bundle
from editgan.errors import CheckpointError, InputError
from editgan.files import read_json, save_tensors, write_json
from editgan.formats import CURRENT, EDITING_VECTOR, portable_provenance, upgrade

FORMAT = EDITING_VECTOR
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Device names that Windows refuses as file names, with or without an extension.
RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def validate_name(name: str) -> str:
    """Return `name` if it is a safe vector name, else raise InputError saying why.
    Allowed: 1-64 characters from [A-Za-z0-9_.-], starting with a letter or digit, without '..',
    not ending in '.', and not a reserved device name (con, nul, com1, ...)."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InputError(f"invalid vector name {name!r}: use 1-64 letters, digits, '_', '.', '-', "
                         "starting with a letter or digit")
    if ".." in name or name.endswith("."):
        raise InputError(f"invalid vector name {name!r}: no '..' and no trailing '.'")
    if name.split(".")[0].lower() in RESERVED:
        raise InputError(f"invalid vector name {name!r}: {name.split('.')[0]!r} is a reserved device name")
    return name


def _now() -> dict:
    return {"time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


@dataclass(eq=False)  # compared and hashed by identity, so vectors can key a {vector: scale} dict
class EditingVector:
    """δw+ [num_ws, w_dim] learned for one edit.

    parts: names of the edited part labels Q_edit; default_scale: s_edit suggested when applying;
    thumbnails: uint8 [H, W, 3] arrays by key; losses: per optimisation step, {term: value};
    created: JSON metadata (time, steps, learning rate, source image, bundle...).
    """

    delta: torch.Tensor
    name: str
    parts: tuple[str, ...] = ()
    default_scale: float = 1.0
    thumbnails: dict[str, np.ndarray] = field(default_factory=dict)
    losses: list[dict[str, float]] = field(default_factory=list)
    created: dict = field(default_factory=_now)

    def __post_init__(self) -> None:
        validate_name(self.name)
        if not isinstance(self.delta, torch.Tensor) or self.delta.ndim != 2 or not self.delta.dtype.is_floating_point:
            raise InputError(f"editing vector {self.name!r}: delta must be a float tensor [num_ws, w_dim]")
        if not torch.isfinite(self.delta).all():
            raise InputError(f"editing vector {self.name!r}: delta has non-finite values")
        self.delta = self.delta.detach().to("cpu", torch.float32)
        self.parts = tuple(self.parts)
        if not all(isinstance(p, str) and p for p in self.parts):
            raise InputError(f"editing vector {self.name!r}: parts must be label names")
        if isinstance(self.default_scale, bool) or not isinstance(self.default_scale, (int, float)) \
                or not np.isfinite(self.default_scale):
            raise InputError(f"editing vector {self.name!r}: default_scale must be a finite number")
        self.default_scale = float(self.default_scale)
        for key, img in self.thumbnails.items():
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", str(key)) or not isinstance(img, np.ndarray) \
                    or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                raise InputError(f"editing vector {self.name!r}: thumbnail {key!r} must be a uint8 [H, W, 3] "
                                 "array under a short alphanumeric key")

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.delta.shape)

    def save(self, directory: str | Path) -> Path:
        """Write `<directory>/<name>.safetensors` then `<name>.json` (each atomically); returns the JSON path."""
        directory = Path(directory)
        tensors = {"delta": self.delta}
        for key, img in self.thumbnails.items():
            tensors[f"thumbnail.{key}"] = torch.from_numpy(np.ascontiguousarray(img))
        weights = directory / f"{self.name}.safetensors"
        save_tensors(weights, tensors, {"format": FORMAT, "version": CURRENT[FORMAT]})
        meta = {"format": FORMAT, "version": CURRENT[FORMAT], "name": self.name, "parts": list(self.parts),
                "default_scale": self.default_scale, "shape": list(self.shape),
                "thumbnails": sorted(self.thumbnails), "losses": self.losses, "created": self.created,
                "sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}
        path = directory / f"{self.name}.json"
        write_json(path, portable_provenance(meta, directory))
        return path

    @classmethod
    def load(cls, directory: str | Path, name: str) -> EditingVector:
        """Read vector `name` from `directory`; CheckpointError when missing, corrupt or mismatched."""
        validate_name(name)
        directory = Path(directory)
        meta_path, weights = directory / f"{name}.json", directory / f"{name}.safetensors"
        meta = read_json(meta_path)
        if meta.get("format") != FORMAT:
            raise CheckpointError(f"{meta_path} is not an editgan editing vector (format {FORMAT})")
        meta = upgrade(meta, FORMAT, meta_path)
        if meta.get("name") != name:
            raise CheckpointError(f"{meta_path} names the vector {meta.get('name')!r}, not {name!r}")
        if not weights.is_file():
            raise CheckpointError(f"{weights} is missing")
        data = weights.read_bytes()
        if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
            raise CheckpointError(f"{weights} does not match {meta_path} (interrupted or edited write); "
                                  "delete the vector and learn it again")
        try:
            tensors = load_safetensors_bytes(data)
        except (SafetensorError, ValueError, OSError) as err:
            raise CheckpointError(f"{weights} is not a valid safetensors file ({err})") from None
        keys = meta.get("thumbnails", [])
        missing = [k for k in ["delta", *(f"thumbnail.{k}" for k in keys)] if k not in tensors]
        if missing or list(tensors["delta"].shape) != meta.get("shape"):
            raise CheckpointError(f"{weights} lacks {missing} or its delta shape differs from {meta_path}")
        try:
            return cls(delta=tensors["delta"], name=name, parts=tuple(meta.get("parts", ())),
                       default_scale=meta.get("default_scale", 1.0),
                       thumbnails={k: tensors[f"thumbnail.{k}"].numpy() for k in keys},
                       losses=list(meta.get("losses", [])), created=dict(meta.get("created", {})))
        except (InputError, TypeError) as err:
            raise CheckpointError(f"{meta_path}: {err}") from None


class ReadOnlyVector(InputError):
    """A shipped vector cannot be renamed or deleted (HTTP 403 in the web tool)."""


class VectorLibrary:
    """The editing vectors in one directory (the user's: a bundle's `vectors/`, or for a packaged
    bundle `user_dir/vectors`; see `bundle_library`), plus, optionally, the read-only vectors
    `shipped` with a packaged bundle. Writes go to `directory` only: a user vector of a shipped
    vector's name shadows it (deleting the user's brings the shipped one back); renaming or deleting
    a shipped vector raises ReadOnlyVector. Every overwrite and delete first copies the user's old
    files by `backup`.

    shape: the bundle's (num_ws, w_dim); when given, vectors of another shape are refused by `add`
    and reported by `list`. `problems` holds one message per unreadable vector found by the last
    `list()`; such vectors are skipped, never raised.
    """

    def __init__(self, directory: str | Path, shape: tuple[int, int] | None = None,
                 shipped: str | Path | None = None):
        self.directory = Path(directory)
        self.shape = tuple(shape) if shape is not None else None
        self.shipped = Path(shipped) if shipped is not None else None
        if self.shipped is not None and self.shipped.resolve() == self.directory.resolve():
            self.shipped = None  # writing the shipped vectors themselves (a maintainer's --vectors)
        self.problems: list[str] = []

    def _check_shape(self, vector: EditingVector) -> None:
        if self.shape is not None and vector.shape != self.shape:
            raise InputError(f"editing vector {vector.name!r} has shape {list(vector.shape)}, "
                             f"the bundle needs {list(self.shape)} (num_ws, w_dim)")

    def _files(self, name: str, directory: Path | None = None) -> tuple[Path, Path]:
        directory = directory or self.directory
        return directory / f"{name}.json", directory / f"{name}.safetensors"

    def _scan(self, directory: Path | None, label: str) -> list[str]:
        """Loadable vector names in `directory`; the others go to `problems`, prefixed by `label`."""
        if directory is None or not directory.is_dir():
            return []
        stems = {p.name.rsplit(".", 1)[0] for p in directory.iterdir()
                 if p.is_file() and p.suffix in (".json", ".safetensors") and not p.name.startswith(".")}
        names = []
        for stem in sorted(stems):
            try:
                self._check_shape(EditingVector.load(directory, stem))
            except (InputError, CheckpointError) as err:
                self.problems.append(f"{label}{stem}: {err}")
                continue
            names.append(stem)
        return names

    def list(self) -> list[str]:
        """Sorted names of the loadable vectors (the user's and the shipped ones); other files are
        reported in `problems`."""
        self.problems = []
        return sorted({*self._scan(self.directory, ""), *self._scan(self.shipped, "shipped ")})

    def owns(self, name: str) -> bool:
        """Whether the user's directory holds a file of vector `name`."""
        return any(f.is_file() for f in self._files(validate_name(name)))

    def json_path(self, name: str) -> Path | None:
        """The JSON that `get(name)` reads (the user's, else the shipped one), or None if there is none."""
        for directory in (self.directory, self.shipped):
            if directory is not None and self._files(validate_name(name), directory)[0].is_file():
                return self._files(name, directory)[0]
        return None

    def is_shipped(self, name: str) -> bool:
        """Whether `get(name)` reads a shipped (read-only) vector."""
        path = self.json_path(name)
        return path is not None and path.parent != self.directory

    def shadows_shipped(self, name: str) -> bool:
        """Whether a user vector `name` hides a shipped vector of the same name."""
        return self.shipped is not None and self.owns(name) and self._files(name, self.shipped)[0].is_file()

    def _where(self) -> str:
        return f"{self.directory}" + (" or the shipped vectors" if self.shipped is not None else "")

    def get(self, name: str) -> EditingVector:
        """The vector `name`; InputError if there is none, CheckpointError if it is unreadable."""
        path = self.json_path(name)
        if path is None:
            raise InputError(f"no editing vector named {name!r} in {self._where()}")
        vector = EditingVector.load(path.parent, name)
        try:
            self._check_shape(vector)
        except InputError as err:
            raise CheckpointError(str(err)) from None
        return vector

    def add(self, vector: EditingVector, overwrite: bool = False) -> Path:
        """Save `vector` under its name in the user's directory; refuses to replace an existing one
        (or shadow a shipped one) unless overwrite=True, the replaced files being first copied by
        `backup`, and refuses a name that differs from an existing one only in case."""
        self._check_shape(vector)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._refuse_clash(vector.name, overwrite)
        self._keep_old(vector.name)
        return vector.save(self.directory)

    def _keep_old(self, name: str) -> None:
        if self.owns(name):
            self.backup(name)

    def _refuse_clash(self, name: str, overwrite: bool) -> None:
        wanted = (f"{name}.json".lower(), f"{name}.safetensors".lower())
        clash = [p.name for d in (self.directory, self.shipped) if d is not None and d.is_dir()
                 for p in d.iterdir() if p.name.lower() in wanted]
        if not clash:
            return
        if not overwrite or any(not c.startswith(f"{name}.") for c in clash):
            shipped = " (a shipped vector: yours would shadow it)" if self.is_shipped(name) else ""
            raise InputError(f"an editing vector named {name!r} already exists{shipped} "
                             f"({', '.join(sorted(set(clash)))}); choose another name or overwrite it")

    def _refuse_shipped(self, name: str, action: str) -> None:
        if not self.owns(name) and self.is_shipped(name):
            raise ReadOnlyVector(f"{name!r} is a shipped vector and cannot be {action}; save your own copy "
                                 "under another name instead")

    def rename(self, old: str, new: str, overwrite: bool = False) -> EditingVector:
        """Rename the user's vector `old` to `new` (its files and the name it records); returns the
        renamed vector. ReadOnlyVector for a shipped one."""
        validate_name(new)
        self._refuse_shipped(old, "renamed")
        if not self._files(validate_name(old))[0].is_file():
            raise InputError(f"no editing vector named {old!r} in {self.directory}")
        vector = self.get(old)
        if new == old:
            return vector
        renamed = EditingVector(delta=vector.delta, name=new, parts=vector.parts, default_scale=vector.default_scale,
                                thumbnails=vector.thumbnails, losses=vector.losses, created=vector.created)
        if new.lower() != old.lower():  # a case-only rename may meet its own files on a case-insensitive disk
            self._refuse_clash(new, overwrite)
            self._keep_old(new)
        renamed.save(self.directory)
        for stale, fresh in zip(self._files(old), self._files(new)):  # JSON first, as in delete
            if stale.exists() and not stale.samefile(fresh):
                stale.unlink()
        return renamed

    def backup(self, name: str) -> Path:
        """Copy the user's vector `name`'s files into `<directory>/.backup/<UTC time>/` (not listed;
        copy them back to restore); returns that folder. InputError if there is no such vector."""
        validate_name(name)
        files = [f for f in self._files(name) if f.is_file()]
        if not files:
            raise InputError(f"no editing vector named {name!r} in {self.directory}")
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        folder = self.directory / ".backup" / stamp
        folder.mkdir(parents=True)
        for f in files:
            shutil.copy2(f, folder / f.name)
        return folder

    def delete(self, name: str) -> None:
        """Remove the user's vector `name` after a `backup` (JSON first, so a half-deleted vector is an
        orphan, not a stale pair). ReadOnlyVector for a shipped one."""
        self._refuse_shipped(name, "deleted")
        meta, weights = self._files(validate_name(name))
        if not meta.is_file() and not weights.is_file():
            raise InputError(f"no editing vector named {name!r} in {self.directory}")
        self.backup(name)
        meta.unlink(missing_ok=True)
        weights.unlink(missing_ok=True)


def bundle_library(bundle: Bundle, directory: str | Path | None = None) -> VectorLibrary:
    """The vector library of `bundle`: `directory` when given, else the user's (`bundle.user_dir /
    "vectors"`: the bundle's own `vectors/`, or for a packaged bundle one in the user data folder);
    a packaged bundle's shipped vectors are added read-only."""
    own = Path(directory) if directory is not None else bundle.user_dir / "vectors"
    return VectorLibrary(own, shape=(bundle.manifest["num_ws"], bundle.manifest["w_dim"]),
                         shipped=bundle.path / "vectors" if bundle.packaged else None)
