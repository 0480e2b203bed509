"""EditGAN: high-precision semantic image editing with GANs (PyTorch, CPU-first)."""

from editgan.errors import (
    CheckpointError,
    ConfigError,
    EditGANError,
    InputError,
    MissingWeightsError,
    UnsafePickleError,
)

__version__ = "0.1.0"


def load(bundle="toonfaces", device="cpu", vectors=None):
    """An `editgan.session.Editor` for a bundle name or directory (imported lazily; see session.load)."""
    from editgan.session import load as _load

    return _load(bundle, device=device, vectors=vectors)


__all__ = [
    "CheckpointError",
    "ConfigError",
    "EditGANError",
    "InputError",
    "MissingWeightsError",
    "UnsafePickleError",
    "__version__",
    "load",
]
