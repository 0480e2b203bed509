"""A generator that crops its output (the layout of the 512x384 car model, here 32 px with crop
(4, 0, 24, 32)): every entry point takes real images, fitted to the 32x24 content (an image of that
aspect is kept whole, another aspect is centre-cropped to it), and its outputs have that size."""

import numpy as np
import pytest
from PIL import Image

from conftest import make_tiny_generator
from edit_fixtures import MOUTH, make_tiny_segmenter, write_edit_bundle
from editgan.cli import main
from editgan.editor import load
from editgan.files import load_tensors
from editgan.io.images import load_image

CROP = (4, 0, 24, 32)
CONTENT = (24, 32)  # (height, width)


@pytest.fixture
def world(tmp_path):
    g = make_tiny_generator(crop=CROP)
    write_edit_bundle(tmp_path / "bundle", g, make_tiny_segmenter(g))
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    for name, (h, w) in {"car": (48, 64), "square": (40, 40)}.items():  # 4:3 like the content, and 1:1
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(tmp_path / "images" / f"{name}.png")
    return g, tmp_path


def test_load_image_fits_the_content_aspect(tmp_path):
    arr = np.zeros((30, 30, 3), np.uint8)
    arr[:4] = 255  # a white band on top: cut away when a square is fitted to 4:3 (rows 4..25 kept)
    Image.fromarray(arr).save(tmp_path / "sq.png")
    fitted = load_image(tmp_path / "sq.png", CONTENT)
    assert fitted.shape == (1, 3, 24, 32) and fitted.max() < -0.9  # no white left
    wide = np.zeros((48, 64, 3), np.uint8)
    wide[:, :32] = 255
    Image.fromarray(wide).save(tmp_path / "wide.png")
    kept = load_image(tmp_path / "wide.png", CONTENT)  # same aspect: the whole image, resized
    assert (kept[0, :, :, 0] > 0.9).all() and (kept[0, :, :, -1] < -0.9).all()
    assert load_image(tmp_path / "wide.png", 16).shape == (1, 3, 16, 16)  # an int is a square


def test_cli_embed_segment_and_edit(world):
    g, tmp = world
    images = [str(tmp / "images" / f"{n}.png") for n in ("car", "square")]
    assert main(["embed", *images, "--bundle", str(tmp / "bundle"), "--embed-steps", "2", "--out", str(tmp / "emb")]) == 0
    for name in ("car", "square"):
        assert Image.open(tmp / "emb" / f"{name}.recon.png").size == (32, 24)
        assert load_tensors(tmp / "emb" / f"{name}.wplus.safetensors")["wplus"].shape == (g.num_ws, g.config.w_dim)
    assert main(["segment", *images, "--bundle", str(tmp / "bundle"), "--embed-steps", "2",
                 "--out", str(tmp / "seg")]) == 0
    for name in ("car", "square"):
        sizes = {Image.open(tmp / "seg" / f"{name}.{kind}.png").size for kind in ("labels", "mask", "overlay")}
        assert sizes == {(32, 24)}  # the overlay matches the label map
    target = np.asarray(Image.open(tmp / "seg" / "car.labels.png")).copy()
    target[8:16, 8:20] = MOUTH
    Image.fromarray(target).save(tmp / "target.png")
    assert main(["edit", "--bundle", str(tmp / "bundle"), "--latent", str(tmp / "emb" / "car.wplus.safetensors"),
                 "--target", str(tmp / "target.png"), "--parts", "mouth", "--edit-steps", "2",
                 "--out", str(tmp / "edit")]) == 0
    assert Image.open(tmp / "edit" / "after.png").size == (32, 24)


def test_editor_embed_and_encoder_canvas(world):
    g, tmp = world
    ed = load(tmp / "bundle")
    result = ed.embed(tmp / "images" / "square.png", steps=1)
    assert result.reconstruction.shape == (1, 3, 24, 32)


def test_batch_apply_on_image_files(world):
    g, tmp = world
    ed = load(tmp / "bundle", vectors=tmp / "vectors")
    w = ed.sample(seed=1)
    target = ed.segment(w).clone()
    target[:, 8:16, 8:20] = MOUTH
    _, vector = ed.edit(w, target, ["mouth"], name="open", steps=2)
    ed.library.add(vector)
    assert main(["batch", "apply", str(tmp / "images" / "car.png"), "--bundle", str(tmp / "bundle"),
                 "--vectors", str(tmp / "vectors"), "--vector", "open=1", "--embed-steps", "2",
                 "--out", str(tmp / "batch")]) == 0
    outputs = sorted((tmp / "batch" / "car").glob("*.png"))
    assert outputs and all(Image.open(p).size == (32, 24) for p in outputs)


def test_train_segmenter_from_image_annotations(world):
    g, tmp = world
    (tmp / "masks").mkdir()
    (tmp / "annotated").mkdir()
    for name in ("car", "square"):  # annotated images come at the content size, pixel-aligned with their masks
        Image.open(tmp / "images" / f"{name}.png").resize((32, 24)).save(tmp / "annotated" / f"{name}.png")
        mask = np.zeros(CONTENT, np.uint8)
        mask[6:18, 4:28] = 1
        Image.fromarray(mask).save(tmp / "masks" / f"{name}.png")
    assert main(["train", "segmenter", "--bundle", str(tmp / "bundle"), "--images", str(tmp / "images"),
                 "--masks", str(tmp / "masks"), "--embed-steps", "2", "--out", str(tmp / "bad")]) == 1
    assert main(["train", "segmenter", "--bundle", str(tmp / "bundle"), "--images", str(tmp / "annotated"),
                 "--masks", str(tmp / "masks"), "--embed-steps", "2", "--members", "2", "--max-steps", "5",
                 "--out", str(tmp / "seg")]) == 0
    latents = load_tensors(tmp / "seg" / "annotations.wplus.safetensors")
    assert sorted(latents) == ["car", "square"]


def test_web_upload(world):
    from fastapi.testclient import TestClient

    from app_fixtures import follow, png_array
    from editgan.app import create_app

    g, tmp = world
    client = TestClient(create_app(load(tmp / "bundle")))
    sid = client.post("/api/sessions").json()["session_id"]
    info = client.get("/api/info").json()
    assert info["image_size"] == [24, 32] and info["label_size"] == [24, 32]
    with open(tmp / "images" / "square.png", "rb") as f:
        r = client.post(f"/api/sessions/{sid}/upload", files={"file": ("square.png", f, "image/png")},
                        data={"steps": "1"})
    assert r.status_code == 202, r.text
    done = follow(client, r.json()["job_id"])[-1]
    assert done["event"] == "done" and png_array(done["image"]).shape == (24, 32, 3)
