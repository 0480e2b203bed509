"""Toonface dataset splits, torch Dataset, and the `editgan data toonfaces` writer."""

import argparse
import json

import numpy as np
import pytest
import torch
from PIL import Image

from editgan.errors import InputError
from editgan.toonfaces import TOONFACES_LABELS, ToonParams, render, sample_params
from editgan.toonfaces.commands import data as data_cli
from editgan.toonfaces.dataset import SPLITS, ToonFacesDataset, image_to_tensor, render_split, split_seed


def test_splits_are_disjoint_and_fixed():
    assert split_seed("train", 0) == 0 and split_seed("train", 999_999) == 999_999
    assert split_seed("test", 0) == 10_000_000
    assert set(SPLITS["train"]).isdisjoint(range(SPLITS["test"].start, SPLITS["test"].start + 10))
    with pytest.raises(InputError, match="unknown toonfaces split"):
        split_seed("val", 0)
    with pytest.raises(InputError, match="index"):
        split_seed("train", 1_000_000)


def test_dataset_items_match_renderer():
    ds = ToonFacesDataset("test", size=64, length=3)
    assert len(ds) == 3
    item = ds[2]
    image, labels = render(sample_params(10_000_002), 64)
    assert item["seed"] == 10_000_002
    assert item["image"].shape == (3, 64, 64) and item["image"].dtype == torch.float32
    assert item["labels"].dtype == torch.int64 and torch.equal(item["labels"], torch.from_numpy(labels))
    assert float(item["image"].min()) >= -1 and float(item["image"].max()) <= 1
    back = ((item["image"].permute(1, 2, 0) + 1) * 127.5).round().to(torch.uint8).numpy()
    assert np.array_equal(back, image)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert batch["image"].shape == (2, 3, 64, 64) and batch["labels"].shape == (2, 64, 64)
    with pytest.raises(IndexError):
        ds[3]
    with pytest.raises(InputError):
        ToonFacesDataset("train", length=0)


def test_image_to_tensor_values():
    x = np.array([[[0, 255, 51]]], dtype=np.uint8)
    t = image_to_tensor(x)
    assert t.shape == (3, 1, 1)
    assert torch.allclose(t.flatten(), torch.tensor([-1.0, 1.0, 51 / 127.5 - 1]))


def _parse(argv):
    parser = argparse.ArgumentParser()
    data_cli.register(parser.add_subparsers())
    return parser.parse_args(argv)


def test_data_cli_writes_images_labels_and_params(tmp_path, capsys):
    args = _parse(["data", "toonfaces", "--n", "3", "--size", "64", "--out", str(tmp_path), "--split", "test",
                   "--start", "5"])
    assert args.func(args) == 0
    lines = [json.loads(x) for x in (tmp_path / "params.jsonl").read_text().splitlines()]
    assert [r["seed"] for r in lines] == [10_000_005, 10_000_006, 10_000_007]
    rec = lines[1]
    params = ToonParams.from_dict(rec["params"])
    assert params == sample_params(rec["seed"])
    image, labels = render(params, 64)
    assert np.array_equal(np.asarray(Image.open(tmp_path / rec["image"])), image)
    assert np.array_equal(np.asarray(Image.open(tmp_path / rec["labels"])).astype(np.int64), labels)
    assert json.loads((tmp_path / "labels.json").read_text()) == TOONFACES_LABELS.to_json()
    assert "wrote 3 test faces" in capsys.readouterr().out


@pytest.mark.parametrize("argv, match", [
    (["--n", "0"], "--n"),
    (["--n", "2", "--size", "300"], "--size"),
    (["--n", "2", "--start", "999999"], "index"),
])
def test_data_cli_bad_input(tmp_path, argv, match):
    args = _parse(["data", "toonfaces", "--out", str(tmp_path / "d")] + argv)
    with pytest.raises(InputError, match=match):
        args.func(args)


def test_render_split_matches_the_dataset_items():
    seeds, images, labels = render_split("test", 3, 64, start=5)
    assert seeds == [split_seed("test", i) for i in (5, 6, 7)]
    assert images.shape == (3, 64, 64, 3) and images.dtype == np.uint8 and labels.dtype == np.int64
    item = ToonFacesDataset("test", size=64)[6]
    assert torch.equal(image_to_tensor(images[1]), item["image"])
    assert np.array_equal(labels[1], item["labels"].numpy())
