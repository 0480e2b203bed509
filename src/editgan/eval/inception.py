"""True FID / KID with the TF Inception-v3 (2015-12-05) network, when the user supplies its weights.

torch-fidelity and clean-fid cannot run here: both import torchvision (torch_fidelity's package
__init__ through its datasets module; clean-fid's `cleanfid.fid` through `cleanfid.utils`, and its
package metadata requires torchvision), which cannot be installed beside this torch build. The
weight file both ecosystems rely on for "clean"/StyleGAN2-ADA-compatible FID,
`inception-2015-12-05.pt` (NVIDIA's TorchScript translation of the TF graph; clean-fid wraps the
same file as `InceptionV3W`), needs only `torch.jit`. This module loads that file and calls it the
way StyleGAN2-ADA's metrics do: uint8 images [N, 3, H, W] of any size (the module resizes to 299
itself), `return_features=True` -> pool features [N, 2048]. FID / KID are then
`editgan.eval.frechet.frechet_distance` / `kernel_distance` (cubic polynomial kernel, 100 subsets
of at most 1000, the StyleGAN2-ADA / clean-fid KID settings).

A TorchScript archive holds TorchScript code, not arbitrary Python, but load only files you trust.
"""

from __future__ import annotations

from pathlib import Path

import torch

from editgan.errors import CheckpointError, InputError, MissingWeightsError
from editgan.eval.frechet import frechet_distance
from editgan.eval.kernel_distance import kernel_distance

INCEPTION_FILE = "inception-2015-12-05.pt"
FEATURE_DIM = 2048


def load_inception(path: str | Path) -> torch.jit.ScriptModule:
    """The TorchScript Inception from a file or a directory holding INCEPTION_FILE (eval mode, CPU)."""
    path = Path(path)
    if path.is_dir():
        path = path / INCEPTION_FILE
    if not path.is_file():
        raise MissingWeightsError(f"no Inception weights at {path}; supply NVIDIA's {INCEPTION_FILE} "
                                  "(the file StyleGAN2-ADA and clean-fid use)")
    try:
        model = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError) as err:
        raise CheckpointError(f"{path} is not a TorchScript archive ({str(err).splitlines()[0]})") from None
    return model.eval()


@torch.no_grad()
def inception_features(model: torch.jit.ScriptModule, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """images float [N, 3, H, W] in [-1, 1] -> float64 [N, 2048]: quantised to uint8 like saved
    images (x * 127.5 + 128, clamped, truncated), then the model's pool features."""
    if images.ndim != 4 or images.shape[1] != 3 or not images.is_floating_point():
        raise InputError(f"images must be float [N, 3, H, W] in [-1, 1], got {images.dtype} {list(images.shape)}")
    out = []
    for i in range(0, len(images), batch_size):
        x = (images[i:i + batch_size] * 127.5 + 128).clamp(0, 255).to(torch.uint8)
        feats = model(x, return_features=True)
        if feats.ndim != 2 or feats.shape != (len(x), FEATURE_DIM):
            raise CheckpointError(f"the Inception model returned features {list(feats.shape)}, "
                                  f"expected [{len(x)}, {FEATURE_DIM}]")
        out.append(feats.double())
    return torch.cat(out)


def fid(model: torch.jit.ScriptModule, images_a: torch.Tensor, images_b: torch.Tensor) -> float:
    """Fréchet Inception Distance between two image sets (float [N, 3, H, W] in [-1, 1])."""
    return frechet_distance(inception_features(model, images_a), inception_features(model, images_b))


def kid(model: torch.jit.ScriptModule, images_a: torch.Tensor, images_b: torch.Tensor) -> float:
    """Kernel Inception Distance (unbiased MMD^2, 100 subsets of at most 1000) between two image sets."""
    return kernel_distance(inception_features(model, images_a), inception_features(model, images_b),
                           subsets=100, subset_size=1000)
