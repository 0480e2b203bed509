"""Applying editing vectors to many inputs: inputs x vector sets, resumable, shardable (Sec. 3.4 at scale).

An input is a latent file (`*.safetensors` holding one w+, e.g. from `editgan embed`, or `*.npy`
as in the official EditGAN release) or an image, which is embedded first. A vector set is
{vector name: scale} (composed by summation, then optional self-supervised refinement). For input
`<stem>` and a set labelled `<label>` (e.g. `smile=1+gaze_left=0.5`, `+refine30` when refined) the
outputs are, under `<out>/<stem>/`:

- `<label>.png` (the edited image), `<label>.wplus.safetensors` (its w+ [1, num_ws, w_dim]);
- `<label>.json`, the item's record, written last: the input, the vectors with their scales and
  content digests, the refinement steps and the SHA-256 of both outputs. An item counts as done
  only when its record matches the requested work and both files match their digests, so a rerun
  skips finished items and redoes interrupted, changed or damaged ones;
- for an image input, `<stem>.wplus.safetensors` / `<stem>.recon.png` (its embedding with the
  EmbedSettings given, and the image's pivotal tuning when they tune; reused on reruns with the same
  settings). A tuned input, embedded here or a latent file from `editgan embed`, is edited on its G'.

Under torchrun every rank takes every world_size-th input (all sets of one input stay on one rank, so
an image is embedded once); each item is computed exactly as in a single process, so the files are
identical. Rank 0 writes `<out>/manifest.json` with every item's status. An input that cannot be read
is reported and skipped, never fatal.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from editgan.edit.vectors import EditingVector
from editgan.errors import CheckpointError, InputError
from editgan.files import read_tensor_metadata, write_json
from editgan.inversion.files import embed_file, latent_path
from editgan.inversion.settings import EmbedSettings
from editgan.io.images import save_png, to_uint8
from editgan.io.latents import is_npy
from editgan.runtime.distributed import DistInfo, run_on_every_rank

RECORD_FORMAT = "editgan-batch-item"
MANIFEST = "manifest.json"
LATENT_SUFFIXES = (".wplus.safetensors", ".safetensors")
SINGLE_PROCESS = DistInfo()  # the default: one process, no torchrun


@dataclass
class BatchReport:
    """Status per item id `<stem>/<label>`: 'done' (computed now), 'skipped' (already done) or
    'failed'; errors holds the message of each failed item."""

    status: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def merge(self, other: BatchReport) -> None:
        self.status.update(other.status)
        self.errors.update(other.errors)

    def count(self, status: str) -> int:
        return sum(s == status for s in self.status.values())


def input_stem(path: Path) -> str:
    """The output folder name of an input: the file name without `.wplus.safetensors`,
    `.safetensors` or its image suffix."""
    name = path.name
    for suffix in LATENT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)]
    return path.stem


def is_latent_file(path: Path) -> bool:
    return path.name.endswith(".safetensors") or is_npy(path)


def set_label(pairs: Sequence[tuple[EditingVector, float]], refine_steps: int) -> str:
    """`name=scale` joined by '+', with `+refine<N>` when refined (a file-name-safe label)."""
    label = "+".join(f"{v.name}={s:g}" for v, s in pairs)
    return f"{label}+refine{refine_steps}" if refine_steps else label


def vector_digest(vector: EditingVector) -> str:
    """SHA-256 of the vector's δw+ (float32 bytes): a re-learned vector invalidates old items."""
    return hashlib.sha256(vector.delta.numpy().tobytes()).hexdigest()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Paths with distinct stems (they name the output folders); InputError otherwise."""
    paths = [Path(p) for p in inputs]
    if not paths:
        raise InputError("no inputs given")
    seen: dict[str, Path] = {}
    for p in paths:
        stem = input_stem(p)
        if stem in seen:
            raise InputError(f"inputs {seen[stem]} and {p} would share the output folder {stem!r}; rename one")
        seen[stem] = p
    return paths


class BatchRunner:
    """Runs inputs x vector sets for one Editor. sets: one {vector or library name: scale} per
    set (scale None: the vector's default scale); refine_steps: refinement after applying (0: none);
    embed: how image inputs are embedded (default: the editor's bundle's settings)."""

    def __init__(self, editor, sets: Sequence[Mapping[str | EditingVector, float | None]], out: str | Path, *,
                 refine_steps: int = 0, embed: EmbedSettings | None = None,
                 log: Callable[[str], None] = print):
        if isinstance(refine_steps, bool) or not isinstance(refine_steps, int) or refine_steps < 0:
            raise InputError(f"refine steps must be a non-negative integer, got {refine_steps!r}")
        if not sets:
            raise InputError("no vector sets given")
        self.editor, self.out, self.refine_steps, self.log = editor, Path(out), refine_steps, log
        self.embed = embed if embed is not None else editor.embed_settings()
        self.sets = []
        for s in sets:
            pairs = editor.resolve(s) if s else []
            if not pairs:
                raise InputError("a vector set must name at least one vector")
            self.sets.append([(v, v.default_scale if scale is None else float(scale)) for v, scale in pairs])
        labels = [set_label(p, refine_steps) for p in self.sets]
        if len(set(labels)) != len(labels):
            raise InputError(f"vector sets repeat: {labels}")
        self.labels = labels

    # ------------------------------------------------------------------ one input
    def input_wplus(self, path: Path) -> tuple[object, torch.Tensor]:
        """(the Editor that draws it, w+ [1, num_ws, w_dim]) of an input: a latent file (with its
        tuning, if any), or an image embedded once per EmbedSettings."""
        latent = path
        if not is_latent_file(path):
            latent = latent_path(self.out / input_stem(path), path)
            if not self._embedded_with_settings(latent):
                embed_file(self.editor, path, latent.parent, self.embed)
        try:
            editor, wplus = self.editor.open_latent(latent)
        except CheckpointError as err:
            raise InputError(str(err)) from None
        if wplus.shape[0] != 1:
            raise InputError(f"{path} holds {wplus.shape[0]} latents; batch apply takes one per file")
        return editor, wplus

    def _embedded_with_settings(self, latent: Path) -> bool:
        """Whether `latent` exists and records this runner's embedding settings."""
        try:
            recorded = read_tensor_metadata(latent).get("embedding")
        except CheckpointError:
            return False
        return recorded is not None and json.loads(recorded) == self.embed.to_json()

    def _request(self, path: Path, pairs: list[tuple[EditingVector, float]]) -> dict:
        embedding = None if is_latent_file(path) else self.embed.to_json()
        return {"format": RECORD_FORMAT, "input": str(path), "refine_steps": self.refine_steps, "embedding": embedding,
                "vectors": [[v.name, s, vector_digest(v)] for v, s in pairs]}

    def is_done(self, folder: Path, label: str, request: dict) -> bool:
        """The item's record matches `request` and both outputs match their recorded digests."""
        record_path = folder / f"{label}.json"
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return False
        if not isinstance(record, dict) or {k: record.get(k) for k in request} != request:
            return False
        digests = record.get("sha256")
        if not isinstance(digests, dict) or set(digests) != {f"{label}.png", f"{label}.wplus.safetensors"}:
            return False
        return all((folder / name).is_file() and file_digest(folder / name) == d for name, d in digests.items())

    def run_input(self, path: Path) -> BatchReport:
        """All vector sets on one input; an unreadable input fails all its items."""
        stem, folder = input_stem(path), self.out / input_stem(path)
        report = BatchReport()
        requests = [self._request(path, pairs) for pairs in self.sets]
        todo = [i for i, label in enumerate(self.labels) if not self.is_done(folder, label, requests[i])]
        for i in set(range(len(self.labels))) - set(todo):
            report.status[f"{stem}/{self.labels[i]}"] = "skipped"
        if not todo:
            return report
        try:
            editor, wplus = self.input_wplus(path)
        except InputError as err:
            for i in todo:
                report.status[f"{stem}/{self.labels[i]}"] = "failed"
                report.errors[f"{stem}/{self.labels[i]}"] = str(err)
            self.log(f"skipped {path}: {err}")
            return report
        for i in todo:
            label = self.labels[i]
            new_wplus, image = editor.apply(wplus, dict(self.sets[i]), refine_steps=self.refine_steps)
            save_png(folder / f"{label}.png", to_uint8(image)[0])
            editor.save_latent(folder / f"{label}.wplus.safetensors", new_wplus)
            digests = {name: file_digest(folder / name) for name in (f"{label}.png", f"{label}.wplus.safetensors")}
            write_json(folder / f"{label}.json", {**requests[i], "sha256": digests})
            report.status[f"{stem}/{label}"] = "done"
            self.log(f"{stem}/{label} done")
        return report

    # ------------------------------------------------------------------ all inputs
    def run_share(self, inputs: Sequence[str | Path], info: DistInfo = SINGLE_PROCESS) -> BatchReport:
        """This rank's share of the inputs (every world_size-th, from its rank); no collective."""
        report = BatchReport()
        for path in check_inputs(inputs)[info.rank::info.world_size]:
            report.merge(self.run_input(path))
        return report

    def finish(self, inputs: Sequence[str | Path], reports: Sequence[BatchReport], info: DistInfo = SINGLE_PROCESS
               ) -> BatchReport:
        """The merged report of every rank's share; rank 0 writes the manifest."""
        report = BatchReport()
        for part in reports:
            report.merge(part)
        if info.is_main:
            write_json(self.out / MANIFEST, {
                "format": "editgan-batch", "inputs": [str(p) for p in check_inputs(inputs)], "sets": self.labels,
                "refine_steps": self.refine_steps, "items": dict(sorted(report.status.items())),
                "errors": dict(sorted(report.errors.items()))})
        return report

    def run(self, inputs: Sequence[str | Path], info: DistInfo = SINGLE_PROCESS) -> BatchReport:
        """This rank's share of the inputs, then (all ranks) the merged report; rank 0 writes the manifest.
        Under torchrun the shares are exchanged with `run_on_every_rank`, which every rank reaches even
        when its share raised (then RankFailed on the others, the error itself here)."""
        return self.finish(inputs, run_on_every_rank(lambda: self.run_share(inputs, info), info), info)
