"""Hostile checkpoint files: peak memory and time until each is refused (or, if harmless, converted).

Builds every case of tests/hostile_corpus.py (tiny files claiming gigabytes: zero-stride views,
BUILD on tensors, "billion laughs", deep nesting, malformed records, zip bombs) in a temporary
folder; the zip bombs are real (deflated zeros that inflate to 2 GiB and 4095 MiB) unless
--declared-only. Each case runs `editgan convert` in a fresh process: peak memory is the growth of
ru_maxrss over the process's baseline after imports (a first `convert` of a missing file warms
them up), time is that of the one `convert` call; a second run under tracemalloc gives the peak
of the Python objects allocated (torch's own buffers are in ru_maxrss only). Prints a table; writes JSON to
bench/results/hostile-files.json (file names only, no paths).

    python bench/hostile_files.py
    python bench/hostile_files.py --declared-only      # bombs only declared in the zip directory
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the corpus builders live with the tests that use them

import hostile_corpus as H

RUNNER = """
import contextlib, io, json, resource, sys, time, tracemalloc
from editgan.cli import main
with contextlib.redirect_stderr(io.StringIO()):  # warm up: the convert command's own imports
    main(["convert", sys.argv[1] + ".missing", sys.argv[2], "--quiet"])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
err = io.StringIO()
t0 = time.perf_counter()
with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
    rc = main(["convert", sys.argv[1], sys.argv[2], "--quiet"])
seconds = time.perf_counter() - t0
peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
tracemalloc.start()  # a second run: the Python objects it allocates at their peak
with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
    main(["convert", sys.argv[1], sys.argv[2] + "-again", "--quiet"])
py_peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
print(json.dumps({"rc": rc, "stderr": err.getvalue(), "seconds": seconds, "peak_mb": peak, "py_peak_mb": py_peak}))
"""

REAL_BOMBS = {
    "pt referenced member inflates to 2 GiB": lambda p: H.real_bomb_pt(p, referenced=True, mib=2048),
    "pt unreferenced 4 GiB data member (never read)": lambda p: H.real_bomb_pt(p, referenced=False, mib=4095),
}


def run_case(path: Path, out: Path) -> dict:
    env = {"PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(path), str(out)], capture_output=True, text=True,
                          env=env, timeout=600)
    if proc.returncode != 0:
        return {"rc": None, "stderr": proc.stderr.strip().splitlines()[-1:], "seconds": None, "peak_mb": None,
                "py_peak_mb": None}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--declared-only", action="store_true", help="do not build the real (slow) zip bombs")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "hostile-files.json")
    args = parser.parse_args()
    cases = {name: builder for name, (builder, _) in H.CASES.items()}
    cases.update(H.ACCEPTED)
    if not args.declared_only:
        cases.update(REAL_BOMBS)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = H.build(Path(tmp), cases)
        for name, path in paths.items():
            result = run_case(path, Path(tmp) / f"out-{path.stem}")
            message = result["stderr"] if isinstance(result["stderr"], str) else " ".join(result["stderr"])
            message = message.replace(str(path.parent) + "/", "").strip()
            refused = result["rc"] == 1
            rows.append({"case": name, "file_bytes": path.stat().st_size,
                         "real_bomb": name in REAL_BOMBS and not args.declared_only,
                         "outcome": "refused" if refused else "converted" if result["rc"] == 0 else "crashed",
                         "one_line": message.count("\n") == 0 and "Traceback" not in message,
                         "peak_mb": result["peak_mb"], "py_peak_mb": result["py_peak_mb"],
                         "seconds": result["seconds"], "message": message[:300]})
            r = rows[-1]
            print(f"{name:48s} {r['file_bytes']:>9d} B  {r['outcome']:9s} "
                  f"{r['peak_mb'] if r['peak_mb'] is None else round(r['peak_mb'], 1)!s:>6} MB "
                  f"{r['py_peak_mb'] if r['py_peak_mb'] is None else round(r['py_peak_mb'], 2)!s:>6} MB "
                  f"{r['seconds'] if r['seconds'] is None else round(r['seconds'], 3)!s:>6} s", flush=True)
    summary = {"cases": len(rows), "all_refused_or_converted_in_one_line":
               all(r["outcome"] != "crashed" and r["one_line"] for r in rows),
               **{f"max_{key}": max(r[key] or 0 for r in rows) for key in ("peak_mb", "py_peak_mb", "seconds")}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"bench": "hostile_files", "python": platform.python_version(),
                                    "machine": platform.machine(), "summary": summary, "rows": rows}, indent=1)
                        + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
