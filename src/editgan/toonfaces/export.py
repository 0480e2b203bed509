"""Write a toonface split to disk: images, label maps and parameters.

Layout of `out`:
  images/{seed}.png   RGB uint8
  labels/{seed}.png   8-bit greyscale, pixel value = label index in TOONFACES_LABELS
  params.jsonl        one {"index", "seed", "split", "image", "labels", "params"} per line
  labels.json         the label scheme (names, colours)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from editgan.errors import InputError
from editgan.toonfaces.dataset import split_seed
from editgan.toonfaces.params import sample_params
from editgan.toonfaces.render import render
from editgan.toonfaces.scheme import TOONFACES_LABELS


def write_split(out: Path, n: int, size: int = 128, split: str = "train", start: int = 0,
                progress: Callable[[int], None] | None = None) -> Path:
    """Render items start .. start+n-1 of `split` into `out`; returns the params.jsonl path."""
    if n < 1:
        raise InputError(f"--n must be at least 1, got {n}")
    split_seed(split, start)
    split_seed(split, start + n - 1)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"output path {out} exists and is not a folder")
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(exist_ok=True)
    (out / "labels.json").write_text(json.dumps(TOONFACES_LABELS.to_json(), indent=2) + "\n")
    jsonl = out / "params.jsonl"
    with jsonl.open("w") as f:
        for index in range(start, start + n):
            seed = split_seed(split, index)
            params = sample_params(seed)
            image, labels = render(params, size)
            name = f"{seed:08d}.png"
            Image.fromarray(image).save(out / "images" / name)
            Image.fromarray(labels.astype("uint8"), mode="L").save(out / "labels" / name)
            record = {"index": index, "seed": seed, "split": split, "image": f"images/{name}",
                      "labels": f"labels/{name}", "params": params.to_dict()}
            f.write(json.dumps(record) + "\n")
            if progress:
                progress(1)
    return jsonl
