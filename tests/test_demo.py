"""The demo's full toonfaces pipeline (embed, segment, apply shipped vectors, paint, learn, apply) on a tiny
random bundle."""

import torch
from PIL import Image

from editgan.bundle import write_bundle
from editgan.cli import main
from editgan.edit import EditingVector, VectorLibrary
from editgan.io.figures import MIN_TILE_SIDE
from editgan.io.segmenter_files import save_segmenter
from editgan.nn.segmenter import Segmenter
from editgan.nn.segmenter_config import SegmenterConfig
from editgan.toonfaces import TOONFACES_LABELS
from editgan.toonfaces.commands.demo import DEMO_VECTORS, run_toonfaces
from conftest import make_tiny_generator


def test_toonfaces_pipeline_runs_on_tiny_bundle(tmp_path, capsys):
    g = make_tiny_generator(resolution=64, channels={4: 16, 8: 16, 16: 8, 32: 8, 64: 4})
    write_bundle(tmp_path / "b", "toonfaces", g, labels=TOONFACES_LABELS)
    torch.manual_seed(0)
    seg = Segmenter(SegmenterConfig.for_generator(g.config, num_classes=TOONFACES_LABELS.num_classes, num_members=2))
    save_segmenter(seg, tmp_path / "b", TOONFACES_LABELS)
    for name in DEMO_VECTORS:  # stand-ins for the shipped vectors
        delta = 0.5 * torch.randn(g.num_ws, g.config.w_dim)
        VectorLibrary(tmp_path / "b" / "vectors").add(EditingVector(delta=delta, name=name, parts=("eyelid",)))
    run_toonfaces(tmp_path / "b", tmp_path / "out", face=0, embed_steps=2, edit_steps=2, tune_steps=2)
    out = capsys.readouterr().out
    assert f"{DEMO_VECTORS[0]} + {DEMO_VECTORS[1]}:" in out and "scale +1.5: smile" in out
    assert "2 tuning steps" in out and "W+ alone PSNR" in out
    files = ["figure.png", "before.png", "after_smile_demo.png", "smile_target_mask.png"]
    files += [f"after_{n}.png" for n in DEMO_VECTORS] + [f"after_{'+'.join(DEMO_VECTORS)}.png"]
    assert all((tmp_path / "out" / f).is_file() for f in files)
    with Image.open(tmp_path / "out" / "figure.png") as figure:  # 6 x 3 tiles of 64 px, enlarged, with captions
        assert figure.width > 6 * MIN_TILE_SIDE and figure.height > 3 * MIN_TILE_SIDE
    assert VectorLibrary(tmp_path / "out" / "vectors").get("smile_demo").parts


def test_demo_on_the_packaged_bundle(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--embed-steps", "20", "--tune-steps", "5", "--edit-steps", "5",
                 "--refine-steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "from encoder E(x)" in out and "scale +1.5: smile" in out and (tmp_path / "figure.png").is_file()


def test_demo_takes_a_bundle_and_refuses_one_without_a_segmenter(tmp_path, capsys):
    from editgan.bundle import packaged_bundles_dir

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for name in ("manifest.json", "generator.json", "generator.safetensors"):
        (bundle / name).write_bytes((packaged_bundles_dir() / "toonfaces" / name).read_bytes())
    assert main(["demo", "--bundle", str(bundle), "--out", str(tmp_path / "out")]) == 1
    assert "has none" in capsys.readouterr().err
    assert main(["demo", "--bundle", "toonfaces", "--out", str(tmp_path / "ok"), "--embed-steps", "2",
                 "--tune-steps", "0", "--edit-steps", "2", "--refine-steps", "1"]) == 0
    assert "toonfaces" in capsys.readouterr().out
