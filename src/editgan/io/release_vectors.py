"""Editing vectors of the official EditGAN release (nv-tlabs/editGAN_release), read without running it.

Two layouts, both a float v of the w+ shape (car: num_ws 16, w_dim 512):
- `static/editing_vectors/<operation>_<change>.npy` (e.g. wheel_enlarge, frontlight_enlarge,
  license_plate_disappear): v [1, num_ws, w_dim] (or [num_ws, w_dim]), read with
  allow_pickle=False. The release takes the edited car parts from the name's first word through
  its table `car_semantic_ids` (CAR_RELEASE_PARTS below: car-32 label ids).
- the tool's export, a pickle {"edit_vector": float ndarray [num_ws, w_dim] (w+ after minus before
  the edit), "roi_ids": [label ids of the edited parts]}, read with our restricted unpickler.

Scale: the release applies w+ + v * (scale / 2) for a UI slider value `scale` (integers -4..4 for
the packaged vectors). Our vectors apply as w+ + s * delta, so with the "ui" convention
delta = v / 2 and our s is the release's slider value; with "raw", delta = v.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from editgan.errors import CheckpointError, InputError
from editgan.io.budget import one_line_errors
from editgan.io.safe_pickle import NdarrayRecord, safe_load
from editgan.labels import DATASETGAN_CAR, LabelScheme

# the release's slider value s applies v * s / CONVENTIONS[...]: delta = v * factor
CONVENTIONS = {"ui": 0.5, "raw": 1.0}
RELEASE_APPLY = {"ui": "w + v * (scale / 2)", "raw": "w + v * scale"}

# car_semantic_ids of editGAN_release utils/mask_manipulate_utils.py: operation word -> label ids
CAR_RELEASE_PARTS = {
    "frontlight": (4, 5), "wheel": (21, 22, 24, 25, 26, 27), "frontwheel": (22, 25, 27), "handle": (10, 11),
    "mirror": (16,), "licenseplate": (13, 14), "spoke": (26, 27), "window": (16, 17, 30, 28),
    "backwindow": (28,), "carback": (28, 29, 17)}


@dataclass
class ReleaseVector:
    """v float32 [num_ws, w_dim] as stored; roi_ids: the pickle's label ids (None for .npy)."""

    v: np.ndarray
    roi_ids: list[int] | None
    source_format: str  # "editgan-release-npy" or "editgan-release-pickle"


@one_line_errors
def read_release_vector(path: str | Path) -> ReleaseVector:
    """A release .npy vector or the tool's pickle export; CheckpointError for unreadable or unsafe
    files, InputError for other contents than the layouts above."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"vector file not found: {path}")
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise CheckpointError(f"{path} is not a readable .npy array ({err})") from None
        return ReleaseVector(_float_wplus(arr, path), None, "editgan-release-npy")
    data = safe_load(path)
    if not isinstance(data, dict) or set(data) != {"edit_vector", "roi_ids"}:
        got = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise InputError(f"{path}: expected the EditGAN tool's pickle {{'edit_vector', 'roi_ids'}}, got {got}")
    vector, ids = data["edit_vector"], data["roi_ids"]
    if not isinstance(vector, NdarrayRecord) or vector.array is None:
        raise InputError(f"{path}: 'edit_vector' must be a numpy array, got {type(vector).__name__}")
    if not isinstance(ids, (list, tuple)) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise InputError(f"{path}: 'roi_ids' must be a list of integer label ids")
    return ReleaseVector(_float_wplus(vector.array, path), list(ids), "editgan-release-pickle")


def _float_wplus(arr, path: Path) -> np.ndarray:
    """A float array [1, num_ws, w_dim] or [num_ws, w_dim] -> float32 [num_ws, w_dim]."""
    if not isinstance(arr, np.ndarray):
        raise CheckpointError(f"{path} is an .npz archive, not one .npy array")
    if arr.dtype.kind != "f":
        raise InputError(f"{path}: an editing vector is a float array, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise InputError(f"{path}: an editing vector is [1, num_ws, w_dim] or [num_ws, w_dim], got {list(arr.shape)}")
    if not np.isfinite(arr).all():
        raise InputError(f"{path}: the editing vector has non-finite values")
    return arr.astype(np.float32)


def to_delta(v: np.ndarray, convention: str) -> np.ndarray:
    """The release's v -> our delta (w+ + s * delta) under `convention` ("ui": v / 2, "raw": v)."""
    if convention not in CONVENTIONS:
        raise InputError(f"unknown scale convention {convention!r}; known: {', '.join(CONVENTIONS)}")
    return v * np.float32(CONVENTIONS[convention])


def parts_from_ids(ids: list[int], scheme: LabelScheme, where: str) -> tuple[str, ...]:
    """Label ids (the pickle's roi_ids) -> names of `scheme`; InputError for ids outside it."""
    bad = [i for i in ids if not 0 <= i < scheme.num_classes]
    if bad:
        raise InputError(f"{where}: roi_ids {bad[:10]} are outside scheme {scheme.name!r} "
                         f"(0..{scheme.num_classes - 1})")
    return tuple(dict.fromkeys(scheme.names[i] for i in ids))


def parts_from_name(stem: str, scheme: LabelScheme) -> tuple[str, ...] | None:
    """The parts a release vector's file name implies: its longest leading words, joined by '_' or
    nothing, that are an operation of CAR_RELEASE_PARTS (car-32 scheme only) or a label name of
    `scheme` (e.g. 'wheel_enlarge' -> the car's wheels, hubs and spokes; 'license_plate_disappear'
    -> both licence plates). None when no prefix matches."""
    words = stem.split("_")
    car = scheme.names == DATASETGAN_CAR.names
    for k in range(len(words), 0, -1):
        for candidate in ("_".join(words[:k]), "".join(words[:k])):
            if car and candidate in CAR_RELEASE_PARTS:
                return tuple(scheme.names[i] for i in CAR_RELEASE_PARTS[candidate])
            if candidate in scheme.names:
                return (candidate,)
    return None
