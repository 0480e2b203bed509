"""fd_toon references for the toonfaces generators: the rendered-vs-rendered floor at each size, and
the fd_toon of a generator at its own size or upsampled to a larger one (what a grown generator
starts from). Prints a table and writes bench/results/toonfaces-fd.json.

    python bench/toonfaces_fd.py --generator src/editgan/assets/bundles/toonfaces --upsample-to 128
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from editgan.nn import ops
from editgan.nn.stylegan2 import Generator
from editgan.toonfaces import fd_toon, render, sample_params
from editgan.toonfaces.dataset import image_to_tensor, split_seed

TRAIN_OFFSET = 500_000  # train-split faces far from the pools' first indices


def renders(split: str, n: int, size: int, offset: int = 0) -> torch.Tensor:
    return torch.stack([image_to_tensor(render(sample_params(split_seed(split, offset + i)), size)[0])
                        for i in range(n)])


@torch.no_grad()
def samples(G: Generator, n: int, size: int, seed: int = 123) -> torch.Tensor:
    """n samples of G (psi 1, as the training snapshots draw them), upsampled by G's own skip filter
    until `size`."""
    out = []
    for i in range(0, n, 64):
        img = G(G.sample_z(min(64, n - i), seed=seed + i)).clamp(-1, 1)
        while img.shape[-1] < size:
            img = ops.upsample2d(img, ops.make_filter())
        out.append(img)
    return torch.cat(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128], help="floors at these sizes")
    ap.add_argument("--generator", help="a directory with generator.json/.safetensors")
    ap.add_argument("--upsample-to", type=int, default=0, help="also score the generator upsampled to this size")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default="bench/results/toonfaces-fd.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows, tests = [], {}
    for size in args.sizes:
        tests[size] = renders("test", args.n, size)
        floor = fd_toon(renders("train", args.n, size, TRAIN_OFFSET), tests[size])
        rows.append({"what": f"floor: {args.n} train renders vs {args.n} test renders", "size": size, "fd_toon": floor})
    if args.generator:
        G = Generator.from_pretrained(args.generator)
        for size in [G.config.resolution] + ([args.upsample_to] if args.upsample_to else []):
            test = tests.get(size, renders("test", args.n, size))
            rows.append({"what": f"{args.generator} ({G.config.resolution} px) vs {args.n} test renders", "size": size,
                         "fd_toon": fd_toon(samples(G, args.n, size), test)})
    print("| what | size | fd_toon |\n| --- | --- | --- |")
    for r in rows:
        print(f"| {r['what']} | {r['size']} | {r['fd_toon']:.2f} |")
    Path(args.json).write_text(json.dumps({"benchmark": "toonfaces_fd", "n": args.n, "results": rows}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
