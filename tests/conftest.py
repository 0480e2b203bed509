import json

import pytest
import torch

from editgan.bundle import packaged_bundles_dir
from editgan.nn.config import GeneratorConfig
from editgan.nn.stylegan2 import Generator

TINY = dict(resolution=32, z_dim=16, w_dim=16, num_mapping_layers=2, channels={4: 32, 8: 32, 16: 16, 32: 8})


def shipped_wplus_shape() -> tuple[int, int]:
    """(num_ws, w_dim) of the packaged toonfaces bundle, read from its files (no weights loaded)."""
    folder = packaged_bundles_dir() / "toonfaces"
    num_ws = json.loads((folder / "manifest.json").read_text())["num_ws"]
    return num_ws, json.loads((folder / "generator.json").read_text())["config"]["w_dim"]


def make_tiny_generator(seed: int = 0, **overrides) -> Generator:
    """A tiny random generator with non-zero noise strengths and biases (so every path matters)."""
    torch.manual_seed(seed)
    g = Generator(GeneratorConfig(**{**TINY, **overrides}))
    with torch.no_grad():
        for name, p in g.named_parameters():
            if name.endswith("noise_strength") or name.endswith(".bias"):
                p.normal_(0, 0.3)
        g.mapping.w_avg.normal_()
    return g.eval().requires_grad_(False)


@pytest.fixture
def tiny_generator() -> Generator:
    return make_tiny_generator()


@pytest.fixture(autouse=True)
def private_user_data(tmp_path_factory, monkeypatch):
    """User data (vector libraries of packaged bundles) goes to a temporary folder, never the real home."""
    monkeypatch.setenv("EDITGAN_HOME", str(tmp_path_factory.mktemp("editgan-home")))
