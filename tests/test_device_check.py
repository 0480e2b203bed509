"""The GPU lane's scripts, dry-run on the CPU (issue 28): tools/device_check.sh --dry-run (the benches
of bench/device_check.py at tiny sizes) and tools/gpu_train.sh --dry-run (a tiny fresh toonfaces run,
then a resume from its compact checkpoint), each checked by what it writes. The GPU runs themselves are
`pytest -m gpu` (tests/test_gpu.py) and the same scripts without --dry-run on a lent machine."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], **env) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", **env}
    env.pop("OUT", None)
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc, time.perf_counter() - start


def test_device_check_dry_run_writes_every_bench(tmp_path):
    """All six benches run (no errors) and report finite, positive timings; well under 60 s on one thread."""
    _, seconds = _run(["bash", "tools/device_check.sh", "--dry-run", str(tmp_path / "dc")])
    assert seconds < 60
    report = json.loads((tmp_path / "dc" / "device_check.json").read_text())
    assert report["dry_run"] is True and report["device"] == "cpu" and report["errors"] == {}
    assert "finished" in report and (tmp_path / "dc" / "torch.txt").is_file()
    benches = report["benches"]
    assert set(benches) == {"generator_256", "generator_1024", "edit_1024", "apply_1024",
                            "gan_training_128_fp32", "gan_training_128_bf16"}
    for name in ("generator_256", "generator_1024"):
        assert benches[name]["forward_s"] > 0 and benches[name]["forward_backward_images_per_s"] > 0
    assert benches["edit_1024"]["finite"] and benches["edit_1024"]["steps"] == 3
    assert set(benches["edit_1024"]["last_losses"]) >= {"loss", "ce"} and benches["apply_1024"]["seconds"] > 0
    for precision in ("fp32", "bf16"):
        gan = benches[f"gan_training_128_{precision}"]
        assert gan["precision"] == precision and gan["finite"] and gan["images_per_s"] > 0


def test_device_check_refuses_without_cuda(tmp_path):
    if __import__("torch").cuda.is_available():
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "bench/device_check.py", "--out", str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "CUDA is not available" in proc.stderr


def test_gpu_train_dry_run_leaves_a_resumable_split_compact_checkpoint(tmp_path):
    """A fresh tiny run, a resume from its compact checkpoint (both CPU): OUT holds compact.json, the
    compact weights split into pieces (SPLIT_BYTES forced small here), log.jsonl, samples.png and
    train.txt; the joined pieces open as a checkpoint of the resumed run (step 4, 16 images)."""
    from editgan.train.gan import GANTrainConfig, GANTrainer

    out = tmp_path / "gt"
    _, seconds = _run(["bash", "tools/gpu_train.sh", "--dry-run", str(out)], SPLIT_BYTES="100000")
    assert seconds < 60
    parts = sorted(out.glob("compact.safetensors.part*"))
    assert len(parts) >= 2 and all(p.stat().st_size <= 100_000 for p in parts)
    assert {p.name for p in out.iterdir()} == {"compact.json", "log.jsonl", "samples.png", "train.txt",
                                               *(p.name for p in parts)}
    (out / "compact.safetensors").write_bytes(b"".join(p.read_bytes() for p in parts))
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 4 and log[-1]["images_per_s"] > 0
    config = GANTrainConfig.from_checkpoint(out / "compact")
    assert config.generator["resolution"] == 64 and config.data == "toonfaces"

    class Source:
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return __import__("torch").zeros(3, 64, 64)

    resumed = GANTrainer.from_checkpoint(out / "compact", Source())
    assert resumed.step_count == 4 and resumed.images_seen == 16
