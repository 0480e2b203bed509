"""Generator speed: forward and forward+backward (w.r.t. w+, weights frozen) at config-f widths.

Prints a table (median of repeats after warm-up) with FLOPs counted by torch's FlopCounterMode,
achieved GFLOP/s, and this machine's plain 3x3-conv throughput for comparison; writes JSON to
bench/results/generator-<device>.json.

    python bench/generator.py                      # 256 and 1024, batch 1, CPU
    python bench/generator.py --res 256 --repeats 7 --variants fused,nonfused
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from editgan.nn.config import GeneratorConfig
from editgan.nn.stylegan2 import Generator


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, warmup: int, repeats: int) -> float:
    """Median seconds of fn() over `repeats` after `warmup` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def count_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def conv_throughput(device, warmup: int, repeats: int) -> float:
    """GFLOP/s of one plain 512->512 3x3 conv at 64x64 (the bulk shape of config-f)."""
    x = torch.randn(1, 512, 64, 64, device=device)
    w = torch.randn(512, 512, 3, 3, device=device)
    fn = lambda: torch.nn.functional.conv2d(x, w, padding=1)  # noqa: E731
    with torch.no_grad():
        return count_flops(fn) / timed(fn, device, warmup, repeats) / 1e9


def bench_one(res: int, batch: int, variant: str, device, warmup: int, repeats: int, dtype) -> dict:
    torch.manual_seed(0)
    g = Generator(GeneratorConfig(resolution=res)).to(device).eval().requires_grad_(False)
    fused = {"fused": True, "nonfused": False}.get(variant.removesuffix("-nchw"))
    if variant.endswith("-nchw"):
        g.synthesis.memory_format = torch.contiguous_format
    ws = g.z_to_wplus(g.sample_z(batch, seed=0)).to(dtype).detach()

    def forward():
        with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            return g.synthesis(ws, fused=fused)

    def forward_backward():
        w = ws.clone().requires_grad_(True)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            img = g.synthesis(w, fused=fused)
        img.float().square().mean().backward()
        return w.grad

    fwd_flops, fb_flops = count_flops(forward), count_flops(forward_backward)
    t_fwd = timed(forward, device, warmup, repeats)
    t_fb = timed(forward_backward, device, warmup, repeats)
    return dict(resolution=res, widths=f"config-f ({g.config.channels[4]}..{g.config.channels[res]})", batch=batch,
                variant=variant, dtype=str(dtype).split(".")[-1],
                fwd_ms=t_fwd * 1e3, fwd_bwd_ms=t_fb * 1e3, fwd_gflop=fwd_flops / 1e9, fwd_bwd_gflop=fb_flops / 1e9,
                fwd_gflops=fwd_flops / t_fwd / 1e9, fwd_bwd_gflops=fb_flops / t_fb / 1e9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res", default="256,1024")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--variants", default="auto",
                    help="comma list of auto, fused, nonfused; add -nchw for the contiguous (not channels_last) layout")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--tf32", action="store_true", help="allow TF32 matmul/conv on CUDA")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = args.tf32
    dtype = getattr(torch, args.dtype)
    conv_gflops = conv_throughput(device, args.warmup, args.repeats)
    rows = [bench_one(int(r), args.batch, v, device, args.warmup, args.repeats, dtype)
            for r in args.res.split(",") for v in args.variants.split(",")]
    header = f"{'res':>5} {'variant':>13} {'dtype':>8} {'batch':>5} {'fwd ms':>9} {'fwd+bwd ms':>11} " \
             f"{'GFLOP f/fb':>13} {'GFLOP/s f/fb':>13}"
    print(f"device: {device} ({platform.processor() or platform.machine()}, threads={torch.get_num_threads()}); "
          f"plain 3x3 conv 512->512 @64x64: {conv_gflops:.0f} GFLOP/s")
    print(header)
    for r in rows:
        print(f"{r['resolution']:>5} {r['variant']:>13} {r['dtype']:>8} {r['batch']:>5} {r['fwd_ms']:>9.1f} "
              f"{r['fwd_bwd_ms']:>11.1f} {r['fwd_gflop']:>6.1f}/{r['fwd_bwd_gflop']:<6.1f} "
              f"{r['fwd_gflops']:>6.0f}/{r['fwd_bwd_gflops']:<6.0f}")
    out = Path(args.out or f"bench/results/generator-{device.type}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(device=str(device), torch=torch.__version__, threads=torch.get_num_threads(),
                                   conv_gflops=conv_gflops, rows=rows), indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
