"""Format versions of the files editgan saves, the migrations that read older ones, and portable
provenance paths.

Every saved kind records its `format` (the kind's name) and `version`: JSON files as top-level keys,
safetensors files in their string metadata (a JSON + safetensors pair: the JSON's version is the
pair's). A loader passes what it read through `upgrade(record, kind, path)`: a version newer than
`CURRENT[kind]` is refused in one line (CheckpointError naming the file, its version and the newest
this release reads); an older one is brought up to date by `MIGRATIONS[(kind, version)]`, one step
at a time, each a function record -> record of the next version. A missing version counts as 1 (the
kinds that did not record one yet). A future change of a config's keys gets a migration that
renames or drops them, so the config's own check (ConfigError for unknown keys) sees only current keys.

    kind                         version  migrations
    editgan-bundle               2        1 -> 2  provenance paths made portable (`portable_paths`)
    editgan-segmenter            2        1 -> 2  (also the display segmenter)
    editgan-encoder              2        1 -> 2
    editgan-fpn-encoder          2        1 -> 2
    editgan-feature-pyramid      2        1 -> 2
    editgan-editing-vector       2        1 -> 2  (its `created`)
    editgan-latent               2        1 -> 2  (its metadata: "source")
    editgan-annotation-latents   2        1 -> 2  (its metadata: "images")
    editgan-generator            1
    editgan-annotations          1
    editgan-train-state          1
    tuning                       1        (the "tuning.version" metadata of a pivotal tuning)

Portable paths: provenance records where a file came from, but an absolute path names the machine
that wrote it ("/work/longrun/bundle128w/annotations.wplus.safetensors"). `portable_paths` rewrites
every absolute path in a record as a path relative to `base` (the folder the record is saved in)
when it lies inside it, else as its bare name. Writers pass their records through it; the 1 -> 2
migrations do the same without a base (bare names); `rewrite_portable` (tools/portable_paths.py)
upgrades files in place, e.g. a freshly installed bundle and bench/results.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path, PureWindowsPath

from editgan.errors import CheckpointError
from editgan.files import load_tensors, read_json, read_tensor_metadata, save_tensors, write_bytes

BUNDLE = "editgan-bundle"
LATENT = "editgan-latent"
ANNOTATION_LATENTS = "editgan-annotation-latents"
ANNOTATIONS = "editgan-annotations"
EDITING_VECTOR = "editgan-editing-vector"
TRAIN_STATE = "editgan-train-state"
TUNING = "tuning"
NETWORKS_WITH_PROVENANCE = ("editgan-segmenter", "editgan-encoder", "editgan-fpn-encoder", "editgan-feature-pyramid")

CURRENT: dict[str, int] = {BUNDLE: 2, **dict.fromkeys(NETWORKS_WITH_PROVENANCE, 2), EDITING_VECTOR: 2, LATENT: 2,
                           ANNOTATION_LATENTS: 2, "editgan-generator": 1, ANNOTATIONS: 1, TRAIN_STATE: 1, TUNING: 1}
# what a record keeps as it is when its paths are made portable: identity, shape and label names
NOT_PROVENANCE = frozenset({"format", "version", "config", "label_scheme"})

# An absolute path inside a string: "/...", "~/...", "C:\..." or "C:/...", "\\server\...", at the
# start or after a space, "=", a quote or a bracket (not "a/b", "1/2", "http://h/x" or " / ").
_ABSOLUTE = re.compile(r"(?<![\w.~:/\\-])(?:/|~/|[A-Za-z]:[\\/]|\\\\)[^\s\"',;()\[\]{}]+")
_FOREIGN_ROOT = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")  # a Windows drive or share


def portable_path(path: str | os.PathLike, base: str | os.PathLike | None = None) -> str:
    """`path` relative to `base` (POSIX separators; "." for base itself) when it lies inside it, else
    its bare name; a relative path is returned as it is."""
    text = os.fspath(path)
    if _FOREIGN_ROOT.match(text) and os.name != "nt":
        return PureWindowsPath(text).name or text
    local = os.path.expanduser(text)
    if not os.path.isabs(local):
        return text
    if base is not None:
        for p, b in ((os.path.abspath(local), os.path.abspath(base)),
                     (os.path.realpath(local), os.path.realpath(base))):
            if os.path.commonpath([p, b]) == b:
                return Path(os.path.relpath(p, b)).as_posix()
    return Path(local).name or "."


def portable_paths(record, base: str | os.PathLike | None = None):
    """A copy of a JSON-like record (dicts, lists, strings...) with every absolute path in its strings
    made portable by `portable_path`, commands' arguments included."""
    if isinstance(record, dict):
        return {k: portable_paths(v, base) for k, v in record.items()}
    if isinstance(record, (list, tuple)):
        return [portable_paths(v, base) for v in record]
    if isinstance(record, os.PathLike):
        return portable_path(record, base)
    if isinstance(record, str):
        return _ABSOLUTE.sub(lambda m: portable_path(m.group(0), base), record)
    return record


def absolute_paths(record) -> list[str]:
    """Every absolute path found in the strings of a JSON-like record (what `portable_paths` rewrites)."""
    if isinstance(record, dict):
        return [p for v in record.values() for p in absolute_paths(v)]
    if isinstance(record, (list, tuple)):
        return [p for v in record for p in absolute_paths(v)]
    return _ABSOLUTE.findall(record) if isinstance(record, str) else []


def portable_provenance(record: dict, base: str | os.PathLike | None = None) -> dict:
    """`record` with the paths of everything but NOT_PROVENANCE made portable."""
    return {k: v if k in NOT_PROVENANCE else portable_paths(v, base) for k, v in record.items()}


# the kinds that record provenance (a vector: its `created`; a latent: its source image)
PROVENANCE_KINDS = (BUNDLE, *NETWORKS_WITH_PROVENANCE, EDITING_VECTOR, LATENT, ANNOTATION_LATENTS)
MIGRATIONS: dict[tuple[str, int], Callable[[dict], dict]] = {(kind, 1): portable_provenance
                                                             for kind in PROVENANCE_KINDS}


def version_of(record: dict, path: str | os.PathLike, key: str = "version") -> int:
    """The format version `record[key]` (an int, or digits in safetensors metadata; missing: 1);
    CheckpointError naming `path` when it is anything else."""
    value = record.get(key, 1)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CheckpointError(f"{path}: format version {value!r} is not a positive whole number")
    return value


def check_version(record: dict, kind: str, path: str | os.PathLike, key: str = "version") -> int:
    """The record's version; CheckpointError in one line when it is newer than this release reads."""
    version, newest = version_of(record, path, key), CURRENT[kind]
    if version > newest:
        raise CheckpointError(f"{path} is {kind} format version {version}; this editgan reads versions up to "
                              f"{newest}: upgrade editgan to read it")
    return version


def upgrade(record: dict, kind: str, path: str | os.PathLike) -> dict:
    """`record` (a file's JSON or safetensors metadata, read from `path`) at the current version of
    `kind`: migrated when older, as it is when current; CheckpointError when newer."""
    version = check_version(record, kind, path)
    while version < CURRENT[kind]:
        record = {**MIGRATIONS[(kind, version)](dict(record)), "version": version + 1}
        version += 1
    return record


def check_tensor_file(path: str | os.PathLike, kind: str) -> dict[str, str]:
    """The metadata of a safetensors file, checked (`check_version`) when it says it is of `kind`;
    a file of another or no format (a foreign one) is passed over."""
    metadata = read_tensor_metadata(path)
    if metadata.get("format") == kind:
        check_version(metadata, kind, path)
    return metadata


# ---------------------------------------------------------------------------------------------- files
TENSOR_KINDS = (LATENT, ANNOTATION_LATENTS)  # safetensors files whose metadata has migrations


def rewrite_portable(paths, base: str | os.PathLike | None = None) -> list[Path]:
    """Upgrade files in place to the current formats, with portable paths: every JSON file (and
    every safetensors file of TENSOR_KINDS) under `paths` (files or folders). A JSON file of a known
    kind is upgraded (`upgrade`); any other JSON (bench results) gets `portable_paths`. Paths inside
    `base` (e.g. the folder a bundle was built in) become relative to it, others bare names. Files
    of a kind with no migration keep their bytes, and so do files already current; a newer one
    raises CheckpointError. Returns the files rewritten."""
    written = []
    for path in _files(paths):
        if path.suffix == ".json":
            record = read_json(path)
            new = _upgraded(record, path, base)
            if new != record:
                write_bytes(path, _dumps_like(path.read_text(encoding="utf-8"), new).encode("utf-8"))
                written.append(path)
        elif path.suffix == ".safetensors":
            metadata = read_tensor_metadata(path)
            if metadata.get("format") in TENSOR_KINDS:
                new = {k: str(v) for k, v in _upgraded(metadata, path, base).items()}
                if new != metadata:
                    save_tensors(path, load_tensors(path), new)
                    written.append(path)
    return written


def _upgraded(record: dict, path: Path, base) -> dict:
    kind = record.get("format")
    if kind not in CURRENT:
        return portable_paths(record, base)
    return upgrade(portable_provenance(record, base) if kind in PROVENANCE_KINDS else record, kind, path)


def _dumps_like(text: str, record: dict) -> str:
    """`record` as JSON in the layout of `text` (indented by 2; keys sorted if they were, else in
    their order; a final newline if it had one), so that a rewrite changes only what it must."""
    sort = text.rstrip("\n") == json.dumps(json.loads(text), indent=2, sort_keys=True)
    return json.dumps(record, indent=2, sort_keys=sort) + ("\n" if text.endswith("\n") else "")


def _files(paths) -> list[Path]:
    found = []
    for p in map(Path, [paths] if isinstance(paths, (str, os.PathLike)) else paths):
        found += sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")) if p.is_dir() else [p]
    return [f for f in found if f.suffix in (".json", ".safetensors")]
