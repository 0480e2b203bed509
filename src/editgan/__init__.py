"""EditGAN: high-precision semantic image editing with GANs (PyTorch, CPU-first)."""

from editgan.errors import (
    CheckpointError,
    ConfigError,
    EditGANError,
    InputError,
    MissingWeightsError,
    UnsafePickleError,
)
from editgan.editor import Editor, load

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "ConfigError",
    "EditGANError",
    "Editor",
    "InputError",
    "MissingWeightsError",
    "UnsafePickleError",
    "__version__",
    "load",
]
