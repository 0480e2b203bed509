"""EditGAN: high-precision semantic image editing with GANs (PyTorch, CPU-first)."""

from editgan.runtime.allocator import request_huge_pages

request_huge_pages()  # before torch is imported (editgan.runtime.allocator)

from editgan.errors import (  # noqa: E402
    CheckpointError,
    ConfigError,
    EditGANError,
    InputError,
    MissingWeightsError,
    UnsafePickleError,
)
from editgan.editor import Editor, load  # noqa: E402

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
