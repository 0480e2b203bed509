"""A segmenter with its label scheme: `Segmenter.save_pretrained` files whose JSON also holds the
label scheme and the training provenance. A bundle holds them as `segmenter.safetensors` / `.json`."""

from __future__ import annotations

from pathlib import Path

import torch

from editgan.errors import CheckpointError, InputError
from editgan.labels import LabelScheme
from editgan.nn.segmenter import Segmenter


def save_segmenter(seg: Segmenter, out_dir: str | Path, scheme: LabelScheme | None = None,
                   provenance: dict | None = None, name: str = "segmenter") -> Path:
    """Write `<out_dir>/<name>.safetensors` and `<name>.json`; returns the safetensors path."""
    if scheme is not None and scheme.num_classes != seg.config.num_classes:
        raise InputError(f"label scheme {scheme.name!r} has {scheme.num_classes} classes, "
                         f"the segmenter {seg.config.num_classes}")
    return seg.save_pretrained(out_dir, name, label_scheme=scheme.to_json() if scheme is not None else None,
                               provenance=provenance or {})


def load_segmenter(path: str | Path, device: str | torch.device = "cpu",
                   name: str = "segmenter") -> tuple[Segmenter, LabelScheme | None]:
    """Load (segmenter in eval mode, its label scheme or None) from a directory or either file."""
    seg, meta = Segmenter.load_pretrained(path, device, name)
    try:
        scheme = LabelScheme.from_json(meta["label_scheme"]) if meta.get("label_scheme") else None
    except InputError as err:
        raise CheckpointError(f"{Path(path)}: segmenter label scheme: {err}") from None
    return seg, scheme
