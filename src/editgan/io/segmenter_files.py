"""Our segmenter files: `<name>.safetensors` (stacked member tensors) + `<name>.json` (config,
label scheme, training provenance). A bundle holds them as `segmenter.safetensors` / `segmenter.json`."""

from __future__ import annotations

from pathlib import Path

import torch

from editgan.errors import CheckpointError, ConfigError, InputError
from editgan.io.atomic import write_json
from editgan.io.native import check_state_fits, load_tensors, read_network_meta, save_tensors
from editgan.labels import LabelScheme
from editgan.nn.segmenter import Segmenter
from editgan.nn.segmenter_config import SegmenterConfig

FORMAT = "editgan-segmenter"
FORMAT_VERSION = 1


def save_segmenter(seg: Segmenter, out_dir: str | Path, scheme: LabelScheme | None = None,
                   provenance: dict | None = None, name: str = "segmenter") -> Path:
    """Write `<out_dir>/<name>.safetensors` and `<name>.json`; returns the safetensors path."""
    if scheme is not None and scheme.num_classes != seg.config.num_classes:
        raise InputError(f"label scheme {scheme.name!r} has {scheme.num_classes} classes, "
                         f"the segmenter {seg.config.num_classes}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / f"{name}.safetensors"
    save_tensors(weights, seg.state_dict(), {"format": FORMAT, "version": FORMAT_VERSION})
    write_json(out_dir / f"{name}.json", {
        "format": FORMAT, "version": FORMAT_VERSION, "config": seg.config.to_json(),
        "label_scheme": scheme.to_json() if scheme is not None else None, "provenance": provenance or {}})
    return weights


def load_segmenter(path: str | Path, device: str | torch.device = "cpu",
                   name: str = "segmenter") -> tuple[Segmenter, LabelScheme | None]:
    """Load (segmenter in eval mode, its label scheme or None) from a directory or either file."""
    path, name, meta = read_network_meta(path, name, FORMAT, "segmenter")
    try:
        config = SegmenterConfig.from_json(meta["config"])
        scheme = LabelScheme.from_json(meta["label_scheme"]) if meta.get("label_scheme") else None
    except (ConfigError, InputError) as err:
        raise CheckpointError(f"{path / (name + '.json')}: {err}") from None
    seg = Segmenter(config)
    state = load_tensors(path / f"{name}.safetensors")
    check_state_fits(seg, state, f"the config in {path / (name + '.json')}")
    seg.load_state_dict(state)
    return seg.to(device).eval(), scheme
