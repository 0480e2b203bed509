"""Embedding one image file into a latent file (`editgan embed`, `editgan batch apply`).

Writes `<out>/<stem>.wplus.safetensors` ("wplus" [num_ws, w_dim], plus "noise.<i>" [1, r, r] per
conv layer when the noise maps were optimised; metadata: source, bundle, steps, perceptual, loss,
init) and `<out>/<stem>.recon.png` (the reconstruction).
"""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from editgan.invert import embed, encode
from editgan.io.images import load_image, save_png, to_uint8
from editgan.io.native import save_tensors


def embed_file(generator, image: Path, out: Path, *, steps: int, lr: float, perceptual: str,
               optimize_noise: bool, bundle: str, seed: int, encoder=None) -> float:
    """Embed one file, write its two outputs, return the kept loss; start from encoder(x) if given."""
    target = load_image(image, generator.config.image_size)
    init = encode(encoder, target, generator.config.crop) if encoder is not None else None
    with tqdm(total=steps + 1, desc=image.name, unit="step", leave=False) as bar:
        def progress(step: int, losses: dict) -> None:
            bar.set_postfix(loss=f"{losses['loss']:.4f}")
            bar.update(1)

        result = embed(generator, target, init=init, steps=steps, lr=lr, perceptual=perceptual,
                       optimize_noise=optimize_noise, progress=progress, seed=seed)
    tensors = {"wplus": result.wplus[0]}
    for i, n in enumerate(result.noise or []):
        tensors[f"noise.{i}"] = n[0]
    loss = float(result.best_loss[0])
    save_tensors(out / f"{image.stem}.wplus.safetensors", tensors,
                 {"source": image, "bundle": bundle, "steps": steps, "lr": lr, "perceptual": perceptual,
                  "best_step": int(result.best_step[0]), "loss": loss,
                  "init": "encoder" if encoder is not None else "w_avg"})
    save_png(out / f"{image.stem}.recon.png", to_uint8(result.reconstruction)[0])
    return loss
