"""Stress the torchrun teardown of `editgan batch apply` (issue 29 item 9): not part of CI.

Builds the tiny batch world of tests/batch_fixtures.py once, then runs
`torchrun --standalone --nproc_per_node 2 tests/ddp_batch_worker.py WORLD` N times (default 20) while
`--busy` extra processes (default 2) spin on the CPU, and reports every run where torchrun exits
non-zero, a rank's exit code is missing or wrong, or stderr shows an abort ("terminate called");
with --fail-rank, every run where the job does not end (timeout), aborts, or the failing rank's error
is not recorded (the other rank returns 1, or torchrun ends it after the failure).

    PYTHONPATH=src OMP_NUM_THREADS=1 python bench/torchrun_stress.py --runs 20 --busy 2
    ... --fail-rank 1     # each run: rank 1 raises inside its work (the error teardown path)

Exit status 0 when every run tore down cleanly, 1 otherwise.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"


def spin(stop) -> None:
    """A busy process: burn CPU until `stop` is set."""
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def one_run(world: Path, env: dict[str, str], timeout: float) -> tuple[bool, str, float]:
    """(clean, what went wrong, seconds) of one torchrun launch."""
    shutil.rmtree(world / "out2", ignore_errors=True)
    for path in world.glob("rc2.rank*"):
        path.unlink()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(TESTS / "ddp_batch_worker.py"), str(world)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, timeout=timeout, capture_output=True, text=True, check=False)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout:g} s", time.perf_counter() - start
    seconds = time.perf_counter() - start
    expected = env.get("EDITGAN_TEST_FAIL_RANK") is None
    codes = [(world / f"rc2.rank{r}").read_text() if (world / f"rc2.rank{r}").is_file() else None for r in (0, 1)]
    problems = []
    if "terminate called" in proc.stderr:
        problems.append("abort ('terminate called') in stderr")
    if expected:  # the world holds a broken input: 1 = every item done but that one
        if proc.returncode != 0:
            problems.append(f"torchrun exit {proc.returncode}")
        if codes != ["1", "1"]:
            problems.append(f"rank exit codes {codes}")
    else:  # the failing rank records its error; the other returns 1 or is ended by torchrun after it
        if proc.returncode == 0:
            problems.append("torchrun exit 0 although a rank failed")
        if codes[int(env["EDITGAN_TEST_FAIL_RANK"])] is None or codes.count(None) > 1 \
                or any(c not in (None, "1") for r, c in enumerate(codes) if r != int(env["EDITGAN_TEST_FAIL_RANK"])):
            problems.append(f"rank exit codes {codes}")
    detail = "; ".join(problems) + (f"\n{proc.stderr[-1500:]}" if problems else "")
    return not problems, detail, seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--busy", type=int, default=2, help="extra busy processes during the runs")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per torchrun launch")
    p.add_argument("--fail-rank", type=int, default=None,
                   help="make this rank raise inside its work (tests the teardown on error)")
    p.add_argument("--keep", help="world folder to build/reuse (default: a temporary folder)")
    args = p.parse_args(argv)
    sys.path.insert(0, str(TESTS))
    from batch_fixtures import write_batch_world

    world = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="torchrun-stress-"))
    if not (world / "b").is_dir():
        write_batch_world(world)
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    env.pop("WORLD_SIZE", None)
    if args.fail_rank is not None:
        env["EDITGAN_TEST_FAIL_RANK"] = str(args.fail_rank)
    stop = mp.Event()
    busy = [mp.Process(target=spin, args=(stop,), daemon=True) for _ in range(args.busy)]
    for b in busy:
        b.start()
    failures, times = [], []
    try:
        for i in range(args.runs):
            clean, detail, seconds = one_run(world, env, args.timeout)
            times.append(seconds)
            print(f"run {i + 1}/{args.runs}: {'clean' if clean else 'FAILED'} ({seconds:.1f} s)"
                  + ("" if clean else f": {detail}"), flush=True)
            if not clean:
                failures.append(i + 1)
    finally:
        stop.set()
        for b in busy:
            b.join()
    print(f"{len(failures)} of {args.runs} runs failed{' ' + str(failures) if failures else ''}; "
          f"{args.busy} busy processes; median {sorted(times)[len(times) // 2]:.1f} s per run")
    if not args.keep:
        shutil.rmtree(world, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
