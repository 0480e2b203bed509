"""What travels between the web page and the server: PNG bytes, data URLs and label maps.

A label map crosses the wire as base64 of its H*W bytes, row-major, one uint8 label index per
pixel (`encode_labels` / `decode_labels`); images as PNG, inline as `data:image/png;base64,...`.
"""

from __future__ import annotations

import base64
import binascii
import io

import numpy as np
import torch
from PIL import Image

from editgan.errors import InputError
from editgan.io.images import to_uint8
from editgan.labels import LabelScheme

DIFFERENCE_GAIN = 4  # the difference view multiplies |after - before| (uint8 levels) by this


def png_bytes(image: np.ndarray) -> bytes:
    """uint8 [H, W, 3] (RGB) or [H, W] (one channel, e.g. label indices) -> PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def image_png(image: torch.Tensor) -> bytes:
    """One image [1, 3, H, W] (or [3, H, W]) in [-1, 1] -> PNG bytes."""
    return png_bytes(to_uint8(image if image.ndim == 4 else image[None])[0])


def difference(before: np.ndarray, after: np.ndarray, gain: int = DIFFERENCE_GAIN) -> np.ndarray:
    """uint8 [H, W, 3] pair -> uint8 [H, W]: gain * max over RGB of |after - before|, clipped at 255."""
    diff = np.abs(after.astype(np.int32) - before.astype(np.int32)).max(axis=2)
    return np.minimum(diff * gain, 255).astype(np.uint8)


def encode_labels(labels: torch.Tensor | np.ndarray) -> str:
    """Label map int [H, W] (indices < 256) -> base64 of its H*W uint8 bytes, row-major."""
    arr = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    return base64.b64encode(arr.astype(np.uint8).tobytes()).decode("ascii")


def decode_labels(text: str, height: int, width: int, scheme: LabelScheme | None, num_classes: int) -> torch.Tensor:
    """base64 of height*width uint8 label indices -> int64 [height, width]; InputError when the text
    is not base64, the size differs, or a label is not in [0, num_classes) (named by the scheme)."""
    if not isinstance(text, str):
        raise InputError("labels must be a base64 string of uint8 label indices")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("labels are not valid base64") from None
    if len(raw) != height * width:
        raise InputError(f"labels hold {len(raw)} values; this bundle's label map is {height}x{width} "
                         f"(HxW) = {height * width} values")
    arr = np.frombuffer(raw, dtype=np.uint8).reshape(height, width)
    if scheme is not None:
        scheme.validate(arr, what="painted label map")
    elif arr.max(initial=0) >= num_classes:
        raise InputError(f"painted label map has labels >= {num_classes}, the number of classes")
    return torch.from_numpy(arr.astype(np.int64))


def encode_latent(wplus: torch.Tensor) -> str:
    """w+ [1, num_ws, w_dim] -> base64 of its float32 values, little-endian, row-major."""
    return base64.b64encode(wplus.detach().cpu().to(torch.float32).numpy().astype("<f4").tobytes()).decode("ascii")


def decode_latent(text: str, num_ws: int, w_dim: int) -> torch.Tensor:
    """`encode_latent`'s text -> float32 [1, num_ws, w_dim]; InputError when it is not that or not finite."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("wplus is not valid base64") from None
    if len(raw) != 4 * num_ws * w_dim:
        raise InputError(f"wplus holds {len(raw) // 4} values; this generator takes w+ [1, {num_ws}, {w_dim}]")
    wplus = torch.from_numpy(np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(1, num_ws, w_dim))
    if not torch.isfinite(wplus).all():
        raise InputError("wplus has non-finite values")
    return wplus
