"""Figures for readers: image tiles in a grid, small tiles enlarged, a caption above each tile and a label
left of each row. (`editgan.io.images.make_grid` is the plain mosaic, for training snapshots.)"""

from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont, features

from editgan.errors import InputError

MIN_TILE_SIDE = 160  # px: smaller tiles are enlarged by a whole factor until they reach it
PAD = 4
FONT_SIZE = 13  # of PIL's built-in font; the bitmap fallback (Pillow without FreeType) has one size
BACKGROUND = (255, 255, 255)
INK = (0, 0, 0)


def make_figure(tiles: np.ndarray | Sequence[np.ndarray | None], cols: int | None = None, *,
                captions: Sequence[str | None] | None = None, row_labels: Sequence[str] | None = None,
                min_side: int = MIN_TILE_SIDE, pad: int = PAD) -> np.ndarray:
    """Tiles, row by row in `cols` columns (default ceil(sqrt(N))), -> one uint8 [H, W, 3] figure on white.

    tiles: uint8 [N, h, w, 3] in 0..255, or a list of uint8 [h, w, 3] tiles of one size with None for
    an empty cell. A tile whose shorter side is under `min_side` px is enlarged k = ceil(min_side / side)
    times with nearest-neighbour (each pixel becomes a k x k block): nothing is interpolated or
    smoothed, so the figure shows exactly the pixels of the tile.
    captions: one per cell (None or "": no caption), written above the tile and wrapped at spaces to its
    width; a row without captions gets no caption band, so captions on the first row alone are column
    headers.
    row_labels: one per row, written left of the row ("\\n" breaks a line).
    pad: px between tiles and around them. Text is black, in PIL's built-in default font.
    InputError for a bad tile or a wrong number of captions/labels.
    """
    cells = list(tiles)
    shape = _tile_shape(cells)
    cols = math.ceil(math.sqrt(len(cells))) if cols is None else cols
    if cols < 1:
        raise InputError(f"a figure needs at least 1 column, got {cols}")
    rows = math.ceil(len(cells) / cols)
    captions = [None] * len(cells) if captions is None else list(captions)
    if len(captions) != len(cells):
        raise InputError(f"{len(captions)} captions for {len(cells)} cells; give one per cell (None for none)")
    if row_labels is not None and len(row_labels) != rows:
        raise InputError(f"{len(row_labels)} row labels for {rows} rows of {cols}; give one per row")

    k = max(1, math.ceil(min_side / min(shape[:2])))
    h, w = shape[0] * k, shape[1] * k
    font = _font()
    line_h = font.getbbox("Ag")[3] + 2
    caption_lines = [_wrap(c, font, w) if c else [] for c in captions]
    label_lines = [text.split("\n") for text in row_labels or []]
    bands = [max(len(lines) for lines in caption_lines[r * cols:(r + 1) * cols]) * line_h for r in range(rows)]
    label_w = max((math.ceil(font.getlength(line)) + pad for lines in label_lines for line in lines), default=0)
    left = label_w + pad
    tops = list(itertools.accumulate([pad + bands[0]] + [h + pad + band for band in bands[1:]]))  # rows' tile y

    def origin(i: int) -> tuple[int, int]:  # (y, x) of cell i's tile
        return tops[i // cols], left + (i % cols) * (w + pad)

    canvas = np.full((tops[-1] + h + pad, left + cols * (w + pad), 3), BACKGROUND, dtype=np.uint8)
    for i, tile in enumerate(cells):
        if tile is not None:
            y, x = origin(i)
            canvas[y:y + h, x:x + w] = np.repeat(np.repeat(tile, k, axis=0), k, axis=1)
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    for i, lines in enumerate(caption_lines):
        y, x = origin(i)
        for j, line in enumerate(lines, start=-len(lines)):  # bottom line just above the tile
            draw.text((x + (w - font.getlength(line)) / 2, y + j * line_h), line, fill=INK, font=font)
    for r, lines in enumerate(label_lines):
        y = tops[r] + (h - len(lines) * line_h) // 2
        for j, line in enumerate(lines):
            draw.text((pad, y + j * line_h), line, fill=INK, font=font)
    return np.array(image)


def _tile_shape(cells: list) -> tuple[int, int, int]:
    """The one [h, w, 3] shape of the non-empty cells; InputError for none, a bad shape or dtype, or a mix."""
    shapes = set()
    for i, tile in enumerate(cells):
        if tile is None:
            continue
        if not isinstance(tile, np.ndarray) or tile.dtype != np.uint8 or tile.ndim != 3 or tile.shape[2] != 3:
            what = f"{tile.dtype} {list(tile.shape)}" if isinstance(tile, np.ndarray) else type(tile).__name__
            raise InputError(f"figure tile {i} is {what}; tiles must be uint8 [H, W, 3]")
        shapes.add(tile.shape)
    if len(shapes) != 1:
        found = ", ".join(str(list(s)) for s in sorted(shapes))
        raise InputError(f"figure tiles must all have one size, got {found or 'no tiles'}")
    return shapes.pop()


def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """PIL's built-in font (Aileron) at FONT_SIZE; PIL's bitmap font where Pillow lacks FreeType."""
    return ImageFont.load_default(FONT_SIZE) if features.check("freetype2") else ImageFont.load_default()


def _wrap(text: str, font, width: int) -> list[str]:
    """Lines of `text` at most `width` px wide, broken at spaces and at "\\n" (a longer word stays whole)."""
    lines = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            joined = f"{line} {word}" if line else word
            if line and font.getlength(joined) > width:
                lines.append(line)
                joined = word
            line = joined
        lines.append(line)
    return lines
