"""Training on toonfaces: the rendered data source and the snapshot metric (fd_toon) of a GAN run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from editgan.errors import InputError
from editgan.nn.stylegan2 import Generator
from editgan.toonfaces.dataset import image_to_tensor, render_split, split_seed
from editgan.toonfaces.distances import fd_toon
from editgan.toonfaces.params import sample_params
from editgan.toonfaces.render import render
from editgan.train.data import uint8_to_tensor


class ToonfacesSource:
    """A fixed pool of rendered training-split toonfaces, kept as uint8 in memory.

    The pool is rendered once (and cached to `cache` as .npy if given): a GAN sees a finite
    dataset, and the CPU renders each face once instead of every epoch.
    """

    def __init__(self, resolution: int, count: int = 50_000, cache: str | Path | None = None, progress=None):
        self.resolution, self.count, self.skipped = resolution, count, set()
        cache = Path(cache) if cache else None
        if cache is not None and cache.is_file():
            self.images = np.load(cache, mmap_mode="r")
            if self.images.shape != (count, resolution, resolution, 3):
                raise InputError(f"toonfaces cache {cache} holds {self.images.shape}, expected "
                                 f"{(count, resolution, resolution, 3)}; delete it to re-render")
            return
        images = np.empty((count, resolution, resolution, 3), dtype=np.uint8)
        for i in range(count):
            images[i] = render(sample_params(split_seed("train", i)), resolution)[0]
            if progress is not None:
                progress(i + 1, count)
        self.images = images
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp.npy")
            np.save(tmp, images)
            tmp.replace(cache)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> torch.Tensor:
        return uint8_to_tensor(self.images[index])


def toonfaces_source(resolution: int, count: int, cache_dir: str | Path | None, progress=None) -> ToonfacesSource:
    """The registered data source "toonfaces": `count` training faces, cached as
    <cache_dir>/toonfaces-<resolution>-<count>.npy when cache_dir is given."""
    cache = Path(cache_dir) / f"toonfaces-{resolution}-{count}.npy" if cache_dir else None
    return ToonfacesSource(resolution, count, cache, progress)


# Faces for the feature pyramid of a projected discriminator: index 900,000 on of each split, apart from
# the GAN's pool (train 0..count) and every benchmark's test faces (test 0..~10,000). The default
# bundle's 16 annotated faces (train 900,000..900,015) are among them: both are training data.
LABELLED_START = 900_000


def toonfaces_labelled(split: str, count: int, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """The registered labelled data "toonfaces": faces LABELLED_START.. of `split` ("train" or "test")
    -> (images uint8 [count, R, R, 3], labels int64 [count, R, R])."""
    _, images, labels = render_split(split, count, resolution, start=LABELLED_START)
    return images, labels


def fd_toon_snapshot(G: Generator, n: int, seed: int = 123) -> dict[str, float]:
    """The snapshot metric of a run on toonfaces: {"fd_toon": Fréchet distance between n samples of G
    (psi 1) and n rendered test-split faces at G's resolution}."""
    with torch.no_grad():
        fakes = torch.cat([G(G.sample_z(min(64, n - i), seed=seed + i).to(G.w_avg.device)).cpu().clamp(-1, 1)
                           for i in range(0, n, 64)])
    size = G.config.resolution
    reals = torch.stack([image_to_tensor(render(sample_params(split_seed("test", i)), size)[0]) for i in range(n)])
    return {"fd_toon": fd_toon(fakes, reals)}
