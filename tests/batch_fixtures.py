"""A tiny batch world: a bundle with a segmenter and two vectors, latent inputs, an image input and a broken file."""

import numpy as np
import torch

from conftest import make_tiny_generator
from edit_fixtures import make_tiny_segmenter, write_edit_bundle
from editgan.edit.vectors import EditingVector, VectorLibrary
from editgan.io.images import save_png, to_uint8
from editgan.io.latents import save_wplus

VECTOR_SETS = ["up=1", "up=-0.5+down"]


def write_batch_world(root) -> list[str]:
    """Bundle at root/b (vectors 'up' and 'down'), inputs under root/in; returns the input paths in order."""
    G = make_tiny_generator()
    write_edit_bundle(root / "b", G, make_tiny_segmenter(G))
    lib = VectorLibrary(root / "b" / "vectors", shape=(G.num_ws, G.config.w_dim))
    gen = torch.Generator().manual_seed(5)
    for name, scale in (("up", 1.0), ("down", 0.7)):
        lib.add(EditingVector(torch.randn(G.num_ws, G.config.w_dim, generator=gen) * 0.5, name, ("mouth",),
                              default_scale=scale))
    inputs = []
    for i in range(3):
        path = root / "in" / f"face{i}.wplus.safetensors"
        save_wplus(path, G.z_to_wplus(G.sample_z(1, seed=10 + i)))
        inputs.append(path)
    with torch.no_grad():
        image = G.synthesis(G.z_to_wplus(G.sample_z(1, seed=20)), noise_mode="const")
    inputs.append(save_png(root / "in" / "photo.png", to_uint8(image)[0]))
    broken = root / "in" / "broken.safetensors"
    broken.write_bytes(np.arange(40, dtype=np.uint8).tobytes())
    inputs.insert(1, broken)
    return [str(p) for p in inputs]


def batch_args(root, out, refine: int = 0) -> list[str]:
    inputs = sorted(str(p) for p in (root / "in").iterdir())
    args = ["batch", "apply", *inputs, "--bundle", str(root / "b"), "--out", str(out), "--embed-steps", "3",
            "--refine-steps", str(refine)]
    for s in VECTOR_SETS:
        args += ["--vector", s]
    return args
