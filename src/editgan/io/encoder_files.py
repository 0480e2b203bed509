"""Our encoder files: `<name>.safetensors` (weights, incl. the w_avg buffer) + `<name>.json`
(config, training provenance). A bundle holds them as `encoder.safetensors` / `encoder.json`."""

from __future__ import annotations

from pathlib import Path

import torch

from editgan.errors import CheckpointError, ConfigError
from editgan.io.atomic import write_json
from editgan.io.native import check_state_fits, load_tensors, read_network_meta, save_tensors
from editgan.nn.encoder import Encoder, EncoderConfig

FORMAT = "editgan-encoder"
FORMAT_VERSION = 1


def save_encoder(encoder: Encoder, out_dir: str | Path, provenance: dict | None = None,
                 name: str = "encoder") -> Path:
    """Write `<out_dir>/<name>.safetensors` and `<name>.json` (JSON last); returns the safetensors path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / f"{name}.safetensors"
    save_tensors(weights, encoder.state_dict(), {"format": FORMAT, "version": FORMAT_VERSION})
    write_json(out_dir / f"{name}.json", {"format": FORMAT, "version": FORMAT_VERSION,
                                          "config": encoder.config.to_json(), "provenance": provenance or {}})
    return weights


def load_encoder(path: str | Path, device: str | torch.device = "cpu", name: str = "encoder") -> Encoder:
    """Load an encoder (eval mode, frozen) from a directory or either of its files."""
    path, name, meta = read_network_meta(path, name, FORMAT, "encoder")
    try:
        config = EncoderConfig.from_json(meta["config"])
    except ConfigError as err:
        raise CheckpointError(f"{path / (name + '.json')}: {err}") from None
    encoder = Encoder(config)
    state = load_tensors(path / f"{name}.safetensors")
    check_state_fits(encoder, state, f"the config in {path / (name + '.json')}")
    encoder.load_state_dict(state)
    return encoder.to(device).eval().requires_grad_(False)
