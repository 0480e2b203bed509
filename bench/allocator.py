"""What keeping freed memory for reuse (`editgan.runtime.allocator.keep_freed_memory`) buys on apply.

Fresh processes, alternately with and without the setting (--pairs of them): each loads the bundle and
times apply (image + full label map) with the display segmenter, then with the 10-member ensemble, in
--precision on one thread (median of 15 calls after one warm-up call each). JSON to --out: every
process's medians, and their range per setting.

    python bench/allocator.py --pairs 3 --out bench/results/allocator.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path


def child(setting: str, bundle: str, precision: str) -> dict:
    """One process's medians (ms), run under `setting` ("keep" or "default")."""
    from editgan.runtime.allocator import keep_freed_memory
    if setting == "keep":
        assert keep_freed_memory()
    import torch

    import editgan
    from editgan.nn.segmenter import render_and_segment
    from editgan.runtime.precision import layer_dtype

    torch.set_num_threads(1)
    editor = editgan.load(bundle)
    G, dtype = editor.generator, layer_dtype(precision)
    w = G.z_to_wplus(G.sample_z(1, seed=1))

    def median_ms(seg) -> float:
        times = []
        with torch.no_grad():
            for _ in range(16):
                t0 = time.perf_counter()
                render_and_segment(G, seg, w, dtype=dtype)
                times.append(time.perf_counter() - t0)
        return 1000 * statistics.median(times[1:])

    return {"setting": setting, "display_apply_ms": median_ms(editor.display_segmenter),
            "ensemble_apply_ms": median_ms(editor.segmenter)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default="toonfaces")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--out", default="bench/results/allocator.json")
    ap.add_argument("--child", choices=["keep", "default"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.bundle, args.precision)))
        return
    runs = []
    for _ in range(args.pairs):
        for setting in ("default", "keep"):
            cmd = [sys.executable, __file__, "--child", setting, "--bundle", args.bundle, "--precision", args.precision]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    summary = {}
    print("| setting | display apply, ms | ensemble apply, ms |\n| --- | --- | --- |")
    for setting in ("default", "keep"):
        mine = [r for r in runs if r["setting"] == setting]
        summary[setting] = {key: [min(r[key] for r in mine), max(r[key] for r in mine)]
                            for key in ("display_apply_ms", "ensemble_apply_ms")}
        d, e = summary[setting]["display_apply_ms"], summary[setting]["ensemble_apply_ms"]
        print(f"| {setting} | {d[0]:.1f}-{d[1]:.1f} | {e[0]:.1f}-{e[1]:.1f} |")
    result = {"bundle": args.bundle, "precision": args.precision, "threads": 1, "pairs": args.pairs,
              "range_per_setting": summary, "runs": runs}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
