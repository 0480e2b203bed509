"""The demo's full toonfaces pipeline (embed, segment, paint, learn, apply) on a tiny random bundle."""

import torch

from editgan.bundle import write_bundle
from editgan.cli.demo import run_toonfaces
from editgan.domains.toonfaces import TOONFACES_LABELS
from editgan.edit import VectorLibrary
from editgan.io.segmenter import save_segmenter
from editgan.nn.segmenter import Segmenter
from editgan.nn.segmenter_config import SegmenterConfig
from conftest import make_tiny_generator


def test_toonfaces_pipeline_runs_on_tiny_bundle(tmp_path, capsys):
    g = make_tiny_generator(resolution=64, channels={4: 16, 8: 16, 16: 8, 32: 8, 64: 4})
    write_bundle(tmp_path / "b", "toonfaces", g, labels=TOONFACES_LABELS)
    torch.manual_seed(0)
    seg = Segmenter(SegmenterConfig.for_generator(g.config, num_classes=TOONFACES_LABELS.num_classes, num_members=2))
    save_segmenter(seg, tmp_path / "b", TOONFACES_LABELS)
    run_toonfaces(tmp_path / "b", tmp_path / "out", face=0, embed_steps=2, edit_steps=2)
    out = capsys.readouterr().out
    assert "smile score by scale" in out and "scale +1.5" in out
    assert (tmp_path / "out" / "pipeline.png").is_file() and (tmp_path / "out" / "smile_by_scale.png").is_file()
    assert VectorLibrary(tmp_path / "out" / "vectors").get("smile").parts
