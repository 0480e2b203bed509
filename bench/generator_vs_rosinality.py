"""Our generator against rosinality's stylegan2-pytorch `model.py` on the same config-f weights.

Forward + backward to w+ (weights frozen, constant noise, batch 1) for ours in fp32 and bf16 and for
rosinality's pure-torch CPU path in fp32, alternating in one process (median of --repeats after a
warm-up); also each output's largest difference from rosinality's image and the cosine of its w+
gradient with theirs (bf16's error). rosinality's code is not part of this project: clone
github.com/rosinality/stylegan2-pytorch and pass its folder (its `op/` compiles CUDA kernels at import,
which this bench skips: the CPU path needs none).

    python bench/generator_vs_rosinality.py --rosinality ../stylegan2-pytorch --res 256 1024 --threads 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.utils.cpp_extension

from editgan.io.rosinality import convert_state_dict
from editgan.nn.stylegan2 import Generator


def load_rosinality_model(folder: Path):
    """rosinality's `model` module from a clone, without compiling its CUDA ops."""
    torch.utils.cpp_extension.load = lambda *args, **kwargs: None
    sys.path.insert(0, str(folder))
    import model  # noqa: PLC0415  (their module, from the folder given)
    return model


def compare(rosi, size: int, repeats: int) -> dict:
    torch.manual_seed(0)
    theirs = rosi.Generator(size, 512, 8, channel_multiplier=2).eval().requires_grad_(False)
    config, state, _ = convert_state_dict(theirs.state_dict())
    ours = Generator(config).eval()
    ours.load_state_dict(state)
    ours.requires_grad_(False)
    w = ours.z_to_wplus(ours.sample_z(1, seed=1)).detach()

    def theirs_step():
        x = w.clone().requires_grad_(True)
        image, _ = theirs([x], input_is_latent=True, randomize_noise=False)
        image.square().mean().backward()
        return image.detach(), x.grad

    def ours_step(dtype):
        x = w.clone().requires_grad_(True)
        image = ours.synthesis(x, noise_mode="const", dtype=dtype)
        image.square().mean().backward()
        return image.detach(), x.grad

    steps = {"rosinality fp32": theirs_step, "ours fp32": lambda: ours_step(None),
             "ours bf16": lambda: ours_step(torch.bfloat16)}
    outputs = {name: step() for name, step in steps.items()}  # the warm-up, and the outputs compared
    reference_image, reference_grad = outputs["rosinality fp32"]
    errors = {name: {"image_max_abs": float((image - reference_image).abs().max()),
                     "grad_cosine": float(torch.nn.functional.cosine_similarity(
                         grad.flatten(), reference_grad.flatten(), dim=0))}
              for name, (image, grad) in outputs.items()}
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
    seconds = {name: statistics.median(t) for name, t in times.items()}
    return {"resolution": size, "seconds": seconds,
            "speedup": {name: seconds["rosinality fp32"] / s for name, s in seconds.items()}, "errors": errors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rosinality", required=True, help="a clone of rosinality/stylegan2-pytorch")
    ap.add_argument("--res", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="bench/results/generator-vs-rosinality.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(Path(__file__).parent))
    from gan_training import conv_peaks  # noqa: PLC0415  (bench/ helper)
    rosi = load_rosinality_model(Path(args.rosinality))
    rows = [compare(rosi, size, args.repeats) for size in args.res]
    print("| resolution | rosinality fp32 | ours fp32 | ours bf16 | bf16: image max abs error, w+ gradient cosine |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        s, x, e = r["seconds"], r["speedup"], r["errors"]["ours bf16"]
        print(f"| {r['resolution']} | {s['rosinality fp32']:.2f} s | {s['ours fp32']:.2f} s ({x['ours fp32']:.1f}x) | "
              f"{s['ours bf16']:.2f} s ({x['ours bf16']:.1f}x) | {e['image_max_abs']:.3f}, {e['grad_cosine']:.5f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"threads": args.threads, "repeats": args.repeats,
                                          "conv_peak_gflop_per_s": conv_peaks([args.threads]), "rows": rows},
                                         indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
