"""Mask files: one reader for every label map a user gives us (edit targets, annotations).

A mask is read into int64 [H, W] label indices of a `LabelScheme` from:
- `.npy`: a 2-D integer array of label indices (read with allow_pickle=False);
- PNG mode L / I / I;16: one label index per pixel;
- PNG mode P: the pixel values are label indices when the palette agrees with the scheme's
  colours at those indices, or is a grey ramp, or has colours outside the scheme; when the used
  colours are all the scheme's (in another order), each pixel gets the label of its colour;
- PNG mode RGB / RGBA: a colour mask in the scheme's palette (e.g. `LabelScheme.colorize` or the
  official EditGAN tool's `colorize_mask`), matched exactly; alpha is ignored.
A colour that the scheme gives to several classes (cat-16 and bird-11 repeat (220, 220, 0) for
classes 1 and 4, resp. 1 and 5) is ambiguous in a colour mask: it reads as the lowest of those
indices. (The release's own colour reader loops over the palette and keeps the highest.) Save
such masks as label indices (mode L / P, or .npy) to keep every class. Unknown colours are
refused, naming up to five as (r, g, b) with their pixel counts.

A mask's size is checked from the file's header (PNG) or .npy header before any pixel is decoded,
so a small file that claims a huge image (a decompression bomb) is refused without expanding it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from editgan.errors import InputError
from editgan.labels import LabelScheme

MASK_SUFFIXES = (".png", ".npy")
INDEX_MODES = ("L", "I", "I;16")
COLOUR_MODES = ("RGB", "RGBA")


def read_mask(path: str | Path, scheme: LabelScheme, size: tuple[int, int]) -> np.ndarray:
    """A mask file -> int64 [H, W] label indices (see the module docstring for the formats);
    InputError naming the file if it cannot be read, has another size than `size` (H, W), holds
    labels outside `scheme` or colours not in its palette."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if path.suffix.lower() == ".npy":
                header = np.load(path, allow_pickle=False, mmap_mode="r")  # the header only, no pixels read
                if not isinstance(header, np.ndarray):  # an .npz archive
                    raise InputError(f"mask {path} is not a .npy array file")
                _check_size(path, header.shape, size)
                arr = np.array(header)
            else:
                with Image.open(path) as img:
                    _check_size(path, (img.height, img.width), size)
                    arr = _decode(img, scheme, f"mask {path}")
    except Image.DecompressionBombError:
        raise InputError(f"mask {path} claims more pixels than PIL decodes safely; the segmenter labels "
                         f"{size[0]}x{size[1]} pixels") from None
    except (OSError, ValueError, EOFError) as err:
        raise InputError(f"cannot read mask {path}: {err}") from None
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"mask {path} must be a 2-D integer label map, got {arr.dtype} {list(arr.shape)}")
    scheme.validate(arr, what=f"mask {path}")
    return arr.astype(np.int64)


def _check_size(path: Path, shape: tuple[int, ...], size: tuple[int, int]) -> None:
    """InputError unless a mask's header shape (H, W) is `size`; checked before decoding."""
    if len(shape) == 2 and tuple(shape) != tuple(size):
        raise InputError(f"mask {path} is {shape[0]}x{shape[1]} (HxW), the segmenter labels "
                         f"{size[0]}x{size[1]} pixels")


def _decode(img: Image.Image, scheme: LabelScheme, what: str) -> np.ndarray:
    """A PIL image -> label indices [H, W] (not yet range-checked)."""
    if img.mode in INDEX_MODES:
        return np.asarray(img)
    if img.mode == "P":
        return _decode_palette(img, scheme, what)
    if img.mode in COLOUR_MODES:
        return labels_from_colours(np.asarray(img)[..., :3], scheme, what)
    raise InputError(f"{what} is a {img.mode} image; a mask is a label-index PNG (mode L, P or I), "
                     "a colour mask in the label scheme's palette (RGB/RGBA), or a .npy label map")


def _decode_palette(img: Image.Image, scheme: LabelScheme, what: str) -> np.ndarray:
    indices = np.asarray(img)
    raw = img.getpalette() or []
    palette = np.asarray(raw[:len(raw) // 3 * 3], np.uint8).reshape(-1, 3)
    used = np.unique(indices)
    if used.max(initial=0) >= len(palette):
        return indices  # indices beyond the palette have no colour: read them as labels
    colours = palette[used]
    known = scheme.palette()
    in_range = used < scheme.num_classes
    if in_range.all() and (colours == known[used]).all():
        return indices  # the scheme's own palette: indices are labels
    grey = (colours == colours[:, :1]).all()
    if not grey and all((known == c).all(axis=1).any() for c in colours):
        return labels_from_colours(palette[indices], scheme, what)  # scheme colours, other order
    return indices  # a grey ramp or a display palette unrelated to the scheme: indices are labels


def labels_from_colours(rgb: np.ndarray, scheme: LabelScheme, what: str = "colour mask") -> np.ndarray:
    """uint8 [H, W, 3] colours of `scheme` -> int64 [H, W] labels (exact match; a repeated colour
    gives its lowest index). InputError naming up to five unknown colours with pixel counts."""
    rgb = np.asarray(rgb, dtype=np.uint8)
    keys = _pack(rgb.reshape(-1, 3))
    uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    lookup = {}
    for index, key in reversed(list(enumerate(_pack(scheme.palette())))):
        lookup[int(key)] = index  # reversed: the lowest index of a repeated colour wins
    labels = np.array([lookup.get(int(k), -1) for k in uniq], dtype=np.int64)
    unknown = np.flatnonzero(labels < 0)
    if unknown.size:
        worst = unknown[np.argsort(-counts[unknown], kind="stable")][:5]
        listed = ", ".join(f"{_unpack(uniq[i])}: {counts[i]} px" for i in worst)
        raise InputError(f"{what} has {unknown.size} colours not in scheme {scheme.name!r}'s palette, e.g. "
                         f"{listed} (a grey label-index image must be saved as mode L, not RGB)")
    return labels[inverse].reshape(rgb.shape[:2])


def _pack(rgb: np.ndarray) -> np.ndarray:
    """uint8 [..., 3] -> int64 [...] = r * 65536 + g * 256 + b."""
    rgb = rgb.astype(np.int64)
    return rgb[..., 0] * 65536 + rgb[..., 1] * 256 + rgb[..., 2]


def _unpack(key: int) -> tuple[int, int, int]:
    key = int(key)
    return key >> 16, (key >> 8) & 255, key & 255
