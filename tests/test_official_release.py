"""The official EditGAN release end to end, on a miniature release folder with the published names,
keys and layouts (tiny widths): one import command, then edit (colour mask, release settings),
vector apply (.npy latent), embed (the FPN encoder) and the web tool work on the bundle."""

import json

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from app_fixtures import png_array
from checkpoint_layouts import rosinality_g_ema
from editgan.app import create_app
from editgan.bundle import open_bundle
from editgan.cli import main
from editgan.editor import Editor
from editgan.inversion.settings import RELEASE
from editgan.errors import InputError
from editgan.files import load_tensors
from editgan.io.images import save_png, to_uint8
from editgan.official_release import find_release_files, import_release
from editgan_release_layouts import write_release

W_DIM, NUM_WS = 32, 16  # a 512-px generator has 16 w+ entries
CHANNELS = {4: 16, 8: 16, 16: 16, 32: 8, 64: 8, 128: 8, 256: 4, 512: 4}
# the release's classifier input: the 4x4 constant (16) + every synthesis conv output
FEATURES = 16 + 16 + 2 * (16 + 16 + 8 + 8 + 8 + 4 + 4)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("release")
    g_ema = rosinality_g_ema(512, W_DIM, 2, CHANNELS, seed=3)
    arrays = write_release(root / "editGAN_release", g_ema=g_ema, latent_avg=torch.randn(W_DIM) * 0.1,
                           cin=FEATURES, num_ws=NUM_WS, w_dim=W_DIM)
    assert main(["import", "editgan-release", str(root / "editGAN_release"), "--out", str(root / "car")]) == 0
    return root, arrays


def test_import_writes_a_complete_bundle(release):
    root, arrays = release
    bundle = open_bundle(root / "car")
    m = bundle.manifest
    assert (m["domain"], m["editing"], m["embedding"], m["num_ws"], m["w_dim"]) == \
        ("car", "release", {"preset": "release"}, NUM_WS, W_DIM)
    assert bundle.labels.names[21:23] == ("back wheel", "front wheel") and bundle.labels.num_classes == 32
    assert all(bundle.has(n) for n in ("generator", "segmenter", "encoder"))
    assert bundle.generator().config.crop == (64, 0, 384, 512)
    seg, scheme = bundle.segmenter()
    assert seg.config.in_features == FEATURES and seg.config.num_members == 2 and seg.config.out_size == (384, 512)
    for i, w in enumerate(arrays["latents"]):
        assert torch.equal(load_tensors(root / "car" / "latents" / f"latents_image_{i}.safetensors")["wplus"][0],
                           torch.from_numpy(w))
    editor = Editor(bundle)
    assert editor.library.list() == sorted(arrays["vectors"])
    wheel = editor.library.get("wheel_enlarge")
    assert torch.equal(wheel.delta, torch.from_numpy(arrays["vectors"]["wheel_enlarge"][0] / 2))
    assert set(wheel.parts) >= {"back wheel", "front wheel"} and wheel.default_scale == 2.0
    with pytest.raises(InputError, match="already a bundle"):
        import_release(root / "editGAN_release", root / "car")


def test_find_release_files_names_what_is_missing(tmp_path, release):
    root, _ = release
    files = find_release_files(root / "editGAN_release")
    assert files.generator.name == "stylegan2_networks_stylegan2-car-config-f.pt" and len(files.classifiers) == 2
    assert files.encoder.name.startswith("BEST_loss") and len(files.latents) == 2 and len(files.vectors) == 3
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no car generator"):
        find_release_files(tmp_path / "empty")
    assert main(["import", "editgan-release", str(tmp_path / "nowhere"), "--out", str(tmp_path / "b")]) == 1


def test_vector_apply_from_a_release_latent(release, tmp_path):
    root, arrays = release
    latent = root / "editGAN_release" / "checkpoint" / "encoder_pretrain" / "testing_embedding" / "latents_image_0.npy"
    assert main(["vector", "apply", "--bundle", str(root / "car"), "--latent", str(latent), "--vector",
                 "wheel_enlarge=2", "--out", str(tmp_path / "a")]) == 0
    w = torch.from_numpy(arrays["latents"][0] + arrays["vectors"]["wheel_enlarge"][0])  # the release's w + v * 2/2
    editor = Editor(open_bundle(root / "car"), precision="auto")  # the command's default precision
    expected = to_uint8(editor.render(w[None]))[0]
    written = sorted((tmp_path / "a").glob("*.png"))
    assert any(np.array_equal(np.asarray(Image.open(p).convert("RGB")), expected) for p in written), written


def test_edit_with_a_colour_mask_and_the_release_settings(release, tmp_path):
    root, _ = release
    editor = Editor(open_bundle(root / "car"))
    latent = root / "car" / "latents" / "latents_image_1.safetensors"
    w = load_tensors(latent)["wplus"]
    labels = editor.segment(w)[0].numpy()
    target = labels.copy()
    target[200:260, 100:180] = editor.scheme.index("back wheel")
    Image.fromarray(editor.scheme.colorize(target)).save(tmp_path / "mask.png")  # RGB, the release's colours
    assert main(["edit", "--bundle", str(root / "car"), "--latent", str(latent), "--target", str(tmp_path / "mask.png"),
                 "--parts", "back wheel", "--edit-steps", "2", "--out", str(tmp_path / "e"),
                 "--save-vector", "mine"]) == 0
    saved = json.loads((root / "car" / "vectors" / "mine.json").read_text())
    assert saved["created"]["settings"]["keep"] == "final" and saved["created"]["settings"]["region"] == "painted"
    assert saved["losses"][0]["consistency"] > 0 and len(saved["losses"]) == 3


def test_embed_starts_from_the_release_encoder(release, tmp_path):
    root, arrays = release
    editor = Editor(open_bundle(root / "car"))
    image = to_uint8(editor.render(torch.from_numpy(arrays["latents"][0])[None]))[0]
    save_png(tmp_path / "car.png", image)
    assert image.shape == (384, 512, 3)
    assert main(["embed", str(tmp_path / "car.png"), "--bundle", str(root / "car"), "--embed-steps", "1",
                 "--out", str(tmp_path / "o")]) == 0
    from safetensors import safe_open
    with safe_open(str(tmp_path / "o" / "car.wplus.safetensors"), "pt") as f:
        meta = f.metadata()
    settings = json.loads(meta["embedding"])  # the bundle's embedding preset, steps overridden
    assert meta["init"] == "encoder" and settings == {**RELEASE.to_json(), "steps": 1, "perceptual": "msssim_l1"}


def test_web_tool_applies_a_release_vector(release):
    root, arrays = release
    editor = Editor(open_bundle(root / "car"))
    with TestClient(create_app(editor)) as client:
        sid = client.post("/api/sessions").json()["session_id"]
        assert client.post(f"/api/sessions/{sid}/sample", json={"seed": 4}).status_code == 200
        r = client.post(f"/api/sessions/{sid}/apply", json={"scales": {"wheel_enlarge": 2.0}})
        assert r.status_code == 200
        w = editor.sample(4) + torch.from_numpy(arrays["vectors"]["wheel_enlarge"][0])
        np.testing.assert_array_equal(png_array(r.content), to_uint8(editor.render(w))[0])


def test_train_encoder_fine_tunes_the_release_encoder_on_the_cropped_car(release, tmp_path):
    """--init from the imported FPN encoder; real images are 512x384 (the crop), E reads the canvas."""
    root, arrays = release
    editor = Editor(open_bundle(root / "car"))
    (tmp_path / "cars").mkdir()
    for i, w in enumerate(arrays["latents"]):
        save_png(tmp_path / "cars" / f"{i}.png", to_uint8(editor.render(torch.from_numpy(w)[None]))[0])
    Image.new("RGB", (640, 400), (9, 9, 9)).save(tmp_path / "cars" / "wide.png")  # centre-cropped to 4:3
    assert main(["train", "encoder", "--bundle", str(root / "car"), "--data", str(tmp_path / "cars"),
                 "--init", str(root / "car"), "--steps", "1", "--batch", "2", "--out", str(tmp_path / "run")]) == 0
    trained = json.loads((tmp_path / "run" / "encoder.json").read_text())
    assert trained["format"] == json.loads((root / "car" / "encoder.json").read_text())["format"]


def _copy_release(src, dst, flat: bool = False, skip=()):
    """The release folder copied to dst (every file directly in dst when flat), without names in skip."""
    import shutil
    dst.mkdir(parents=True)
    for p in sorted(src.rglob("*")):
        if p.is_file() and not any(s in p.name for s in skip):
            target = dst / (p.name if flat else p.relative_to(src))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, target)
    return dst


def test_a_failed_import_leaves_nothing_and_the_retry_works(release, tmp_path, capsys):
    root, _ = release
    download = _copy_release(root / "editGAN_release", tmp_path / "download")
    encoder = next(download.rglob("BEST_loss*.pth"))
    whole = encoder.read_bytes()
    encoder.write_bytes(whole[:len(whole) // 2])  # a truncated download
    assert main(["import", "editgan-release", str(download), "--out", str(tmp_path / "car")]) == 1
    assert "editgan import: error:" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["download"]  # no bundle, no partial folder
    encoder.write_bytes(whole)  # downloaded again
    assert main(["import", "editgan-release", str(download), "--out", str(tmp_path / "car")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["car", "download"]
    assert open_bundle(tmp_path / "car").has("encoder")
    # a failing --overwrite import leaves the bundle that was there as it was
    before = {p.relative_to(tmp_path / "car"): p.read_bytes() for p in (tmp_path / "car").rglob("*") if p.is_file()}
    np.save(download / "static" / "editing_vectors" / "wheel_enlarge.npy", np.zeros((1, 3, 7), np.float32))
    assert main(["import", "editgan-release", str(download), "--out", str(tmp_path / "car"), "--overwrite"]) == 1
    after = {p.relative_to(tmp_path / "car"): p.read_bytes() for p in (tmp_path / "car").rglob("*") if p.is_file()}
    assert after == before and sorted(p.name for p in tmp_path.iterdir()) == ["car", "download"]


def test_a_flat_download_imports_everything_and_reports_it(release, tmp_path, capsys):
    root, arrays = release
    flat = _copy_release(root / "editGAN_release", tmp_path / "checkpoint", flat=True)
    assert all(p.is_file() for p in flat.iterdir())
    capsys.readouterr()
    assert main(["import", "editgan-release", str(flat), "--out", str(tmp_path / "car")]) == 0
    out, err = capsys.readouterr()
    assert "found encoder: BEST_loss2.841871976852417.pth" in out and "found latents: 2" in out
    assert "found vectors: 3" in out and "warning" not in err
    bundle = open_bundle(tmp_path / "car")
    assert bundle.has("encoder") and bundle.manifest["embedding"] == {"preset": "release"}
    assert sorted(Editor(bundle).library.list()) == sorted(arrays["vectors"])
    assert len(list((tmp_path / "car" / "latents").glob("*.safetensors"))) == 2


def test_without_an_encoder_the_bundle_embeds_and_edits_without_one(release, tmp_path, capsys):
    root, arrays = release
    flat = _copy_release(root / "editGAN_release", tmp_path / "checkpoint", flat=True,
                         skip=("BEST_loss", "latents_image"))
    capsys.readouterr()
    assert main(["import", "editgan-release", str(flat), "--out", str(tmp_path / "car")]) == 0
    err = capsys.readouterr().err
    assert "warning: no encoder (expected BEST_loss<x>.pth" in err
    assert "warning: no test latents (expected latents_image_<i>.npy" in err
    bundle = open_bundle(tmp_path / "car")
    assert not bundle.has("encoder")
    assert bundle.manifest["embedding"] == bundle.manifest["editing"] == {"preset": "release",
                                                                          "consistency_weight": 0.0}
    editor = Editor(bundle)
    image = to_uint8(editor.render(torch.from_numpy(arrays["latents"][0])[None]))[0]
    save_png(tmp_path / "car.png", image)
    assert main(["embed", str(tmp_path / "car.png"), "--bundle", str(tmp_path / "car"), "--embed-steps", "1",
                 "--out", str(tmp_path / "o")]) == 0
    latent = tmp_path / "o" / "car.wplus.safetensors"
    labels = editor.segment(load_tensors(latent)["wplus"])[0].numpy()
    target = labels.copy()
    target[200:230, 100:140] = editor.scheme.index("back wheel")
    Image.fromarray(editor.scheme.colorize(target)).save(tmp_path / "mask.png")
    assert main(["edit", "--bundle", str(tmp_path / "car"), "--latent", str(latent), "--target",
                 str(tmp_path / "mask.png"), "--parts", "back wheel", "--edit-steps", "1",
                 "--out", str(tmp_path / "e")]) == 0


def test_release_label_maps_are_the_argmax_of_the_mean_logits(release):
    """The imported segmenter records the release's display rule; the label map follows it, and the
    painted region of an edit is measured against that map (only the repainted pixels, grown)."""
    from editgan.edit.optimize import learn_edit
    from editgan.edit.region import dilate
    from editgan.nn.segmenter import segmentation_features
    root, arrays = release
    editor = Editor(open_bundle(root / "car"))
    seg = editor.segmenter
    assert seg.config.label_rule == "mean_logits"
    assert json.loads((root / "car" / "segmenter.json").read_text())["config"]["label_rule"] == "mean_logits"
    w = torch.from_numpy(np.stack(arrays["latents"]))
    with torch.no_grad():
        _, feats = segmentation_features(editor.generator, w, seg.config, noise_mode="const")
        logits = seg.member_logits(feats)
    shown = editor.segment(w)
    assert torch.equal(shown, logits.mean(1).argmax(1))
    by_probs = torch.softmax(logits, 2).mean(1).argmax(1)
    assert not torch.equal(shown, by_probs)  # the two rules disagree somewhere on these random members
    target = shown[:1].clone()
    target[0, 200:210, 100:110] = editor.scheme.index("back wheel")
    painted = target != shown[:1]
    result = learn_edit(editor.generator, seg, w[:1], target, [editor.scheme.index("back wheel")],
                        settings=editor.edit_settings(), steps=0, consistency_weight=0.0, region="painted")
    assert torch.equal(result.region, dilate(painted[:, None], editor.edit_settings().buffer))
