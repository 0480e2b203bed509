"""make_figure: tiles placed and enlarged pixel-exactly (checked against np.repeat and the plain make_grid),
caption and row-label bands that hold text, and one-line errors."""

import numpy as np
import pytest

from editgan.errors import InputError
from editgan.io.figures import make_figure
from editgan.io.images import make_grid

RED = (255, 0, 0)


def tiles(n, h=8, w=6, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def red_box(fig):
    """(top, left, height, width) of the red pixels (uniform red tiles; the text is black)."""
    ys, xs = np.nonzero(np.all(fig == RED, axis=2))
    return ys.min(), xs.min(), ys.max() + 1 - ys.min(), xs.max() + 1 - xs.min()


def test_small_tiles_are_enlarged_nearest_neighbour_at_their_grid_offsets():
    t, pad, k = tiles(5), 3, 4  # 8x6 tiles, min_side 20: k = ceil(20 / 6) = 4
    cells = [t[0], t[1], None, t[2], t[3], t[4]]
    fig = make_figure(cells, cols=3, min_side=20, pad=pad)
    h, w = 8 * k, 6 * k
    assert fig.shape == (pad + 2 * (h + pad), pad + 3 * (w + pad), 3) and fig.dtype == np.uint8
    for i, tile in enumerate(cells):
        r, c = divmod(i, 3)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        cell = fig[y:y + h, x:x + w]
        expected = np.full_like(cell, 255) if tile is None else np.repeat(np.repeat(tile, k, axis=0), k, axis=1)
        np.testing.assert_array_equal(cell, expected)


def test_without_text_or_enlargement_it_is_the_plain_grid():
    t = tiles(7, h=20, w=20)
    np.testing.assert_array_equal(make_figure(t, cols=3, min_side=20, pad=2), make_grid(t, cols=3, pad=2))
    np.testing.assert_array_equal(make_figure(t, min_side=0, pad=2), make_grid(t, pad=2))


def test_captions_and_row_labels_get_bands_with_text():
    red = np.full((4, 4, 3), RED, dtype=np.uint8)
    plain = make_figure([red, None, None, None], cols=2, min_side=48, pad=4)
    assert red_box(plain) == (4, 4, 48, 48)

    fig = make_figure([red, None, None, None], cols=2, min_side=48, pad=4, captions=["input", "edit", None, None],
                      row_labels=["before", "after"])
    top, left, h, w = red_box(fig)
    assert (h, w) == (48, 48) and top > 4 and left > 4
    assert fig.shape[0] - plain.shape[0] == top - 4      # one caption band (row 1 has no captions)
    assert fig.shape[1] - plain.shape[1] == left - 4     # the row-label column
    header = fig[4:top, left:left + w]
    assert (header < 128).any(), "the caption is drawn in the band above the tile"
    assert (fig[top:top + h, :left] < 128).any(), "the row label is drawn left of the row"
    assert (fig[:top, :left] == 255).all(), "nothing above the row labels"

    captions = [None, None, "a", "b"]
    below = make_figure([red, None, None, None], cols=2, min_side=48, pad=4, captions=captions)
    assert red_box(below)[0] == 4 and below.shape[0] > plain.shape[0]  # a band above the second row only


def test_a_long_caption_wraps_to_the_tile_width():
    t = tiles(1, h=16, w=16)
    one = make_figure(t, min_side=64, captions=["eyes"])
    wrapped = make_figure(t, min_side=64, captions=["close eyes and raise eyebrows"])
    assert wrapped.shape[1] == one.shape[1] and wrapped.shape[0] > one.shape[0]


@pytest.mark.parametrize("kwargs, message", [
    (dict(tiles=tiles(3), cols=2, captions=["a", "b"]), r"^2 captions for 3 cells"),
    (dict(tiles=tiles(3), cols=2, row_labels=["a"]), r"^1 row labels for 2 rows of 2"),
    (dict(tiles=tiles(3), cols=0), r"at least 1 column"),
    (dict(tiles=[np.zeros((8, 8), np.uint8)]), r"tile 0 is uint8 \[8, 8\]; tiles must be uint8 \[H, W, 3\]"),
    (dict(tiles=[None, np.zeros((8, 8, 3), np.float32)]), r"tile 1 is float32 \[8, 8, 3\]"),
    (dict(tiles=[tiles(1)[0], tiles(1, h=6)[0]]), r"one size, got \[6, 6, 3\], \[8, 6, 3\]"),
    (dict(tiles=[None, None]), r"one size, got no tiles"),
    (dict(tiles=[]), r"one size, got no tiles"),
])
def test_bad_input_is_one_line_input_error(kwargs, message):
    with pytest.raises(InputError, match=message) as err:
        make_figure(**kwargs)
    assert "\n" not in str(err.value)
