"""`editgan demo`: the main job on the default bundle.

With the packaged toonfaces bundle it runs the three EditGAN modes on a held-out rendered face:
embed it into W+ (encoder + optimisation), tune the generator to it (pivotal tuning, so the
reconstruction keeps the face's own haircut and details) and segment it; apply two of the bundle's learned editing
vectors (close_eyes, raise_eyebrows) alone and combined, in real time; paint the "smile" target mask
(the renderer's change carried onto the predicted segmentation) and learn that edit by
segmentation-conditioned optimisation inside the repainted pixels, then apply the new vector at
several scales. The toonfaces
attribute network scores every result; images and a side-by-side figure with the masks go to --out.
Without a packaged bundle it runs a clearly labelled stand-in on a small randomly initialised generator.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from editgan.bundle import packaged_bundles_dir, resolve_bundle_path
from editgan.cli.options import (BUNDLE, DEFAULT_BUNDLE, EDIT_STEPS, EMBED_STEPS, REFINE_STEPS, TUNE_STEPS,
                                 add_compute_args)
from editgan.cli.sample import sample_to_dir
from editgan.edit import VectorLibrary
from editgan.editor import load
from editgan.errors import InputError
from editgan.io.figures import make_figure
from editgan.io.images import save_png, to_uint8
from editgan.nn.config import GeneratorConfig
from editgan.nn.stylegan2 import Generator
from editgan.toonfaces import edit_params, edit_target, edited_parts, render
from editgan.toonfaces.attributes import attribute_scores
from editgan.toonfaces.dataset import image_to_tensor, split_seed
from editgan.toonfaces.params import sample_params
from editgan.toonfaces.vectors import default_edit

STAND_IN_CONFIG = GeneratorConfig(resolution=64, z_dim=128, w_dim=128, num_mapping_layers=4,
                                  channels={4: 128, 8: 128, 16: 64, 32: 64, 64: 32})
SCALES = (-1.0, 0.0, 0.5, 1.0, 1.5)
DEMO_VECTORS = ("close_eyes", "raise_eyebrows")  # learned vectors the bundle ships
DEMO_FACE = 105  # a test face (not one the vectors were learned on) with eyes open, brows low, no smile
DEMO_TUNE_STEPS = 300  # more than the "faithful" preset's 200: face 105's spiky haircut comes back whole


def run_stand_in(out: Path, seed: int, device: str = "cpu") -> None:
    print("NOTE: no default bundle is installed yet; running the stand-in demo on a small RANDOMLY "
          "INITIALISED generator (its images are noise-like patterns, not faces).")
    torch.manual_seed(seed)
    generator = Generator(STAND_IN_CONFIG).eval().requires_grad_(False)
    generator.estimate_w_avg(n=2000)
    weights = generator.save_pretrained(out / "generator")
    generator = Generator.from_pretrained(out / "generator", device=device)
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


def run_toonfaces(bundle: Path, out: Path, face: int, embed_steps: int, edit_steps: int,
                  refine_steps: int = 30, tune_steps: int = DEMO_TUNE_STEPS, device: str = "cpu",
                  precision: str = "fp32") -> None:
    ed = load(bundle, device=device, precision=precision)
    size, palette = ed.generator.config.resolution, ed.scheme.palette()
    before = sample_params(split_seed("test", face))
    image = image_to_tensor(render(before, size)[0])[None]
    print(f"bundle: {ed.bundle.path} ({size}px, {ed.precision} on {ed.device}); held-out test face {face}")

    t0 = time.perf_counter()
    embedded = ed.embed(image, steps=embed_steps, tune_steps=tune_steps)
    recon = embedded.reconstruction
    pivot = embedded.pivot_reconstruction if embedded.tunings else recon
    init = "encoder E(x)" if ed.encoder is not None else "w_avg"
    print(f"1. embedded in {time.perf_counter() - t0:.1f} s (from {init}, {embed_steps} W+ steps, "
          f"{tune_steps} tuning steps): {embedded.fidelity[0].describe()}"
          + (f"; W+ alone {embedded.pivot_fidelity[0].describe()}" if embedded.tunings else ""))
    latent = embedded  # apply / edit / segment draw a tuned embedding with its own generator
    labels = ed.segment(latent)[0].cpu().numpy()

    print(f"2. applying learned vectors from the library ({ed.library.directory}), then with "
          f"{refine_steps} refinement steps:")
    applied, refined = {}, {}
    for names in [(n,) for n in DEMO_VECTORS] + [DEMO_VECTORS]:
        scales = {n: ed.library.get(n).default_scale for n in names}
        t0 = time.perf_counter()
        applied[names] = ed.apply(latent, scales)[1]
        t1 = time.perf_counter()
        refined[names] = ed.apply(latent, scales, refine_steps=refine_steps)[1]
        t2 = time.perf_counter()
        attributes = [default_edit(n).attribute for n in names]
        scores = attribute_scores(torch.cat([recon, applied[names], refined[names]]).clamp(-1, 1))
        moves = ", ".join(f"{a} {float(scores[a][0]):+.2f} -> {float(scores[a][1]):+.2f} "
                          f"(refined {float(scores[a][2]):+.2f})" for a in attributes)
        print(f"   {' + '.join(names)}: {moves} ({(t1 - t0) * 1000:.0f} ms; refined {t2 - t1:.1f} s)")

    smiling = edit_params(before, smile=0.9)
    target, painted = edit_target(labels, before, smiling)
    t0 = time.perf_counter()
    parts = edited_parts(before, smiling)
    result, vector = ed.edit(latent, torch.from_numpy(target), parts, name="smile_demo", steps=edit_steps,
                             region="painted", painted=torch.from_numpy(painted))
    print(f"3. optimisation edit from the painted smile mask: {edit_steps} steps in {time.perf_counter() - t0:.1f} s "
          f"on parts {', '.join(vector.parts)} (best step {result.best_step}); the new vector by scale:")
    by_scale = torch.cat([ed.apply(latent, {vector: s})[1] for s in SCALES])
    for s, v in zip(SCALES, attribute_scores(by_scale.clamp(-1, 1))["smile"].tolist()):
        print(f"   scale {s:+.1f}: smile {v:+.2f}")

    vector_row = [to_uint8(image)[0], to_uint8(recon)[0], palette[labels]] + [to_uint8(x)[0] for x in applied.values()]
    refined_row = [to_uint8(pivot)[0], None, None] + [to_uint8(x)[0] for x in refined.values()]
    edit_row = [palette[target], to_uint8(result.image_after)[0], palette[result.labels_after[0].cpu().numpy()]]
    shown = [0, 2, 4]  # of SCALES
    edit_row += [to_uint8(x[None])[0] for x in by_scale[shown]]
    vector_captions = [f"input (test face {face})", "reconstruction" + (" (tuned)" if embedded.tunings else ""),
                       "segmentation"] + [" + ".join(n) for n in applied]
    refined_captions = ["W+ alone (untuned)" if embedded.tunings else None, None, None] + [None] * len(applied)
    edit_captions = ["painted smile mask", "optimisation result", "its segmentation"]
    edit_captions += [f"{vector.name}, scale {SCALES[i]:+g}" for i in shown]
    save_png(out / "figure.png", make_figure(vector_row + refined_row + edit_row, cols=len(vector_row),
                                             captions=vector_captions + refined_captions + edit_captions,
                                             row_labels=["vectors", f"refined ({refine_steps} steps)", "learned edit"]))
    save_png(out / "before.png", to_uint8(recon)[0])
    for names in applied:
        save_png(out / f"after_{'+'.join(names)}.png", to_uint8(applied[names])[0])
        save_png(out / f"after_{'+'.join(names)}_refined.png", to_uint8(refined[names])[0])
    save_png(out / "after_smile_demo.png", to_uint8(result.image_after)[0])
    save_png(out / "smile_target_mask.png", palette[target])
    VectorLibrary(out / "vectors").add(vector, overwrite=True)
    print(f"wrote {out / 'figure.png'} -- top: input, reconstruction, segmentation, "
          f"{', '.join('+'.join(n) for n in applied)}; middle: the W+ reconstruction without tuning, then the "
          f"vectors refined; bottom: painted smile mask, optimisation result, its "
          f"segmentation, the new vector at scales {SCALES[0]:+.1f}, {SCALES[2]:+.1f}, {SCALES[4]:+.1f}")
    print(f"     before/after images in {out}; the new vector in {out / 'vectors'}")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bundle = packaged_bundles_dir() / DEFAULT_BUNDLE  # not installed, or without a segmenter: the stand-in runs
    if args.bundle != DEFAULT_BUNDLE or (Path(args.bundle) / "manifest.json").is_file():  # a bundle of yours
        bundle = resolve_bundle_path(args.bundle)
        if not (bundle / "segmenter.json").is_file():
            raise InputError(f"the demo needs a toonfaces bundle with a segmenter; {bundle} has none")
    if (bundle / "segmenter.json").is_file():
        run_toonfaces(bundle, out, args.face, args.embed_steps, args.edit_steps, args.refine_steps, args.tune_steps,
                      device=args.device, precision=args.precision)
    else:
        run_stand_in(out, args.seed, device=args.device)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="run the main job (embed, apply vectors, learn an edit) on the default "
                                           "bundle")
    p.add_argument("--out", default="outputs/demo", help="output directory")
    BUNDLE.add(p)  # a toonfaces bundle with a segmenter
    p.add_argument("--seed", type=int, default=0, help="seed of the stand-in generator (without a bundle)")
    p.add_argument("--face", type=int, default=DEMO_FACE, help="held-out toonface (test split index) to edit")
    EMBED_STEPS.add(p, default=300)  # the demo's own: quick, and tuning follows
    TUNE_STEPS.add(p, default=DEMO_TUNE_STEPS)
    EDIT_STEPS.add(p, default=100)
    REFINE_STEPS.add(p, default=30)
    add_compute_args(p, precision=True)
    p.set_defaults(func=run)
