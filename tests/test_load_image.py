"""load_image: mode conversions, centre crop, Lanczos resize, and clear errors naming the file."""

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from editgan.errors import InputError
from editgan.io.images import load_image


def save(tmp_path, name, image, **kwargs):
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


def pixel(t, y, x):
    """[1, 3, H, W] in [-1, 1] -> the uint8 RGB triple at (y, x)."""
    return tuple(((t[0, :, y, x] + 1) * 127.5).round().int().tolist())


def test_rgb_same_size_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    t = load_image(save(tmp_path, "a.png", Image.fromarray(arr)), 32)
    assert t.shape == (1, 3, 32, 32) and t.dtype == torch.float32
    assert np.array_equal(((t[0].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy(), arr)


def test_alpha_on_white_and_modes(tmp_path):
    rgba = Image.new("RGBA", (16, 16), (255, 0, 0, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    rgba.putpixel((1, 0), (0, 0, 255, 128))
    t = load_image(save(tmp_path, "rgba.png", rgba), 16)
    assert pixel(t, 0, 0) == (255, 255, 255) and pixel(t, 0, 2) == (255, 0, 0)
    assert pixel(t, 0, 1) == pytest.approx((127, 127, 255), abs=1)
    gray = load_image(save(tmp_path, "l.png", Image.new("L", (16, 16), 77)), 16)
    assert pixel(gray, 5, 5) == (77, 77, 77)
    g16 = Image.fromarray(np.full((16, 16), 257 * 200, dtype=np.uint16))
    assert pixel(load_image(save(tmp_path, "g16.png", g16), 16), 3, 3) == (200, 200, 200)
    pal = Image.new("RGB", (16, 16), (10, 200, 30)).convert("P", palette=Image.ADAPTIVE, colors=4)
    assert pixel(load_image(save(tmp_path, "p.png", pal), 16), 8, 8) == (10, 200, 30)
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))
    assert pixel(load_image(save(tmp_path, "c.jpg", cmyk, quality=100), 16), 8, 8) == pytest.approx((255, 0, 0), abs=3)


def test_centre_crop_and_resize(tmp_path):
    arr = np.zeros((20, 40, 3), dtype=np.uint8)
    arr[:, 10:30] = 255  # the centre square is all white, the sides black
    t = load_image(save(tmp_path, "wide.png", Image.fromarray(arr)), 20)
    assert torch.equal(t, torch.ones(1, 3, 20, 20))
    t = load_image(tmp_path / "wide.png", 16, crop=(0, 0, 20, 20))  # left half: black then white
    assert pixel(t, 8, 0) == (0, 0, 0) and pixel(t, 8, 15) == (255, 255, 255)
    big = load_image(tmp_path / "wide.png", 64)
    assert big.shape == (1, 3, 64, 64)
    with pytest.raises(InputError, match="is not inside"):
        load_image(tmp_path / "wide.png", 16, crop=(0, 0, 50, 20))


def png_with_header_size(tmp_path, name, width, height):
    """A small PNG whose IHDR claims width x height (valid CRC): only the header is read before
    the size check, so this stands in for a huge file without allocating it."""
    path = save(tmp_path, name, Image.new("L", (16, 16)))
    data = bytearray(path.read_bytes())
    ihdr = 8  # after the signature: length (4) 'IHDR' (4) data (13) crc (4)
    data[ihdr + 8:ihdr + 16] = struct.pack(">II", width, height)
    data[ihdr + 21:ihdr + 25] = struct.pack(">I", zlib.crc32(bytes(data[ihdr + 4:ihdr + 21])))
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.png", "no such image file"),
    (lambda d: (d / "notes.png").write_text("hello") and d / "notes.png", "not an image"),
    (lambda d: save(d, "small.png", Image.new("RGB", (15, 40))), "at least 16x16"),
    (lambda d: png_with_header_size(d, "wide.png", 9000, 16), "at most 8192"),
    (lambda d: png_with_header_size(d, "bomb.png", 8000, 8100), "64 Mpx"),
])
def test_bad_files_name_the_file(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(InputError, match=message) as err:
        load_image(path, 32)
    assert path.name in str(err.value)


def test_truncated_file(tmp_path):
    rng = np.random.default_rng(1)
    path = save(tmp_path, "cut.png", Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)))
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(InputError, match="cut.png: truncated or corrupt"):
        load_image(path, 32)
