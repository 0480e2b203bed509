"""Embedding one image file into a latent file (`editgan embed`, `editgan batch apply`).

Writes `<out>/<stem>.wplus.safetensors` ("wplus" [num_ws, w_dim], plus "noise.<i>" [1, r, r] per
conv layer when the noise maps were optimised; metadata: source, bundle, steps, lr, perceptual,
loss, init) and `<out>/<stem>.recon.png` (the reconstruction).
"""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from editgan.files import save_tensors
from editgan.io.images import save_png, to_uint8


def embed_file(editor, image: Path, out: Path, *, steps: int | None = None, preset: str | None = None,
               seed: int = 0, optimize_noise: bool = False, lr: float | None = None,
               perceptual: str | None = None) -> float:
    """Embed one file with `editor.embed` (the bundle's encoder, lr and perceptual distance, or the
    preset's, unless lr / perceptual are given), write its two outputs, return the kept loss."""
    preset = editor.embedding_preset(preset)
    options = editor.embedding_options(preset, lr=lr, perceptual=perceptual)
    preset_steps = options.pop("steps", 500)
    steps = preset_steps if steps is None else steps
    with tqdm(total=steps + 1, desc=image.name, unit="step", leave=False) as bar:
        def progress(step: int, losses: dict) -> None:
            bar.set_postfix(loss=f"{losses['loss']:.4f}")
            bar.update(1)

        result = editor.embed(image, steps=steps, progress=progress, optimize_noise=optimize_noise, seed=seed,
                              **options)
    tensors = {"wplus": result.wplus[0]}
    for i, n in enumerate(result.noise or []):
        tensors[f"noise.{i}"] = n[0]
    loss = float(result.best_loss[0])  # with keep="final": the last step's loss
    save_tensors(out / f"{image.stem}.wplus.safetensors", tensors,
                 {"source": image, "bundle": str(editor.bundle.path), "steps": steps, "preset": preset, **options,
                  "best_step": int(result.best_step[0]), "loss": loss,
                  "init": "encoder" if editor.encoder is not None else "w_avg"})
    save_png(out / f"{image.stem}.recon.png", to_uint8(result.reconstruction)[0])
    return loss
