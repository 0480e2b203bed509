"""`editgan demo`: the main job on the default bundle.

With the packaged toonfaces bundle (generator + segmenter) it runs EditGAN end to end on a held-out
rendered face: embed it into W+, segment it, paint the "smile" target mask (from the renderer's
ground truth), learn the editing vector by segmentation-conditioned optimisation, then apply that
vector at several scales and measure the smile each produces. Without a packaged bundle it runs a
clearly labelled stand-in on a small randomly initialised generator.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from editgan.bundle import packaged_bundles_dir
from editgan.cli.sample import sample_to_dir
from editgan.io.images import make_grid, save_png, to_uint8
from editgan.io.native import load_generator, save_generator
from editgan.nn.config import GeneratorConfig
from editgan.nn.stylegan2 import Generator

STAND_IN_CONFIG = GeneratorConfig(resolution=64, z_dim=128, w_dim=128, num_mapping_layers=4,
                                  channels={4: 128, 8: 128, 16: 64, 32: 64, 64: 32})
SCALES = (-1.0, 0.0, 0.5, 1.0, 1.5)


def run_stand_in(out: Path, seed: int) -> None:
    print("NOTE: no default bundle is installed yet; running the stand-in demo on a small RANDOMLY "
          "INITIALISED generator (its images are noise-like patterns, not faces).")
    torch.manual_seed(seed)
    generator = Generator(STAND_IN_CONFIG).eval().requires_grad_(False)
    generator.estimate_w_avg(n=2000)
    weights = save_generator(generator, out / "generator")
    generator = load_generator(out / "generator")
    t0 = time.perf_counter()
    grid = sample_to_dir(generator, list(range(8)), out / "samples", psi=0.7)
    dt = time.perf_counter() - t0
    with torch.no_grad():
        _, feats = generator(generator.sample_z(1, seed=0), return_features=True)
    shapes = ", ".join(f"{tuple(f.shape[1:])}" for f in feats)
    print(f"generator: {STAND_IN_CONFIG.resolution}x{STAND_IN_CONFIG.resolution}, num_ws={generator.num_ws}, "
          f"saved to {weights}")
    print(f"feature maps S^0..S^{len(feats) - 1} (C, H, W): {shapes}")
    print(f"8 samples in {dt:.2f} s -> {grid}")


def run_toonfaces(bundle: Path, out: Path, face: int, embed_steps: int, edit_steps: int) -> None:
    import editgan
    from editgan.domains.toonfaces import TOONFACES_LABELS, edit_params, edit_target, edited_parts, render
    from editgan.domains.toonfaces.dataset import image_to_tensor, split_seed
    from editgan.domains.toonfaces.params import sample_params
    from editgan.edit import VectorLibrary
    from editgan.eval import attribute_scores
    from editgan.invert import embed

    ed = editgan.load(bundle)
    G, size = ed.generator, ed.generator.config.resolution
    before = sample_params(split_seed("test", face))
    after = edit_params(before, smile=0.9)
    image = image_to_tensor(render(before, size)[0])[None]
    print(f"bundle: {ed.bundle.path} ({size}px); held-out test face {face}")

    t0 = time.perf_counter()
    embedded = embed(G, image, steps=embed_steps, lr=ed.bundle.embedding_lr(),
                     perceptual=ed.bundle.manifest.get("perceptual", "msssim_l1"))
    wplus = embedded.wplus
    print(f"embedded into W+ in {time.perf_counter() - t0:.1f} s ({embed_steps} steps, "
          f"final loss {float(embedded.best_loss[0]):.4f})")

    labels = ed.segment(wplus)[0].numpy()
    target, _ = edit_target(labels, before, after)
    parts = edited_parts(before, after)
    t0 = time.perf_counter()
    result, vector = ed.edit(wplus, torch.from_numpy(target), parts, name="smile", steps=edit_steps)
    print(f"learned the '{vector.name}' vector on parts {', '.join(parts)} in {time.perf_counter() - t0:.1f} s "
          f"(best step {result.best_step})")

    edited = []
    t0 = time.perf_counter()
    for s in SCALES:
        edited.append(ed.apply(wplus, {vector: s})[1])
    dt = (time.perf_counter() - t0) / len(SCALES)
    edited = torch.cat(edited)
    smile = attribute_scores(edited.clamp(-1, 1))["smile"]
    print(f"applying the vector takes {dt * 1000:.0f} ms per image; smile score by scale:")
    for s, v in zip(SCALES, smile.tolist()):
        print(f"  scale {s:+.1f}: smile {v:+.2f}")

    colors = TOONFACES_LABELS.palette()
    row = np.concatenate([to_uint8(image), to_uint8(embedded.reconstruction), colors[labels][None],
                          colors[target][None]])
    save_png(out / "pipeline.png", make_grid(row, cols=4))
    save_png(out / "smile_by_scale.png", make_grid(to_uint8(edited), cols=len(SCALES)))
    VectorLibrary(out / "vectors").add(vector, overwrite=True)
    print(f"saved the vector to {out / 'vectors'}; wrote {out / 'pipeline.png'} (input, reconstruction, segmentation, painted target) and "
          f"{out / 'smile_by_scale.png'} (scales {', '.join(f'{s:+.1f}' for s in SCALES)})")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bundle = packaged_bundles_dir() / "toonfaces"
    if (bundle / "segmenter.json").is_file():
        run_toonfaces(bundle, out, args.face, args.embed_steps, args.edit_steps)
    else:
        run_stand_in(out, args.seed)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="run the main job on the default bundle")
    p.add_argument("--out", default="outputs/demo", help="output directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--face", type=int, default=0, help="held-out toonface index to edit")
    p.add_argument("--embed-steps", type=int, default=300)
    p.add_argument("--edit-steps", type=int, default=100)
    p.set_defaults(func=run)
