"""One config + weights base for every network (in the spirit of diffusers' ModelMixin).

A network class names its `config_class` (a `JsonConfig` dataclass), its `file_format` and its
`file_name`; the mixin gives it

    net.save_pretrained(directory, **metadata)   # <file_name>.safetensors (state dict) + <file_name>.json
    Net.from_pretrained(path, device="cpu")      # a directory or either file; eval mode, frozen
    Net.load_pretrained(path, device="cpu")      # the same, with the JSON's metadata: (net, metadata)

The JSON holds {"format", "version", "config", **metadata}; both files are written atomically, the
JSON last, so a network is complete exactly when its JSON exists. CheckpointError names the file
for anything that does not fit. The JSON's version is the pair's (the weights' metadata copies it):
loading refuses a newer one and migrates an older one (`editgan.formats`); paths in the metadata
are saved relative to the directory or as bare names (`portable_provenance`).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, TypeVar

import torch

from editgan.errors import CheckpointError, ConfigError
from editgan.files import load_tensors, read_json, save_tensors, write_json
from editgan.formats import CURRENT, portable_provenance, upgrade

P = TypeVar("P", bound="Pretrained")


def check_state_fits(module: torch.nn.Module, state_dict: dict[str, torch.Tensor], what: str) -> None:
    """CheckpointError naming missing, unexpected and wrongly shaped keys if `state_dict` does not
    fit `module` exactly."""
    check_shapes({k: tuple(v.shape) for k, v in module.state_dict().items()}, state_dict, what)


def check_shapes(expected: dict[str, tuple[int, ...]], state_dict: dict, what: str) -> None:
    """CheckpointError naming missing, unexpected, non-tensor and wrongly shaped keys unless
    `state_dict` holds exactly the keys of `expected` as tensors of those shapes."""
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state_dict) if not isinstance(state_dict[k], torch.Tensor)
                   or tuple(expected[k]) != tuple(state_dict[k].shape))
    if missing or unexpected or wrong:
        detail = "; ".join(f"{kind}: {keys[:5]}{' ...' if len(keys) > 5 else ''}"
                           for kind, keys in (("missing", missing), ("unexpected", unexpected),
                                              ("wrong shape", wrong)) if keys)
        raise CheckpointError(f"weights do not fit {what} ({detail})")


class Pretrained:
    """Mixin for torch.nn.Module networks with a `config` attribute."""

    config_class: ClassVar[type]
    file_format: ClassVar[str]
    file_name: ClassVar[str]

    def save_pretrained(self, directory: str | Path, name: str | None = None, **metadata) -> Path:
        """Write `<directory>/<name>.safetensors` and `<name>.json` (name: the class's file_name);
        returns the weights path."""
        name = name or self.file_name
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        weights = directory / f"{name}.safetensors"
        version = CURRENT[self.file_format]
        save_tensors(weights, self.state_dict(), {"format": self.file_format, "version": version})
        write_json(directory / f"{name}.json", portable_provenance(
            {**metadata, "format": self.file_format, "version": version, "config": self.config.to_json()}, directory))
        return weights

    @classmethod
    def load_pretrained(cls: type[P], path: str | Path, device: str | torch.device = "cpu",
                        name: str | None = None) -> tuple[P, dict]:
        """(network in eval mode, frozen, on `device`; the JSON's metadata) from a directory or either file."""
        path, name = Path(path), name or cls.file_name
        if path.suffix in (".safetensors", ".json"):
            path, name = path.parent, path.stem
        meta = read_json(path / f"{name}.json")
        if meta.get("format") != cls.file_format or "config" not in meta:
            raise CheckpointError(f"{path / (name + '.json')} is not an editgan {cls.config_class.kind} config")
        meta = upgrade(meta, cls.file_format, path / f"{name}.json")
        try:
            config = cls.config_class.from_json(meta["config"])
        except ConfigError as err:
            raise CheckpointError(f"{path / (name + '.json')}: {err}") from None
        network = cls(config)
        state = load_tensors(path / f"{name}.safetensors")
        check_state_fits(network, state, f"the {cls.config_class.kind} config in {path / (name + '.json')}")
        network.load_state_dict(state)  # copies cast to the parameters' dtype
        return network.to(device).eval().requires_grad_(False), meta

    @classmethod
    def from_pretrained(cls: type[P], path: str | Path, device: str | torch.device = "cpu",
                        name: str | None = None) -> P:
        """The network alone (see load_pretrained)."""
        return cls.load_pretrained(path, device, name)[0]
