"""What `torch.compile` of the whole synthesis would buy on the bundle's generator (not shipped; issue 28).

Times the bundle's synthesis eagerly and compiled (inductor, fullgraph, static shapes), alternating call by
call in one process after warm-up: a forward + backward to w+ (what an edit or embedding step runs) and a
forward under no_grad (apply), in --precision on --threads; also the first compilation's seconds, which
depend on inductor's on-disk cache (a second run of this bench finds it warm). Checks the compiled image
against the eager one. JSON to --out.

    python bench/compile_synthesis.py --threads 2 --out bench/results/compile-synthesis.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

import editgan
from editgan.runtime.allocator import keep_freed_memory
from editgan.runtime.precision import PRECISIONS, layer_dtype


def alternate_ms(eager, compiled, repeats: int) -> tuple[float, float]:
    """Median ms of each, called alternately `repeats` times after two warm-up calls each."""
    for _ in range(2):
        eager(), compiled()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, out in ((eager, times[0]), (compiled, times[1])):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times[0]), 1000 * statistics.median(times[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default="toonfaces")
    ap.add_argument("--precision", choices=sorted(PRECISIONS), default="bf16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--out", default="bench/results/compile-synthesis.json")
    args = ap.parse_args()
    keep_freed_memory()  # as the CLI does
    torch.set_num_threads(args.threads)
    G = editgan.load(args.bundle).generator
    dtype = layer_dtype(args.precision)
    w = G.z_to_wplus(G.sample_z(1, seed=1)).detach()

    def synthesis(x):
        return G.synthesis(x, noise_mode="const", dtype=dtype)

    compiled = torch.compile(synthesis, dynamic=False, fullgraph=True)

    def step(fn):
        delta = torch.zeros_like(w, requires_grad=True)
        torch.autograd.grad(fn(w + delta).square().mean(), delta)

    t0 = time.perf_counter()
    step(compiled)
    compile_grad_s = time.perf_counter() - t0
    with torch.no_grad():
        t0 = time.perf_counter()
        image = compiled(w)
        compile_nograd_s = time.perf_counter() - t0
        max_diff = float((image - synthesis(w)).abs().max())
    fwd_bwd = alternate_ms(lambda: step(synthesis), lambda: step(compiled), args.repeats)
    with torch.no_grad():
        fwd = alternate_ms(lambda: synthesis(w), lambda: compiled(w), args.repeats)
    result = {"bundle": args.bundle, "precision": args.precision, "threads": args.threads, "repeats": args.repeats,
              "first_compile_s": {"forward_backward": compile_grad_s, "forward": compile_nograd_s},
              "max_abs_image_difference": max_diff,
              "forward_backward_ms": {"eager": fwd_bwd[0], "compiled": fwd_bwd[1]},
              "forward_ms": {"eager": fwd[0], "compiled": fwd[1]}}
    print("| path | eager | compiled |\n| --- | --- | --- |")
    print(f"| forward + backward to w+ | {fwd_bwd[0]:.1f} ms | {fwd_bwd[1]:.1f} ms |")
    print(f"| forward (no grad) | {fwd[0]:.1f} ms | {fwd[1]:.1f} ms |")
    print(f"first compilation {compile_grad_s:.1f} s (with backward) + {compile_nograd_s:.1f} s (no grad); "
          f"max |image difference| {max_diff:.2e}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
