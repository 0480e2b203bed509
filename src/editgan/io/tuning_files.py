"""A pivotal tuning inside a latent file (`editgan.io.latents`), next to the w+ it was tuned at.

Tensors "tuning.<weight name>.b" [C_out, r] and "tuning.<weight name>.a" [r, C_in k k] (float32) per
tuned synthesis weight (`editgan.nn.tuning`); metadata "tuning.generator" (the generator's digest),
"tuning.info" (JSON: how it was made) and "tuning.version" (its format version, `editgan.formats`;
missing: 1). Reading checks everything a file could get wrong before
anything is built, and says what is wrong in one line; whether the tuning fits a generator is
checked when it is applied (`Tuning.check`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from editgan.errors import CheckpointError
from editgan.formats import CURRENT, TUNING, check_version
from editgan.nn.tuning import Tuning

PREFIX = "tuning."
GENERATOR_KEY = "tuning.generator"
INFO_KEY = "tuning.info"
VERSION_KEY = "tuning.version"
_NAME = re.compile(r"^tuning\.([A-Za-z0-9_.]+)\.([ab])$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def tuning_entries(tuning: Tuning) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) to store `tuning` in a safetensors file."""
    tensors = {}
    for name, (b, a) in tuning.factors.items():
        tensors[f"{PREFIX}{name}.b"] = b.detach().float().cpu()
        tensors[f"{PREFIX}{name}.a"] = a.detach().float().cpu()
    return tensors, {GENERATOR_KEY: tuning.generator, INFO_KEY: json.dumps(tuning.info, sort_keys=True),
                     VERSION_KEY: str(CURRENT[TUNING])}


def read_tuning(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Tuning | None:
    """The tuning stored in a latent file's tensors and metadata, or None when it holds none;
    CheckpointError naming `path` when it is malformed."""
    entries = {k: v for k, v in tensors.items() if k.startswith(PREFIX)}
    if not entries and GENERATOR_KEY not in metadata:
        return None
    check_version(metadata, TUNING, path, VERSION_KEY)
    digest = metadata.get(GENERATOR_KEY, "")
    if not _DIGEST.match(digest):
        raise CheckpointError(f"{path}: the tuning names no generator digest (64 hex digits)")
    try:
        info = json.loads(metadata.get(INFO_KEY, "{}"))
    except json.JSONDecodeError:
        raise CheckpointError(f"{path}: the tuning's info is not JSON") from None
    if not isinstance(info, dict):
        raise CheckpointError(f"{path}: the tuning's info must be a JSON object")
    halves: dict[str, dict[str, torch.Tensor]] = {}
    for key, t in entries.items():
        match = _NAME.match(key)
        if match is None:
            raise CheckpointError(f"{path}: unexpected tuning tensor {key!r}")
        if not t.dtype.is_floating_point or t.ndim != 2 or not torch.isfinite(t).all():
            raise CheckpointError(f"{path}: tuning tensor {key} must be a finite float matrix, "
                                  f"got {t.dtype} {list(t.shape)}")
        halves.setdefault(match.group(1), {})[match.group(2)] = t.float()
    factors = {}
    for name, pair in sorted(halves.items()):
        if set(pair) != {"a", "b"}:
            raise CheckpointError(f"{path}: the tuning of {name} lacks one of its two factors")
        factors[name] = (pair["b"], pair["a"])
    if not factors:
        raise CheckpointError(f"{path}: the tuning holds no factors")
    return Tuning(factors, digest, info)
