"""DatasetGAN / EditGAN-release pixel classifiers: one `torch.save` file per ensemble member.

Published layout (nv-tlabs/datasetGAN_release train_interpreter.py, nv-tlabs/editGAN_release
models/DatasetGAN/classifer.py): `{"model_state_dict": state}` where `state` is an
`nn.Sequential` called `layers` -- layers.0 Linear(C_in, H1), layers.2 BatchNorm1d(H1),
layers.3 Linear(H1, H2), layers.5 BatchNorm1d(H2), layers.6 Linear(H2, K) -- and, because both
releases wrap the classifier in `nn.DataParallel` before saving, every key starts with `module.`.
DatasetGAN names the files `model_{m}.pth`; the EditGAN car release `car_model_{m}.pth` (or
`car_model_iter{N}_number_{m}.pth`). Files are read with `torch_files.load_torch_file` (zip CRC
check, then `torch.load(weights_only=True)`), which executes no code; anything else is a CheckpointError.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from editgan.errors import CheckpointError
from editgan.io.budget import one_line_errors
from editgan.io.torch_files import load_torch_file
from editgan.nn.segmenter import Segmenter
from editgan.nn.segmenter_config import SegmenterConfig

LINEARS = {"w1": 0, "w2": 3, "w3": 6}
NORMS = {1: 2, 2: 5}
BN_FIELDS = {"weight": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var",
             "count": "num_batches_tracked"}
PATTERNS = (r"model_(\d+)\.pth", r"car_model_(\d+)\.pth", r"\w+_model_iter(\d+)_number_(\d+)\.pth")


def member_files(directory: str | Path, iteration: int | None = None) -> list[Path]:
    """The member files in `directory`, ordered by member number; CheckpointError if none or gaps.

    A folder may hold the final members (`car_model_<m>.pth`) and snapshots of a training iteration
    (`car_model_iter<N>_number_<m>.pth`): iteration None takes the final ones (the release's
    `classifier_iter: 0`), or the only iteration there is; iteration N takes that snapshot."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"classifier directory not found: {directory}")
    sets: dict[int | None, dict[int, Path]] = {}  # iteration (None: final) -> member -> file
    for path in directory.iterdir():
        for pattern in PATTERNS:
            match = re.fullmatch(pattern, path.name)
            if match:
                groups = [int(g) for g in match.groups()]
                it, m = (None, groups[0]) if len(groups) == 1 else groups
                found = sets.setdefault(it, {})
                if m in found:
                    raise CheckpointError(f"two files for ensemble member {m} in {directory}: "
                                          f"{found[m].name}, {path.name}")
                found[m] = path
    if not sets:
        raise CheckpointError(f"no classifier files (model_<m>.pth, car_model_<m>.pth) in {directory}")
    iterations = sorted(k for k in sets if k is not None)
    if iteration is None:
        if None not in sets and len(iterations) > 1:
            raise CheckpointError(f"{directory} holds the classifiers of iterations {iterations} and no final "
                                  "ones; choose an iteration")
        found = sets.get(None) or sets[iterations[0]]
    elif iteration in sets:
        found = sets[iteration]
    else:
        raise CheckpointError(f"{directory} has no classifiers of iteration {iteration} (it has: "
                              f"{', '.join(['final'] * (None in sets) + [str(i) for i in iterations])})")
    if sorted(found) != list(range(len(found))):
        raise CheckpointError(f"ensemble members in {directory} are not numbered 0..{len(found) - 1}: {sorted(found)}")
    return [found[m] for m in sorted(found)]


@one_line_errors
def read_member(path: str | Path) -> dict[str, torch.Tensor]:
    """One member file -> its state dict with any `module.` prefix removed."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"classifier file not found: {path}")
    data = load_torch_file(path)
    if not isinstance(data, dict) or not isinstance(data.get("model_state_dict"), dict):
        raise CheckpointError(f"{path}: expected a dict with 'model_state_dict' (DatasetGAN classifier layout)")
    state = data["model_state_dict"]
    return {str(k).removeprefix("module."): v for k, v in state.items()}


def _get(state: dict, key: str, path: Path, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    if key not in state:
        raise CheckpointError(f"{path}: missing {key!r} (have {sorted(state)[:8]}...)")
    t = state[key]
    if not isinstance(t, torch.Tensor) or (shape is not None and tuple(t.shape) != shape):
        raise CheckpointError(f"{path}: {key!r} has shape {tuple(getattr(t, 'shape', ()))}, expected {shape}")
    return t


def config_from_member(path: Path, state: dict, **config_kwargs) -> SegmenterConfig:
    """Widths read off the first member; the feature layout must come from config_kwargs."""
    w1, w3 = _get(state, "layers.0.weight", path), _get(state, "layers.6.weight", path)
    h2 = _get(state, "layers.3.weight", path).shape[0]
    if w1.shape[1] != sum(c for c, _ in config_kwargs["feature_shapes"]):
        raise CheckpointError(f"{path}: first layer takes {w1.shape[1]} features, the given feature maps "
                              f"have {sum(c for c, _ in config_kwargs['feature_shapes'])} channels")
    return SegmenterConfig(num_classes=w3.shape[0], hidden=(w1.shape[0], h2), **config_kwargs)


def load_datasetgan_classifiers(directory: str | Path, config: SegmenterConfig | None = None,
                                iteration: int | None = None, **config_kwargs) -> Segmenter:
    """Read every member file of `directory` into one Segmenter (eval mode).

    Give a full `config`, or the feature layout as keyword arguments (feature_shapes,
    out_resolution, crop, interpolation, include_const, layers) and let widths and class count
    come from the files; num_members is the number of files. iteration: see `member_files`.
    """
    files = member_files(directory, iteration)
    states = [read_member(p) for p in files]
    if config is None:
        config = config_from_member(files[0], states[0], num_members=len(files), **config_kwargs)
    if config.num_members != len(files):
        raise CheckpointError(f"{directory} holds {len(files)} members, the config says {config.num_members}")
    seg = Segmenter(config)
    h1, h2 = config.hidden
    k, cin = config.num_classes, config.in_features
    shapes = {"w1": (h1, cin), "w2": (h2, h1), "w3": (k, h2)}
    with torch.no_grad():
        for m, (path, state) in enumerate(zip(files, states)):
            for name, idx in LINEARS.items():
                getattr(seg, name)[m] = _get(state, f"layers.{idx}.weight", path, shapes[name])
                getattr(seg, "b" + name[1])[m] = _get(state, f"layers.{idx}.bias", path, shapes[name][:1])
            for i, idx in NORMS.items():
                width = config.hidden[i - 1]
                for ours, theirs in BN_FIELDS.items():
                    shape = () if ours == "count" else (width,)
                    getattr(seg, f"bn{i}_{ours}")[m] = _get(state, f"layers.{idx}.{theirs}", path, shape)
            extra = sorted(set(state) - {f"layers.{i}.{f}" for i in LINEARS.values() for f in ("weight", "bias")}
                           - {f"layers.{i}.{f}" for i in NORMS.values() for f in BN_FIELDS.values()})
            if extra:
                raise CheckpointError(f"{path}: unexpected keys {extra[:5]} (not the DatasetGAN classifier layout)")
    return seg.eval()
