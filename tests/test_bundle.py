"""Bundles: write, open by path, provenance, malformed manifests, unknown names."""

import json

import pytest
import torch

from editgan.bundle import open_bundle, write_bundle
from editgan.errors import CheckpointError, InputError
from editgan.labels import LabelScheme

SCHEME = LabelScheme("two", ("background", "thing"), ((0, 0, 0), (255, 0, 0)))


def test_write_and_open(tmp_path, tiny_generator):
    write_bundle(tmp_path / "b", "tiny", tiny_generator, labels=SCHEME, provenance={"generator": {"images_seen": 8}})
    b = open_bundle(tmp_path / "b")
    assert b.domain == "tiny" and b.labels == SCHEME and b.provenance("generator") == {"images_seen": 8}
    assert b.manifest["num_ws"] == tiny_generator.num_ws
    ws = tiny_generator.z_to_wplus(tiny_generator.sample_z(1, seed=0))
    assert torch.equal(b.generator().synthesis(ws), tiny_generator.synthesis(ws))
    # updating keeps earlier provenance
    write_bundle(tmp_path / "b", "tiny", tiny_generator, provenance={"encoder": {"steps": 1}})
    assert set(open_bundle(tmp_path / "b").manifest["provenance"]) == {"generator", "encoder"}


def test_bad_bundles(tmp_path, tiny_generator):
    with pytest.raises(InputError, match="no bundle"):
        open_bundle("no-such-bundle")
    write_bundle(tmp_path / "b", "tiny", tiny_generator)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    (tmp_path / "b" / "manifest.json").write_text(json.dumps({**manifest, "format": "other"}))
    with pytest.raises(CheckpointError):
        open_bundle(tmp_path / "b")
    del manifest["num_ws"]
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="num_ws"):
        open_bundle(tmp_path / "b")


def test_segmenter_in_bundle(tmp_path, tiny_generator):
    from editgan.errors import MissingWeightsError
    from editgan.io.segmenter_files import save_segmenter
    from editgan.nn.segmenter import Segmenter
    from editgan.nn.segmenter_config import SegmenterConfig

    b = write_bundle(tmp_path / "b", "tiny", tiny_generator, labels=SCHEME)
    assert b.has("generator") and not b.has("segmenter")
    with pytest.raises(MissingWeightsError, match="train segmenter"):
        b.segmenter()
    seg = Segmenter(SegmenterConfig.for_generator(tiny_generator.config, num_classes=2, num_members=2))
    save_segmenter(seg, tmp_path / "b", SCHEME)
    loaded, scheme = open_bundle(tmp_path / "b").segmenter()
    assert scheme == SCHEME and loaded.config == seg.config


def test_perceptual_choice_and_default(tmp_path, tiny_generator):
    write_bundle(tmp_path / "b", "faces", tiny_generator)
    b = open_bundle(tmp_path / "b")
    assert b.perceptual() == "msssim_l1"          # no manifest entry: the weight-free default
    assert b.perceptual("toon") == "toon"          # an explicit choice wins
    with pytest.raises(InputError, match="unknown perceptual distance 'vgg'"):
        b.perceptual("vgg")


def test_new_generator_retires_what_was_trained_against_the_old(tmp_path, tiny_generator):
    from conftest import make_tiny_generator

    path = tmp_path / "b"
    write_bundle(path, "tiny", tiny_generator, provenance={"generator": {"images_seen": 8}})
    for name in ("encoder.json", "encoder.safetensors", "segmenter.json", "segmenter.safetensors"):
        (path / name).write_text(name)
    (path / "vectors").mkdir()
    (path / "vectors" / "smile.json").write_text("{}")
    write_bundle(path, "tiny", tiny_generator, provenance={"encoder": {"steps": 3}})  # same weights: all stays
    assert open_bundle(path).has("encoder") and "superseded" not in open_bundle(path).manifest

    write_bundle(path, "tiny", make_tiny_generator(seed=5), provenance={"generator": {"images_seen": 16}})
    b = open_bundle(path)
    assert not b.has("encoder") and not b.has("segmenter") and not (path / "vectors").exists()
    assert set(b.manifest["provenance"]) == {"generator"} and b.provenance("generator")["images_seen"] == 16
    (retired,) = b.manifest["superseded"]
    old = path / retired
    assert (old / "vectors" / "smile.json").read_text() == "{}" and (old / "encoder.json").read_text() == "encoder.json"
    assert json.loads((old / "manifest.json").read_text())["provenance"]["encoder"] == {"steps": 3}
    write_bundle(path, "tiny", make_tiny_generator(seed=6))  # nothing left to retire
    assert open_bundle(path).manifest["superseded"] == [retired]


def test_packaged_bundles_keep_user_data_in_the_user_data_dir(tmp_path, monkeypatch):
    from editgan.bundle import open_bundle as open_
    from editgan.files import user_data_dir
    monkeypatch.setenv("EDITGAN_HOME", str(tmp_path / "home"))
    assert user_data_dir() == tmp_path / "home"
    shipped = open_("toonfaces")
    assert shipped.packaged and shipped.user_dir == tmp_path / "home" / "bundles" / "toonfaces"
    monkeypatch.delenv("EDITGAN_HOME")
    assert user_data_dir().name == "editgan"


def test_staged_directory_moves_into_place_only_when_complete(tmp_path):
    from editgan.files import staged_directory
    target = tmp_path / "b"
    with pytest.raises(RuntimeError), staged_directory(target) as stage:
        (stage / "manifest.json").write_text("{}")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []  # nothing left: no target, no partial folder
    with staged_directory(target) as stage:
        assert stage.parent == tmp_path and stage.name.startswith(".b.partial-")
        (stage / "a").write_text("1")
    assert [p.name for p in tmp_path.iterdir()] == ["b"] and (target / "a").read_text() == "1"
    with pytest.raises(RuntimeError), staged_directory(target, start_from_existing=True) as stage:
        assert (stage / "a").read_text() == "1"
        (stage / "a").unlink()
        (stage / "c").write_text("3")
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in target.iterdir()) == ["a"] and [p.name for p in tmp_path.iterdir()] == ["b"]
    with staged_directory(target, start_from_existing=True) as stage:
        (stage / "c").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["a", "c"] and [p.name for p in tmp_path.iterdir()] == ["b"]
    with pytest.raises(InputError, match="not an empty folder"), staged_directory(target):
        pass


def test_a_failed_bundle_create_leaves_nothing(tmp_path, tiny_generator, monkeypatch):
    import editgan.cli.bundle as cli_bundle
    from editgan.cli import main
    tiny_generator.save_pretrained(tmp_path / "converted")
    real = cli_bundle.write_bundle

    def interrupted(path, *args, **kwargs):
        real(path, *args, **kwargs)
        raise InputError("interrupted after the manifest")
    monkeypatch.setattr(cli_bundle, "write_bundle", interrupted)
    args = ["bundle", "create", "--generator", str(tmp_path / "converted"), "--domain", "d", "--out", str(tmp_path / "b")]
    assert main(args) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["converted"]
    monkeypatch.setattr(cli_bundle, "write_bundle", real)
    assert main(args) == 0 and open_bundle(tmp_path / "b").domain == "d"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "converted"]
