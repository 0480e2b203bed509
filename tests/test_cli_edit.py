"""`editgan edit` and `editgan vector` end to end on a tiny bundle, and their one-line errors."""

import numpy as np
import pytest
from PIL import Image

from edit_fixtures import make_tiny_segmenter, painted_target, write_edit_bundle
from editgan.cli import main
from editgan.editor import load
from editgan.io.latents import load_wplus, save_wplus


@pytest.fixture
def bundle(tmp_path, tiny_generator):
    seg = make_tiny_segmenter(tiny_generator)
    write_edit_bundle(tmp_path / "b", tiny_generator, seg)
    w = tiny_generator.z_to_wplus(tiny_generator.sample_z(1, seed=1))
    save_wplus(tmp_path / "w.safetensors", w)
    Image.fromarray(painted_target(tiny_generator, seg, w)[0].numpy().astype(np.uint8), mode="L") \
        .save(tmp_path / "mask.png")
    return tmp_path


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error:" in err[0]
    return err[0]


def test_edit_then_vector_commands(bundle, capsys):
    b = str(bundle / "b")
    assert main(["edit", "--bundle", b, "--latent", str(bundle / "w.safetensors"), "--target", str(bundle / "mask.png"),
                 "--parts", "mouth", "--out", str(bundle / "out"), "--edit-steps", "4", "--buffer", "1",
                 "--save-vector", "mouth_up", "--edit-segmenter", "display"]) == 0
    for f in ("before.png", "after.png", "labels_before.png", "labels_after.png", "delta.safetensors",
              "wplus_after.safetensors"):
        assert (bundle / "out" / f).is_file()
    editor = load(b)
    vector = editor.library.get("mouth_up")
    assert vector.created["settings"]["segmenter"] == "display"  # (no display segmenter here: the ensemble stands in)
    w_after = load_wplus(bundle / "out" / "wplus_after.safetensors", editor.generator.num_ws, 16)
    w = load_wplus(bundle / "w.safetensors", editor.generator.num_ws, 16)
    assert np.allclose((w_after - w)[0].numpy(), vector.delta.numpy(), atol=1e-6)

    assert main(["vector", "list", "--bundle", b]) == 0
    assert "mouth_up\tparts=mouth" in capsys.readouterr().out
    assert main(["vector", "show", "--bundle", b, "mouth_up"]) == 0
    assert "parts: mouth" in capsys.readouterr().out
    assert main(["vector", "apply", "--bundle", b, "--latent", str(bundle / "w.safetensors"),
                 "--vector", "mouth_up=-1", "--vector", "mouth_up=2", "--out", str(bundle / "ap")]) == 0
    applied = load_wplus(bundle / "ap" / "wplus_after.safetensors", editor.generator.num_ws, 16)
    assert np.allclose(applied.numpy(), (w + vector.delta).numpy(), atol=1e-5)
    assert main(["vector", "apply", "--bundle", b, "--seed", "3", "--vector", "mouth_up", "--refine-steps", "2",
                 "--edit-segmenter", "display", "--out", str(bundle / "ref")]) == 0
    assert (bundle / "ref" / "after.png").is_file() and (bundle / "ref" / "grid.png").is_file()
    assert main(["vector", "delete", "--bundle", b, "mouth_up"]) == 0
    assert editor.library.list() == []


def test_errors_are_one_line(bundle, capsys):
    b = str(bundle / "b")
    common = ["edit", "--bundle", b, "--seed", "1", "--out", str(bundle / "o"), "--edit-steps", "1"]
    Image.fromarray(np.zeros((8, 8), np.uint8), mode="L").save(bundle / "small.png")
    assert main([*common, "--target", str(bundle / "small.png"), "--parts", "mouth"]) == 1
    assert "small.png" in _error(capsys)
    Image.fromarray(np.full((32, 32), 9, np.uint8), mode="L").save(bundle / "bad.png")
    assert main([*common, "--target", str(bundle / "bad.png"), "--parts", "mouth"]) == 1
    assert "bad.png" in _error(capsys)
    Image.fromarray(np.full((32, 32, 3), (1, 2, 3), np.uint8)).save(bundle / "rgb.png")  # not a scheme colour
    assert main([*common, "--target", str(bundle / "rgb.png"), "--parts", "mouth"]) == 1
    assert "rgb.png" in (err := _error(capsys)) and "(1, 2, 3)" in err
    assert main([*common, "--target", str(bundle / "mask.png"), "--parts", "mouth,nose"]) == 1
    assert "unknown label 'nose'" in _error(capsys)
    assert main(["vector", "apply", "--bundle", b, "--seed", "1", "--vector", "ghost=1",
                 "--out", str(bundle / "o")]) == 1
    assert "no editing vector named 'ghost'" in _error(capsys)
    assert main(["vector", "show", "--bundle", b, "../x"]) == 1
    assert "invalid vector name" in _error(capsys)
    assert main(["vector", "apply", "--bundle", b, "--seed", "1", "--vector", "a=inf", "--out", str(bundle / "o")]) == 1
    assert "finite" in _error(capsys)
