"""Our own network files: `<name>.safetensors` (the state dict) + `<name>.json` (format, version,
config, and whatever metadata the kind adds), one writer and one reader for every network
(`save_network` / `load_network`; configs round-trip through `JsonConfig`).

No pickle anywhere; both files are written atomically. A generator directory written by
`save_generator(G, dir)` holds `generator.safetensors` and `generator.json`.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from editgan.errors import CheckpointError, ConfigError
from editgan.io.atomic import atomic_path, write_json
from editgan.nn.config import GeneratorConfig
from editgan.nn.stylegan2 import Generator

FORMAT_VERSION = 1
GENERATOR_FORMAT = "editgan-generator"


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict | None = None) -> None:
    """Write a flat dict of tensors to safetensors atomically (contiguous CPU copies)."""
    data = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(data, str(tmp), metadata={k: str(v) for k, v in (metadata or {}).items()})


def load_tensors(path: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Read a safetensors file; CheckpointError if missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a valid safetensors file ({err})") from None


def read_network_meta(path: str | Path, name: str, fmt: str, kind: str) -> tuple[Path, str, dict]:
    """(directory, file stem, metadata) of a network saved as <name>.json + <name>.safetensors; `path`
    is the directory or either file. CheckpointError unless the JSON has format `fmt` and a config."""
    path = Path(path)
    if path.suffix in (".safetensors", ".json"):
        path, name = path.parent, path.stem
    meta = read_json(path / f"{name}.json")
    if meta.get("format") != fmt or "config" not in meta:
        raise CheckpointError(f"{path / (name + '.json')} is not an editgan {kind} config")
    return path, name, meta


def read_json(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} must hold a JSON object")
    return data


def save_network(network: torch.nn.Module, out_dir: str | Path, name: str, fmt: str, meta: dict | None = None) -> Path:
    """A network as `<out_dir>/<name>.safetensors` (its state dict) + `<name>.json` ({"format": fmt,
    "version", "config": network.config.to_json(), **meta}), the JSON last; returns the weights path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / f"{name}.safetensors"
    save_tensors(weights, network.state_dict(), {"format": fmt, "version": FORMAT_VERSION})
    write_json(out_dir / f"{name}.json", {"format": fmt, "version": FORMAT_VERSION,
                                          "config": network.config.to_json(), **(meta or {})})
    return weights


def load_network(network_class: type, config_class: type, path: str | Path, name: str, fmt: str,
                 device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """(network in eval mode on `device`, the JSON's metadata) from a directory or either of its files
    written by `save_network`; CheckpointError naming the file for anything that does not fit."""
    kind = config_class.kind
    path, name, meta = read_network_meta(path, name, fmt, kind)
    try:
        config = config_class.from_json(meta["config"])
    except ConfigError as err:
        raise CheckpointError(f"{path / (name + '.json')}: {err}") from None
    network = network_class(config)
    state = load_tensors(path / f"{name}.safetensors")
    check_state_fits(network, state, f"the {kind} config in {path / (name + '.json')}")
    network.load_state_dict(state)  # copies cast to the parameters' dtype
    return network.to(device).eval(), meta


def save_generator(generator: Generator, out_dir: str | Path, name: str = "generator") -> Path:
    """Write `<out_dir>/<name>.safetensors` and `<name>.json`; returns the safetensors path."""
    return save_network(generator, out_dir, name, GENERATOR_FORMAT)


def build_generator(config: GeneratorConfig, state_dict: dict[str, torch.Tensor],
                    device: str | torch.device = "cpu") -> Generator:
    """Instantiate a generator and load `state_dict` strictly, with a readable error on mismatch."""
    generator = Generator(config)
    check_state_fits(generator, state_dict, "the generator config")
    generator.load_state_dict({k: v.float() for k, v in state_dict.items()})
    return generator.to(device).eval().requires_grad_(False)


def check_state_fits(module: torch.nn.Module, state_dict: dict[str, torch.Tensor], what: str) -> None:
    """CheckpointError naming missing, unexpected and wrongly shaped keys if `state_dict` does not
    fit `module` exactly."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state_dict) if tuple(expected[k].shape) != tuple(state_dict[k].shape))
    if missing or unexpected or wrong:
        detail = "; ".join(f"{kind}: {keys[:5]}{' ...' if len(keys) > 5 else ''}"
                           for kind, keys in (("missing", missing), ("unexpected", unexpected),
                                              ("wrong shape", wrong)) if keys)
        raise CheckpointError(f"weights do not fit {what} ({detail})")


def load_generator(path: str | Path, device: str | torch.device = "cpu", name: str = "generator") -> Generator:
    """Load a generator from a directory (or its .safetensors / .json file), frozen, in eval mode."""
    return load_network(Generator, GeneratorConfig, path, name, GENERATOR_FORMAT, device)[0].requires_grad_(False)
