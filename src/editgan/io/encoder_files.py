"""Our encoder files: `<name>.safetensors` (weights, incl. the w_avg buffer) + `<name>.json`
(config, training provenance). A bundle holds them as `encoder.safetensors` / `encoder.json`."""

from __future__ import annotations

from pathlib import Path

import torch

from editgan.io.native import load_network, save_network
from editgan.nn.encoder import Encoder, EncoderConfig

FORMAT = "editgan-encoder"


def save_encoder(encoder: Encoder, out_dir: str | Path, provenance: dict | None = None,
                 name: str = "encoder") -> Path:
    """Write `<out_dir>/<name>.safetensors` and `<name>.json` (JSON last); returns the safetensors path."""
    return save_network(encoder, out_dir, name, FORMAT, {"provenance": provenance or {}})


def load_encoder(path: str | Path, device: str | torch.device = "cpu", name: str = "encoder") -> Encoder:
    """Load an encoder (eval mode, frozen) from a directory or either of its files."""
    return load_network(Encoder, EncoderConfig, path, name, FORMAT, device)[0].requires_grad_(False)
