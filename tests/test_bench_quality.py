"""`editgan bench quality --quick` end to end on a tiny toonfaces bundle: the report, JSON and plots
are written, the numbers are well-formed and agree with independent recomputation, reruns hit the
cache, and a bundle of another domain is refused with one line."""

import json
import math

import pytest
import torch

from conftest import make_tiny_generator
from edit_fixtures import make_tiny_segmenter, write_edit_bundle
from editgan.bundle import write_bundle
from editgan.cli import main
from editgan.files import load_tensors
from editgan.io.segmenter_files import save_segmenter
from editgan.nn.segmenter import Segmenter
from editgan.nn.segmenter_config import SegmenterConfig
from editgan.toonfaces import SMILE_THRESHOLD, TOONFACES_LABELS, attribute_scores


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    g = make_tiny_generator(resolution=64, channels={4: 16, 8: 16, 16: 8, 32: 8, 64: 4})
    write_bundle(root / "bundle", "toonfaces", g, labels=TOONFACES_LABELS)
    torch.manual_seed(0)
    seg = Segmenter(SegmenterConfig.for_generator(g.config, num_classes=TOONFACES_LABELS.num_classes, num_members=2))
    with torch.no_grad():  # confident members, so that painted edits move w+ (see edit_fixtures)
        for w in (seg.w1, seg.w2, seg.w3):
            w.mul_(15)
    save_segmenter(seg.eval(), root / "bundle", TOONFACES_LABELS)
    args = ["bench", "quality", "--bundle", str(root / "bundle"), "--out", str(root / "out"), "--quick"]
    return root, g, args


def test_quick_benchmark_writes_well_formed_results(quick_run, capsys):
    root, g, args = quick_run
    assert main(args) == 0
    first_log = capsys.readouterr().out
    out = root / "out"
    for name in ("report.md", "results.json", "fig11_identity_vs_smile.png", "fig10_distance_vs_scale.png"):
        assert (out / name).stat().st_size > 0
    results = json.loads((out / "results.json").read_text())
    rows = {r["method"]: r for r in results["table"]}
    assert list(rows) == ["No edit (reconstruction)", "Renderer ground truth (oracle)", "EditGAN",
                          "EditGAN + 1 refinement steps", "EditGAN + 2 refinement steps", "InterFaceGAN",
                          "InterFaceGAN + 1 EditGAN refinement steps", "GANSpace"]
    for r in results["table"]:
        assert 0 <= r["attribute_accuracy"] <= 1 and -1 <= r["identity"] <= 1 + 1e-6
        assert math.isfinite(r["fd_toon"]) and math.isfinite(r["kd_toon"]) and r["outside_change"] >= 0
        assert r["mouth_iou"] is None or 0 <= r["mouth_iou"] <= 1
    assert rows["No edit (reconstruction)"]["identity"] == pytest.approx(1.0, abs=1e-5)
    assert rows["No edit (reconstruction)"]["outside_change"] == 0 and rows["No edit (reconstruction)"]["step_norm"] == 0
    assert rows["Renderer ground truth (oracle)"]["mouth_iou"] is None
    assert rows["EditGAN"]["step_norm"] > 0  # the learned vector moves w+

    # the baseline's W+ step is its matched scale times sqrt(num_ws) (a unit direction in every layer)
    for name in ("InterFaceGAN", "GANSpace"):
        scale = results["methods"][name]["scale"]
        assert rows[name]["step_norm"] == pytest.approx(scale * math.sqrt(g.num_ws), rel=1e-4)
        assert results["methods"][name]["info"]["calibration"]["basis"] in ("smile change", "W+ step norm")

    # independent recomputation: render the cached EditGAN edit and score it
    (edit_file,) = (out / "cache").glob("edit-test-EditGAN-*.safetensors")
    edited = g.synthesis(load_tensors(edit_file)["0"], noise_mode="const").clamp(-1, 1)
    smile = attribute_scores(edited)["smile"]
    assert rows["EditGAN"]["smile"] == pytest.approx(float(smile.mean()), abs=1e-5)
    assert rows["EditGAN"]["attribute_accuracy"] == pytest.approx(float((smile > SMILE_THRESHOLD).float().mean()))

    curves = results["curves"]
    assert {(c["method"], c["refine_steps"]) for c in curves} == {
        ("EditGAN", 0), ("EditGAN", 1), ("EditGAN", 2), ("InterFaceGAN", 0), ("InterFaceGAN", 1),
        ("InterFaceGAN", 2), ("GANSpace", 0)}
    assert {c["scale"] for c in curves} == {0.0, 1.0, 2.0}
    assert {(f["edit"], f["refine_steps"]) for f in results["fig10"]} == {
        ("smile", 0), ("smile", 1), ("close_eyes", 0), ("close_eyes", 1)}
    report = (out / "report.md").read_text()
    assert "| EditGAN + 2 refinement steps |" in report and "fig11_identity_vs_smile.png" in report

    # a rerun re-measures from the cache: no embedding, no refinement
    assert "embedded" in first_log
    assert main(args) == 0
    second_log = capsys.readouterr().out
    assert "embedded" not in second_log and "refinement" not in second_log.replace("wrote", "")
    assert json.loads((out / "results.json").read_text())["table"] == results["table"]


def test_non_toonfaces_bundle_is_refused(tmp_path, tiny_generator, capsys):
    write_edit_bundle(tmp_path / "b", tiny_generator, make_tiny_segmenter(tiny_generator))
    assert main(["bench", "quality", "--bundle", str(tmp_path / "b"), "--out", str(tmp_path / "o"), "--quick"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("editgan bench: error:") and "toonfaces" in err and len(err.splitlines()) == 1


def test_bench_without_a_benchmark_name_is_an_error(capsys):
    assert main(["bench"]) == 1
    assert "editgan bench quality" in capsys.readouterr().err


def test_comparison_line_sorts_metrics_by_their_direction():
    from editgan.toonfaces.quality_report import comparison

    rows = [{"method": "A", "attribute_accuracy": 0.9, "fd_toon": 10.0, "kd_toon": 0.01, "identity": 0.8,
             "outside_change": 0.01, "mouth_iou": float("nan")},
            {"method": "B", "attribute_accuracy": 0.8, "fd_toon": 5.0, "kd_toon": 0.01, "identity": 0.9,
             "outside_change": 0.02, "mouth_iou": 0.5}]
    line = comparison(rows, "A", "B")
    better, worse = line.split("; worse on ")
    assert "attribute_accuracy" in better and "outside_change" in better
    assert "fd_toon" in worse and "identity" in worse and "kd_toon" in line.split("; even on ")[1]
    assert "mouth_iou" not in line
