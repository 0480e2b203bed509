"""Image encoders of every architecture, by name and from their files.

    ENCODERS = {"pyramid": Encoder, "fpn": FPNEncoder}  # architecture name -> network class
    load_encoder(path) -> network                        # the class named by the JSON's "format"

An encoder's JSON (`save_pretrained`) says which architecture it holds through its "format"
("editgan-encoder": our pyramid encoder, what every earlier bundle holds; "editgan-fpn-encoder":
the EditGAN release's FPN encoder).
"""

from __future__ import annotations

from pathlib import Path

import torch

from editgan.errors import CheckpointError, ConfigError
from editgan.files import read_json
from editgan.nn.encoder import Encoder
from editgan.nn.fpn_encoder import FPNEncoder

ENCODERS = {cls.architecture: cls for cls in (Encoder, FPNEncoder)}


def encoder_class(architecture: str) -> type:
    """The network class of an architecture name; ConfigError naming the known ones."""
    if architecture not in ENCODERS:
        raise ConfigError(f"unknown encoder architecture {architecture!r}; choose one of {sorted(ENCODERS)}")
    return ENCODERS[architecture]


def load_encoder(path: str | Path, device: str | torch.device = "cpu"):
    """An encoder (eval mode, frozen) from a directory holding encoder.json/.safetensors or either file."""
    path = Path(path)
    meta_path = path.with_suffix(".json") if path.suffix in (".safetensors", ".json") else path / "encoder.json"
    fmt = read_json(meta_path).get("format")
    for cls in ENCODERS.values():
        if cls.file_format == fmt:
            return cls.from_pretrained(meta_path, device=device)
    raise CheckpointError(f"{meta_path} is not an editgan encoder (format {fmt!r}; known: "
                          f"{sorted(cls.file_format for cls in ENCODERS.values())})")
