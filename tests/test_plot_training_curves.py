"""tools/plot_training_curves.py: reads runs' logs, skips lines without the metric, refuses bad input."""

import json
import sys
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from plot_training_curves import main, read_curve  # noqa: E402


def _log(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_curves_skip_lines_without_the_metric_and_the_plot_is_written(tmp_path):
    a = _log(tmp_path / "a.jsonl", [{"kimg": 8.0, "fd_toon": 30.0}, {"kimg": 16.0, "loss_g": 1.0},
                                    {"kimg": 24.0, "fd_toon": 25.5}])
    b = _log(tmp_path / "b.jsonl", [{"kimg": 8.0, "fd_toon": 40.0}])
    assert read_curve(a, "fd_toon") == ([8.0, 24.0], [30.0, 25.5])
    out = tmp_path / "curve.png"
    assert main([f"run a={a}", f"b={b}", "--hline", "floor=3.08", "--out", str(out)]) == 0
    with Image.open(out) as img:
        assert img.format == "PNG" and img.width > 100
    assert list(tmp_path.glob("*.tmp")) == []


@pytest.mark.parametrize("curve", ["no-label", "missing=/nonexistent/log.jsonl", "bad={bad}"])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, curve):
    (tmp_path / "bad.jsonl").write_text('{"kimg": 1, "fd_toon": 2}\nnot json\n')
    out = tmp_path / "curve.png"
    assert main([curve.format(bad=tmp_path / "bad.jsonl"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("plot_training_curves: ") and err.count("\n") == 1 and not out.exists()
