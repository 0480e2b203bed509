"""`editgan bench quality`: the smile-edit benchmark (EditGAN Sec. 4.2-4.3) with baselines, written
as a markdown + JSON report with plots. Embeddings and refinements are cached under <out>/cache,
so a rerun with the same bundle and sizes only re-measures."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

from editgan.cli.options import BUNDLE, EMBED_STEPS, add_alias, add_compute_args, require_cpu
from editgan.errors import InputError
from editgan.toonfaces.quality_bench import QualitySettings, run_quality_benchmark
from editgan.toonfaces.quality_report import write_report


def _steps(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def run_quality(args: argparse.Namespace) -> int:
    require_cpu(args, "the benchmark measures on the CPU only")
    settings = QualitySettings.quick() if args.quick else QualitySettings()
    overrides = {k: getattr(args, k) for k in ("n_faces", "n_curve", "n_calib", "n_reference", "n_svm",
                                                 "embed_steps", "seed") if getattr(args, k) is not None}
    if args.refine_budgets is not None:
        overrides["refine_steps"] = args.refine_budgets
    settings = replace(settings, **overrides)
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.0f} s] {msg}", flush=True)

    results = run_quality_benchmark(args.bundle, args.out, settings, log=log, inception=args.inception)
    results["command"] = " ".join(["editgan", *sys.argv[1:]]) if sys.argv[1:2] == ["bench"] else None
    report = write_report(results, args.out)
    log(f"wrote {report}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="benchmarks: `editgan bench quality` (smile-edit benchmark)")
    sub = p.add_subparsers(dest="bench_command", metavar="BENCH")
    q = sub.add_parser("quality", help="the smile-edit benchmark with InterFaceGAN / GANSpace baselines")
    BUNDLE.add(q)  # a toonfaces bundle with a segmenter
    q.add_argument("--out", default="reports/quality", help="output directory (report, JSON, plots, cache/)")
    q.add_argument("--quick", action="store_true", help="tiny sizes for CI: checks the pipeline, not the numbers")
    q.add_argument("--n-faces", type=int, help="held-out test faces (default 112)")
    q.add_argument("--n-curve", type=int, help="test faces for the refinement curves (default 16)")
    q.add_argument("--n-calib", type=int, help="calibration faces for the matched scale (default 12)")
    q.add_argument("--n-reference", type=int, help="rendered reference faces for fd_toon / kd_toon (default 256)")
    q.add_argument("--n-svm", type=int, help="labelled GAN samples for the baselines (default 10000)")
    EMBED_STEPS.add(q, default_text=f"{QualitySettings.embed_steps} per test face; --quick: "
                                    f"{QualitySettings.quick().embed_steps}")
    budgets = q.add_argument("--refine-budgets", type=_steps, metavar="N,N,...",
                             help="refinement budgets measured, e.g. 0,10,30,60 (the default)")
    add_alias(q, budgets, "--refine-steps")  # its old name, which elsewhere means one number of steps
    q.add_argument("--seed", type=int)
    q.add_argument("--inception", help="NVIDIA's TorchScript inception-2015-12-05.pt (file or directory): adds "
                                       "true FID / KID columns")
    add_compute_args(q)
    q.set_defaults(func=run_quality)

    def no_command(args):
        raise InputError("choose a benchmark: `editgan bench quality ...`")

    p.set_defaults(func=no_command)
