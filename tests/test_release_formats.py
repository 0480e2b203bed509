"""The official EditGAN release's small files: car-32 names, .npy latents, release editing vectors
(.npy and the tool's pickle), colour masks, and `train encoder` without --data."""

import json
import os
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import shipped_wplus_shape
from editgan.cli import main
from editgan.cli.train_encoder import domain_data
from editgan.edit.apply import apply_vectors
from editgan.edit.vectors import EditingVector, VectorLibrary
from editgan.errors import CheckpointError, InputError
from editgan.io.latents import load_wplus, save_wplus
from editgan.io.masks import read_mask
from editgan.labels import DATASETGAN_BIRD, DATASETGAN_CAR, DATASETGAN_CAT, DATASETGAN_FACE
from editgan.toonfaces.scheme import TOONFACES_LABELS

NUM_WS, W_DIM = 16, 512  # the release's car generator
CAR_WHEELS = ("back wheel", "front wheel", "wheelhub_back", "wheelhub_front", "spoke_back", "spoke_front")


def _ramp(*shape) -> np.ndarray:
    return (np.arange(np.prod(shape), dtype=np.float32).reshape(shape) / 1000.0 - 3.0).astype(np.float32)


# ---------------------------------------------------------------- label names
def test_car_and_cat_names_are_the_releases():
    car = DATASETGAN_CAR.names
    assert len(car) == 32 and car[0] == "background" and car[31] == "windshield"
    assert car[4:6] == ("car_light_right", "car_light_left") and car[13:15] == ("license_plate_front",
                                                                                 "licence_plate_back")
    assert car[21:28] == ("back wheel", "front wheel", "trunks", *CAR_WHEELS[2:])
    assert DATASETGAN_CAT.names[8:13] == ("ear", "eye", "mouth", "tongue", "nose")
    assert DATASETGAN_CAR.colors[31] == (72, 184, 226)


# ---------------------------------------------------------------- .npy latents
def test_npy_latents_round_trip(tmp_path):
    one = _ramp(NUM_WS, W_DIM)
    np.save(tmp_path / "latents_image_0.npy", one)
    assert torch.equal(load_wplus(tmp_path / "latents_image_0.npy", NUM_WS, W_DIM), torch.from_numpy(one)[None])
    many = _ramp(3, NUM_WS, W_DIM).astype(np.float64)
    np.save(tmp_path / "many.npy", many)
    assert torch.equal(load_wplus(tmp_path / "many.npy", NUM_WS, W_DIM), torch.from_numpy(many).float())
    np.save(tmp_path / "w.npy", one[0])
    assert torch.equal(load_wplus(tmp_path / "w.npy", NUM_WS, W_DIM)[0, 7], torch.from_numpy(one[0]))
    save_wplus(tmp_path / "out.npy", torch.from_numpy(one)[None])
    assert np.load(tmp_path / "out.npy").shape == (NUM_WS, W_DIM)  # the release's layout for one w+
    assert torch.equal(load_wplus(tmp_path / "out.npy", NUM_WS, W_DIM)[0], torch.from_numpy(one))


def test_npy_latent_errors(tmp_path):
    np.save(tmp_path / "shape.npy", _ramp(NUM_WS, 256))
    with pytest.raises(InputError, match=r"shape\.npy: expected w\+ \[N, 16, 512\], got torch.float32 \[1, 16, 256\]"):
        load_wplus(tmp_path / "shape.npy", NUM_WS, W_DIM)
    np.save(tmp_path / "ints.npy", np.zeros((NUM_WS, W_DIM), np.int64))
    with pytest.raises(InputError, match="expected a float array, got int64"):
        load_wplus(tmp_path / "ints.npy", NUM_WS, W_DIM)
    (tmp_path / "junk.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(CheckpointError, match=r"junk\.npy is not a readable \.npy array"):
        load_wplus(tmp_path / "junk.npy", NUM_WS, W_DIM)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(CheckpointError, match=r"objects\.npy is not a readable \.npy array"):
        load_wplus(tmp_path / "objects.npy", NUM_WS, W_DIM)
    with pytest.raises(CheckpointError, match="not found"):
        load_wplus(tmp_path / "missing.npy", NUM_WS, W_DIM)


def test_cli_takes_an_npy_latent(tmp_path, capsys):
    num_ws, w_dim = shipped_wplus_shape()
    lib = VectorLibrary(tmp_path / "v")
    lib.add(EditingVector(torch.full((num_ws, w_dim), 0.01), "nudge", ("mouth",)))
    np.save(tmp_path / "w.npy", _ramp(num_ws, w_dim) / 10)
    assert main(["vector", "apply", "--latent", str(tmp_path / "w.npy"), "--vectors", str(tmp_path / "v"),
                 "--vector", "nudge=2", "--out", str(tmp_path / "out")]) == 0
    after = load_wplus(tmp_path / "out" / "wplus_after.safetensors", num_ws, w_dim)
    assert torch.allclose(after[0], torch.from_numpy(_ramp(num_ws, w_dim) / 10) + 0.02)
    np.save(tmp_path / "bad.npy", _ramp(3, w_dim))
    assert main(["vector", "apply", "--latent", str(tmp_path / "bad.npy"), "--vectors", str(tmp_path / "v"),
                 "--vector", "nudge", "--out", str(tmp_path / "out2")]) == 1
    err = capsys.readouterr().err
    assert f"expected w+ [N, {num_ws}, {w_dim}]" in err and err.count("\n") == 1


# ---------------------------------------------------------------- release vectors
def _car_bundle(tmp_path, domain="car"):
    path = tmp_path / "car"
    path.mkdir()
    manifest = {"format": "editgan-bundle", "version": 1, "domain": domain, "resolution": 512, "w_dim": W_DIM,
                "num_ws": NUM_WS, "label_scheme": DATASETGAN_CAR.to_json()}
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


def _import(bundle, file, *rest) -> int:
    return main(["vector", "import", str(file), "--bundle", str(bundle), *rest])


def test_import_npy_vectors_with_parts_from_the_name(tmp_path, capsys):
    bundle = _car_bundle(tmp_path)
    v = _ramp(1, NUM_WS, W_DIM)
    expected = {"wheel_enlarge": CAR_WHEELS, "frontlight_enlarge": ("car_light_right", "car_light_left"),
                "license_plate_disappear": ("license_plate_front", "licence_plate_back")}
    for stem in expected:
        np.save(tmp_path / f"{stem}.npy", v)
        assert _import(bundle, tmp_path / f"{stem}.npy") == 0
    lib = VectorLibrary(bundle / "vectors", shape=(NUM_WS, W_DIM))
    assert lib.list() == sorted(expected)
    for stem, parts in expected.items():
        vec = lib.get(stem)
        assert vec.parts == parts and vec.default_scale == 2.0
        assert torch.equal(vec.delta, torch.from_numpy(v[0] / 2))
        assert vec.created["scale_convention"] == "ui" and vec.created["release_applies"] == "w + v * (scale / 2)"
        assert vec.created["source_format"] == "editgan-release-npy"
    # the release UI's w + v * (slider / 2), computed independently, equals ours at scale = slider
    w = _ramp(2, NUM_WS, W_DIM).astype(np.float64) / 7
    for slider in (-4, 1, 3):
        ours = apply_vectors(torch.from_numpy(w).float(), {lib.get("wheel_enlarge"): float(slider)})
        np.testing.assert_allclose(ours.numpy(), w + v.astype(np.float64) * (slider / 2), rtol=0, atol=1e-5)
    np.save(tmp_path / "raw_one.npy", v)
    assert _import(bundle, tmp_path / "raw_one.npy", "--scale-convention", "raw", "--parts", "roof, hoods") == 0
    raw = lib.get("raw_one")
    assert torch.equal(raw.delta, torch.from_numpy(v[0])) and raw.default_scale == 1.0
    assert raw.parts == ("roof", "hoods") and raw.created["parts_from"] == "given"


def test_import_refuses_bad_vectors_and_names(tmp_path, capsys):
    bundle = _car_bundle(tmp_path)
    np.save(tmp_path / "sunroof_add.npy", _ramp(1, NUM_WS, W_DIM))
    assert _import(bundle, tmp_path / "sunroof_add.npy") == 1
    err = capsys.readouterr().err
    assert "names no part of scheme 'datasetgan-car-32'; pass --parts" in err and err.count("\n") == 1
    assert _import(bundle, tmp_path / "sunroof_add.npy", "--parts", "sunroof") == 1
    assert "unknown label 'sunroof' in scheme 'datasetgan-car-32'; known: background, back bumper" in \
        capsys.readouterr().err
    assert _import(bundle, tmp_path / "sunroof_add.npy", "--parts", " , ") == 1
    assert "--parts names no label" in capsys.readouterr().err
    np.save(tmp_path / "wheel_small.npy", _ramp(1, 14, W_DIM))
    assert _import(bundle, tmp_path / "wheel_small.npy") == 1
    assert "has shape [14, 512], the bundle needs [16, 512] (num_ws, w_dim)" in capsys.readouterr().err
    np.save(tmp_path / "wheel_int.npy", np.zeros((1, NUM_WS, W_DIM), np.int32))
    assert _import(bundle, tmp_path / "wheel_int.npy") == 1
    assert "an editing vector is a float array, got int32" in capsys.readouterr().err
    assert not (bundle / "vectors").exists() or not any((bundle / "vectors").iterdir())


def test_import_never_overwrites_silently(tmp_path, capsys):
    bundle = _car_bundle(tmp_path)
    np.save(tmp_path / "wheel_enlarge.npy", _ramp(1, NUM_WS, W_DIM))
    assert _import(bundle, tmp_path / "wheel_enlarge.npy") == 0
    old = (bundle / "vectors" / "wheel_enlarge.json").read_bytes()
    np.save(tmp_path / "wheel_enlarge.npy", -_ramp(1, NUM_WS, W_DIM))
    assert _import(bundle, tmp_path / "wheel_enlarge.npy") == 1
    assert "already exists" in capsys.readouterr().err
    assert (bundle / "vectors" / "wheel_enlarge.json").read_bytes() == old
    assert _import(bundle, tmp_path / "wheel_enlarge.npy", "--overwrite") == 0
    lib = VectorLibrary(bundle / "vectors")
    assert torch.equal(lib.get("wheel_enlarge").delta, torch.from_numpy(-_ramp(NUM_WS, W_DIM) / 2))
    (backup,) = (bundle / "vectors" / ".backup").iterdir()
    assert (backup / "wheel_enlarge.json").read_bytes() == old
    assert torch.equal(EditingVector.load(backup, "wheel_enlarge").delta, torch.from_numpy(_ramp(NUM_WS, W_DIM) / 2))
    assert lib.list() == ["wheel_enlarge"]


def test_import_the_tools_pickle(tmp_path, capsys):
    bundle = _car_bundle(tmp_path)
    v = _ramp(NUM_WS, W_DIM)  # optimized_latent - org_latent: [num_ws, w_dim]
    with open(tmp_path / "current_editing_latent_cache.pickle", "wb") as f:
        pickle.dump({"edit_vector": v, "roi_ids": [21, 22, 21]}, f)
    assert _import(bundle, tmp_path / "current_editing_latent_cache.pickle", "--name", "my_wheels") == 0
    vec = VectorLibrary(bundle / "vectors").get("my_wheels")
    assert vec.parts == ("back wheel", "front wheel") and torch.equal(vec.delta, torch.from_numpy(v / 2))
    assert vec.created["source_format"] == "editgan-release-pickle"
    for bad, message in (({"edit_vector": v, "roi_ids": [40]}, "roi_ids [40] are outside scheme"),
                         ({"edit_vector": v, "roi_ids": [1], "extra": 1}, "expected the EditGAN tool's pickle"),
                         ({"edit_vector": v.tolist(), "roi_ids": [1]}, "'edit_vector' must be a numpy array"),
                         ({"edit_vector": v, "roi_ids": ["wheel"]}, "'roi_ids' must be a list of integer"),
                         ({"edit_vector": np.array([None], dtype=object), "roi_ids": [1]}, "refusing to load")):
        (tmp_path / "bad.pickle").write_bytes(pickle.dumps(bad))
        assert _import(bundle, tmp_path / "bad.pickle") == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


class _Hostile:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_import_refuses_a_hostile_pickle(tmp_path, capsys):
    bundle = _car_bundle(tmp_path)
    marker = tmp_path / "pwned"
    (tmp_path / "evil.pickle").write_bytes(pickle.dumps({"edit_vector": _Hostile(marker), "roi_ids": [1]}))
    assert _import(bundle, tmp_path / "evil.pickle") == 1
    err = capsys.readouterr().err
    assert "refusing to load global" in err and "system" in err and err.count("\n") == 1
    assert not marker.exists()


# ---------------------------------------------------------------- colour masks
SCHEMES = (DATASETGAN_FACE, DATASETGAN_CAR, DATASETGAN_CAT, DATASETGAN_BIRD, TOONFACES_LABELS)


def _all_labels(scheme, size=(12, 10)) -> np.ndarray:
    rng = np.random.default_rng(scheme.num_classes)
    labels = rng.integers(0, scheme.num_classes, size)
    labels.flat[:scheme.num_classes] = np.arange(scheme.num_classes)  # every class present
    return labels


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.name)
def test_colour_masks_round_trip(tmp_path, scheme):
    labels = _all_labels(scheme)
    # a repeated colour reads as its lowest index (computed here with a plain loop)
    lowest = np.array([min(j for j in range(scheme.num_classes) if scheme.colors[j] == scheme.colors[i])
                       for i in range(scheme.num_classes)])
    rgb = scheme.colorize(labels)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(np.dstack([rgb, np.full(labels.shape, 255, np.uint8)])).save(tmp_path / "rgba.png")
    for name in ("rgb.png", "rgba.png"):
        got = read_mask(tmp_path / name, scheme, labels.shape)
        assert got.dtype == np.int64 and np.array_equal(got, lowest[labels])
    if len(set(scheme.colors)) == scheme.num_classes:
        assert np.array_equal(read_mask(tmp_path / "rgb.png", scheme, labels.shape), labels)
    # palette PNG with the scheme's palette: indices are labels, every class exactly
    pal = Image.fromarray(labels.astype(np.uint8), "P")
    pal.putpalette(scheme.palette().ravel().tolist())
    pal.save(tmp_path / "p.png")
    assert np.array_equal(read_mask(tmp_path / "p.png", scheme, labels.shape), labels)
    # the same colours in another palette order (an image editor re-indexed them)
    order = np.random.default_rng(0).permutation(256)
    table = np.zeros((256, 3), np.uint8)
    table[order[:scheme.num_classes]] = scheme.palette()
    shuffled = Image.fromarray(order[labels].astype(np.uint8), "P")
    shuffled.putpalette(table.ravel().tolist())
    shuffled.save(tmp_path / "shuffled.png")
    assert np.array_equal(read_mask(tmp_path / "shuffled.png", scheme, labels.shape), lowest[labels])
    # label indices in mode L stay label indices
    Image.fromarray(labels.astype(np.uint8)).save(tmp_path / "l.png")
    assert np.array_equal(read_mask(tmp_path / "l.png", scheme, labels.shape), labels)


def test_unknown_colours_are_named_with_counts(tmp_path):
    rgb = DATASETGAN_CAR.colorize(np.zeros((10, 10), np.int64))
    for k in range(6):  # six unknown colours, colour k on k + 1 pixels
        rgb.reshape(-1, 3)[10 * k:10 * k + k + 1] = (1, 2, 3 + k)
    Image.fromarray(rgb).save(tmp_path / "painted.png")
    with pytest.raises(InputError) as info:
        read_mask(tmp_path / "painted.png", DATASETGAN_CAR, (10, 10))
    message = str(info.value)
    assert "painted.png has 6 colours not in scheme 'datasetgan-car-32'" in message and "\n" not in message
    assert "(1, 2, 8): 6 px, (1, 2, 7): 5 px, (1, 2, 6): 4 px, (1, 2, 5): 3 px, (1, 2, 4): 2 px" in message
    assert "(1, 2, 3)" not in message


# ---------------------------------------------------------------- train encoder without --data
def test_train_encoder_needs_data_outside_registered_domains(tmp_path, capsys):
    bundle = _car_bundle(tmp_path)
    assert main(["train", "encoder", "--bundle", str(bundle), "--out", str(tmp_path / "run"), "--steps", "1"]) == 1
    err = capsys.readouterr().err
    assert "no training data registered for the bundle's domain 'car': pass --data FOLDER" in err
    assert err.count("\n") == 1 and not (tmp_path / "run").exists()
    assert domain_data("toonfaces") == "toonfaces"
