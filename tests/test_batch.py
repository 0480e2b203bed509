"""`editgan batch apply`: outputs against an independent sum, resuming, bad inputs, torchrun sharding."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors import safe_open

from batch_fixtures import batch_args, write_batch_world
from editgan.cli import main
from editgan.edit.vectors import EditingVector, VectorLibrary
from editgan.io.latents import load_wplus
from gan_fixtures import run_torchrun

GOOD = ("face0", "face1", "face2", "photo")
LABELS = ("up=1", "up=-0.5+down=0.7")


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def _mtimes(out: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name != "manifest.json"}


@pytest.fixture
def world(tmp_path):
    write_batch_world(tmp_path)
    return tmp_path


def test_outputs_are_the_composed_vectors_and_bad_input_is_skipped(world, capsys):
    out = world / "out"
    assert main(batch_args(world, out)) == 1
    lib = VectorLibrary(world / "b" / "vectors")
    up, down = lib.get("up").delta.numpy(), lib.get("down").delta.numpy()
    w = load_wplus(world / "in" / "face0.wplus.safetensors", 8, 16)[0].numpy()
    for label, expected in (("up=1", w + up), ("up=-0.5+down=0.7", w - 0.5 * up + 0.7 * down)):
        got = load_wplus(out / "face0" / f"{label}.wplus.safetensors", 8, 16)[0].numpy()
        np.testing.assert_allclose(got, expected, atol=1e-6)
        assert np.asarray(Image.open(out / "face0" / f"{label}.png")).shape == (32, 32, 3)
    assert (out / "photo" / "photo.wplus.safetensors").is_file()  # the image input was embedded
    manifest = _manifest(out)
    assert manifest["items"] == {**{f"{s}/{lab}": "done" for s in GOOD for lab in LABELS},
                                 **{f"broken/{lab}": "failed" for lab in LABELS}}
    assert "broken.safetensors" in manifest["errors"]["broken/up=1"]
    assert "skipped" in capsys.readouterr().out


def test_rerun_skips_finished_items_and_redoes_damaged_or_changed_ones(world, capsys):
    out = world / "out"
    main(batch_args(world, out))
    before = _mtimes(out)
    good_png = (out / "face1" / "up=1.png").read_bytes()

    assert main(batch_args(world, out)) == 1
    assert _mtimes(out) == before  # nothing rewritten, the photo not embedded again
    items = _manifest(out)["items"]
    assert {k: v for k, v in items.items() if not k.startswith("broken")} == \
        {f"{s}/{lab}": "skipped" for s in GOOD for lab in LABELS}

    (out / "face1" / "up=1.png").write_bytes(b"damaged")
    (out / "face2" / "up=1.json").unlink()
    assert main(batch_args(world, out)) == 1
    items = _manifest(out)["items"]
    redone = sorted(k for k, v in items.items() if v == "done")
    assert redone == ["face1/up=1", "face2/up=1"]
    assert (out / "face1" / "up=1.png").read_bytes() == good_png

    lib = VectorLibrary(world / "b" / "vectors")
    old = lib.get("down")
    lib.add(EditingVector(old.delta * 2, "down", old.parts, default_scale=0.7), overwrite=True)
    assert main(batch_args(world, out)) == 1
    items = _manifest(out)["items"]
    assert sorted(k for k, v in items.items() if v == "done") == [f"{s}/up=-0.5+down=0.7" for s in GOOD]


def test_configuration_errors_are_one_line(world, capsys):
    args = batch_args(world, world / "out")
    assert main([*args[:-4], "--vector", "ghost"]) == 1
    assert "no editing vector named 'ghost'" in capsys.readouterr().err
    assert main([*args, "--vector", "up+up=2"]) == 1
    assert "twice" in capsys.readouterr().err
    (world / "in2").mkdir()
    (world / "in2" / "face0.png").write_bytes(b"x")
    assert main([*args[:2], str(world / "in2" / "face0.png"), *args[2:]]) == 1
    assert "share the output folder 'face0'" in capsys.readouterr().err


def test_two_process_torchrun_matches_single_process(world):
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    env.pop("WORLD_SIZE", None)
    worker = Path(__file__).parent / "ddp_batch_worker.py"
    proc = subprocess.run([sys.executable, str(worker), str(world)], env=env, timeout=300, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_torchrun("ddp_batch_worker.py", world, nproc=2)
    assert [(world / f).read_text() for f in ("rc1.rank0", "rc2.rank0", "rc2.rank1")] == ["1", "1", "1"]
    single = {p.relative_to(world / "out1"): p.read_bytes() for p in (world / "out1").rglob("*") if p.is_file()}
    sharded = {p.relative_to(world / "out2"): p.read_bytes() for p in (world / "out2").rglob("*") if p.is_file()}
    assert sorted(single) == sorted(sharded)
    assert len([p for p in single if p.suffix == ".png"]) == 2 * len(GOOD) + 1  # + the photo's reconstruction
    embedded = Path("photo") / "photo.wplus.safetensors"  # safetensors orders metadata keys at random
    for path, data in single.items():
        if path != embedded:
            assert sharded[path] == data, f"{path} differs between single-process and 2-process runs"
    with safe_open(world / "out1" / embedded, "pt") as a, safe_open(world / "out2" / embedded, "pt") as b:
        assert a.metadata() == b.metadata() and a.get_tensor("wplus").equal(b.get_tensor("wplus"))
    items = _manifest(world / "out2")["items"]
    assert items["face0/up=1+refine2"] == "done" and items["broken/up=1+refine2"] == "failed"


def test_torchrun_error_on_one_rank_tears_down_every_rank(world):
    """Rank 1 raises inside its share: both ranks still meet in the one exchange, leave through the barrier
    and destroy_process_group, and end in bounded time (no rank waits in a collective, none aborts)."""
    proc = run_torchrun("ddp_batch_worker.py", world, nproc=2, env={"EDITGAN_TEST_FAIL_RANK": "1"}, check=False)
    assert proc.returncode != 0 and "terminate called" not in proc.stderr
    assert (world / "rc2.rank1").read_text() == "RuntimeError: injected failure on rank 1"
    # rank 0 leaves the barrier with rank 1, then reports one line naming rank 1 and returns 1, unless
    # torchrun, seeing rank 1 fail, terminates it first (a race on a loaded machine)
    if (world / "rc2.rank0").exists():
        assert (world / "rc2.rank0").read_text() == "1"
        assert "rank 1 failed: RuntimeError: injected failure on rank 1" in proc.stderr
    else:
        assert "SIGTERM" in proc.stderr
    assert not (world / "out2" / "manifest.json").exists()


def test_run_on_every_rank_single_process():
    from editgan.runtime.distributed import DistInfo, RankFailed, run_on_every_rank, shutdown
    assert run_on_every_rank(lambda: 3, DistInfo()) == [3]
    with pytest.raises(ZeroDivisionError):
        run_on_every_rank(lambda: 1 / 0, DistInfo())
    assert issubclass(RankFailed, Exception)
    shutdown()  # no group: a no-op


@pytest.mark.parametrize("joined", [False, True])
def test_exit_process_keeps_the_status_and_buffered_output(joined):
    """Outside a torchrun group `exit_process` is sys.exit (atexit handlers run); inside one it flushes
    stdout/stderr and leaves with os._exit (no finalisation, so no atexit handlers), same status."""
    script = ("import atexit, sys\nimport editgan.runtime.distributed as d\n"
              f"d._joined_group = {joined}\natexit.register(lambda: print('atexit', file=sys.stderr))\n"
              "print('out', end=''); print('err', end='', file=sys.stderr)\nd.exit_process(3)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (3, "out")
    assert proc.stderr == ("err" if joined else "erratexit\n")


def test_the_editgan_command_reports_an_unexpected_error_and_exits_1():
    """`editgan.cli.run`: an error main() does not turn into a one-line message is printed as Python
    prints it (traceback), and the status is 1, through the same exit path."""
    script = ("import editgan.cli as cli\n"
              "def boom():\n    raise RuntimeError('boom')\n"
              "cli.main = boom\ncli.run()\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and proc.stderr.rstrip().endswith("RuntimeError: boom")
