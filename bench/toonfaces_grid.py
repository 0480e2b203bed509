"""Sample grid of toonfaces: images over their colourised part labels, plus one face under edits.

    PYTHONPATH=src python bench/toonfaces_grid.py [--out reports/toonfaces_grid.png] [--size 128]

Rows 1-6: test-split faces 0..23 (image row, label row). Rows 7-8: test face 0 edited with
edit_params (neutral, smile, frown, open mouth, eyes closed, brows raised, gaze, long hair).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from editgan.toonfaces import TOONFACES_LABELS, edit_params, render, sample_params
from editgan.toonfaces.dataset import split_seed

EDITS = [
    {"smile": 0.0, "mouth_open": 0.0},
    {"smile": 1.0},
    {"smile": -1.0},
    {"smile": 0.6, "mouth_open": 0.9},
    {"eye_open": 0.0},
    {"brow_raise": 1.0, "eye_open": 1.0},
    {"gaze_x": 1.0, "gaze_y": -0.6},
    {"hair_style": 1, "hair_length": 1.0},
]


def pair(params, size: int) -> tuple[np.ndarray, np.ndarray]:
    image, labels = render(params, size)
    return image, TOONFACES_LABELS.colorize(labels)


def grid(size: int, cols: int = 8, face_rows: int = 3) -> np.ndarray:
    rows = []
    for r in range(face_rows):
        tiles = [pair(sample_params(split_seed("test", r * cols + c)), size) for c in range(cols)]
        rows += [np.concatenate([t[0] for t in tiles], 1), np.concatenate([t[1] for t in tiles], 1)]
    base = edit_params(sample_params(split_seed("test", 0)), eye_open=0.8, smile=0.0, mouth_open=0.0)
    tiles = [pair(edit_params(base, **e), size) for e in EDITS]
    rows += [np.concatenate([t[0] for t in tiles], 1), np.concatenate([t[1] for t in tiles], 1)]
    return np.concatenate(rows, 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("reports/toonfaces_grid.png"))
    ap.add_argument("--size", type=int, default=128)
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid(args.size)).save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
