"""Face sets for the editing benchmark: held-out toonfaces with controlled expressions, rendered at
the generator's resolution, and a disk cache for the expensive parts (embedding, refinement).

Sets are disjoint ranges of the toonfaces test split (`SET_OFFSETS`), so the test faces, the
calibration faces and the reference faces never share an identity; the one annotated face comes
from the train split, away from the seeds the default segmenter was annotated on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from editgan.files import load_tensors, save_tensors
from editgan.toonfaces import ToonParams, edit_params, render, sample_params
from editgan.toonfaces.dataset import image_to_tensor, split_seed

SET_OFFSETS = {"test": 0, "calibration": 100_000, "reference": 200_000}
ANNOTATION_INDEX = 950_000  # train split


def neutral(params: ToonParams) -> ToonParams:
    """The same face with a neutral, closed mouth (smile 0, mouth_open 0): the benchmark's input."""
    return edit_params(params, smile=0.0, mouth_open=0.0)


def face_params(which: str, n: int) -> list[ToonParams]:
    """The first n neutral faces of a benchmark set ("test", "calibration", "reference")."""
    return [neutral(sample_params(split_seed("test", SET_OFFSETS[which] + i))) for i in range(n)]


def annotation_params() -> ToonParams:
    """The one face the user annotates (neutral, eyes open) to learn EditGAN's vectors."""
    return edit_params(neutral(sample_params(split_seed("train", ANNOTATION_INDEX))), eye_open=0.8)


@dataclass
class Rendered:
    """images float [N, 3, S, S] in [-1, 1]; labels int64 [N, S, S] (the renderer's part map)."""

    images: torch.Tensor
    labels: np.ndarray


def render_faces(params: Sequence[ToonParams], size: int) -> Rendered:
    """Render faces at `size` (the generator's resolution)."""
    pairs = [render(p, size) for p in params]
    images = torch.stack([image_to_tensor(img) for img, _ in pairs])
    return Rendered(images, np.stack([lab for _, lab in pairs]).astype(np.int64))


def render_labels(params: Sequence[ToonParams], size: int) -> np.ndarray:
    """Only the part maps int64 [N, size, size] (e.g. on the segmenter's grid)."""
    return np.stack([render(p, size)[1] for p in params]).astype(np.int64)


def fingerprint(*parts) -> str:
    """A short hex digest of tensors, arrays, files (Path) and JSON-able values, for cache keys."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, torch.Tensor):
            h.update(p.detach().cpu().contiguous().numpy().tobytes())
        elif isinstance(p, np.ndarray):
            h.update(np.ascontiguousarray(p).tobytes())
        elif isinstance(p, Path):
            h.update(p.read_bytes())
        else:
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


class TensorCache:
    """Named tensor dicts under a directory, keyed by a fingerprint of everything they depend on:
    `get(name, key, compute)` returns the stored dict when `<name>-<key>.safetensors` exists, else
    runs compute() -> {str: tensor}, stores it atomically and returns it."""

    def __init__(self, directory: str | Path | None):
        self.directory = Path(directory) if directory is not None else None

    def get(self, name: str, key: str, compute: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        if self.directory is None:
            return compute()
        path = self.directory / f"{name}-{key}.safetensors"
        if path.is_file():
            return load_tensors(path)
        out = compute()
        save_tensors(path, out)
        return out
