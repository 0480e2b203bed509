"""Image conversion at the file edge: float NCHW in [-1, 1] <-> uint8 HWC, grids, PNG writing,
and reading user images (`load_image`)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from editgan.errors import InputError
from editgan.files import atomic_path


MIN_SIDE = 16
MAX_SIDE = 8192
MAX_PIXELS = 64_000_000
ORIENTATION_TAG = 0x0112  # EXIF orientation
BACKGROUND = (255, 255, 255)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] float in [-1, 1] -> uint8 [N, H, W, C] (values outside are clipped)."""
    if images.ndim != 4:
        raise ValueError(f"expected [N, C, H, W], got {list(images.shape)}")
    x = ((images.detach().float().cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def from_uint8(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, C] or [H, W, C] -> float [N, C, H, W] in [-1, 1]."""
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[None]
    return torch.from_numpy(arr.astype(np.float32)).permute(0, 3, 1, 2) / 127.5 - 1


def make_grid(images: np.ndarray, cols: int | None = None, pad: int = 2, fill: int = 255) -> np.ndarray:
    """uint8 [N, H, W, C] -> one uint8 [rows*(H+pad)+pad, cols*(W+pad)+pad, C] mosaic."""
    n, h, w, c = images.shape
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), fill, dtype=np.uint8)
    for i, img in enumerate(images):
        r, col = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y:y + h, x:x + w] = img
    return grid


def save_png(path: str | Path, image: np.ndarray) -> Path:
    """Write uint8 [H, W, C] or [H, W] to PNG atomically."""
    path = Path(path)
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")
    return path


def load_image(path: str | Path, size: int | tuple[int, int],
               crop: tuple[int, int, int, int] | None = None, max_pixels: int = MAX_PIXELS) -> torch.Tensor:
    """Read a user image file -> float [1, 3, H, W] in [-1, 1], (H, W) = size (an int: square).
    A generator's `config.image_size` is the size it takes (its crop's, e.g. 384x512 for the car model).

    Conversions, in order:
    - the first frame of animated/multi-page files; EXIF orientation applied;
    - `crop` (top, left, height, width) in source pixels, the project's one crop convention, if given;
    - transparency (RGBA, LA, PA, palette or RGB with a transparent colour) composited on white;
    - 16-bit grayscale scaled to 8 bit; grayscale, 1-bit, palette, CMYK (PIL's plain
      conversion, no colour profile), YCbCr etc. converted to RGB;
    - an image of another aspect centre-cropped to W:H (nothing is padded or squashed; an image
      of that aspect, e.g. a 1024x768 car photo for 512x384, is kept whole);
    - resized with Lanczos to W x H.
    InputError, naming the file, for a missing file, a non-image, a truncated or corrupt file,
    a side < 16 px, or a side > 8192 px or more than `max_pixels` (64 Mpx by default; checked from the
    header, before decoding, so a decompression bomb is never expanded). Decoding an RGB file takes
    about 4 bytes per source pixel (one copy of the image; more only to convert, transpose or crop).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                _check_size(path, im.size, max_pixels)
                im.seek(0)
                im.load()
                if im.getexif().get(ORIENTATION_TAG, 1) != 1:  # only then a transposed copy
                    im = ImageOps.exif_transpose(im)
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image file PIL can read") from None
    except Image.DecompressionBombError:
        raise InputError(f"{path}: image is too large (over {MAX_PIXELS // 1_000_000} Mpx)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise InputError(f"{path}: truncated or corrupt image ({err})") from None
    if crop is not None:
        top, left, height, width = crop
        if not (0 <= top and 0 <= left and height > 0 and width > 0 and top + height <= im.height
                and left + width <= im.width):
            raise InputError(f"{path}: crop (top, left, height, width) {tuple(crop)} is not inside the "
                             f"{im.width}x{im.height} image")
        im = im.crop((left, top, left + width, top + height))
    if min(im.size) < MIN_SIDE:
        raise InputError(f"{path}: image (after any crop) is {im.width}x{im.height}; at least "
                         f"{MIN_SIDE}x{MIN_SIDE} is needed")
    rgb = _to_rgb(im, path)
    out_h, out_w = (size, size) if isinstance(size, int) else size
    # The largest centred window of aspect out_w:out_h (integer arithmetic: exact for equal aspects).
    win_w, win_h = min(rgb.width, rgb.height * out_w // out_h), min(rgb.height, rgb.width * out_h // out_w)
    left, upper = (rgb.width - win_w) // 2, (rgb.height - win_h) // 2
    if (win_w, win_h) != rgb.size:  # every copy of a large image costs memory: crop only when needed
        rgb = rgb.crop((left, upper, left + win_w, upper + win_h))
    if rgb.size != (out_w, out_h):
        rgb = rgb.resize((out_w, out_h), Image.LANCZOS)
    return from_uint8(np.asarray(rgb, dtype=np.uint8))


def _check_size(path: Path, size: tuple[int, int], max_pixels: int = MAX_PIXELS) -> None:
    w, h = size
    if max(w, h) > MAX_SIDE or w * h > max_pixels:
        raise InputError(f"{path}: image is {w}x{h}; at most {MAX_SIDE} px per side and "
                         f"{max_pixels / 1_000_000:g} Mpx are accepted")


def _to_rgb(im: Image.Image, path: Path) -> Image.Image:
    """Any PIL mode -> RGB, transparency composited on white, 16-bit grayscale scaled to 8 bit."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L"):
        arr = np.asarray(im, dtype=np.float64) / 257.0
        im = Image.fromarray(arr.round().clip(0, 255).astype(np.uint8), mode="L")
    if im.mode == "F":
        raise InputError(f"{path}: 32-bit floating-point images are not supported; save as 8 or 16 bit")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (im.mode in ("P", "L", "RGB") and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im if im.mode == "RGB" else im.convert("RGB")
