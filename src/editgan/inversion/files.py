"""Embedding one image file into a latent file (`editgan embed`, `segment`, `batch apply`).

Writes `<out>/<stem>.wplus.safetensors` ("wplus" [num_ws, w_dim]; the image's pivotal tuning when the
settings tune, `editgan.io.tuning_files`; "noise.<i>" [1, r, r] per conv layer when the noise maps
were optimised; metadata: source, bundle, the EmbedSettings as JSON, init, best_step, loss and the
fidelity of the reconstruction and of its W+ pivot) and `<out>/<stem>.recon.png` (the reconstruction).
"""

from __future__ import annotations

import json
from pathlib import Path

from editgan.inversion.optimize import EmbedResult
from editgan.inversion.settings import EmbedSettings
from editgan.io.images import save_png, to_uint8
from editgan.io.latents import save_wplus
from editgan.progress import progress_bar


def latent_path(out: Path, image: Path) -> Path:
    return out / f"{image.stem}.wplus.safetensors"


def embed_file(editor, image: Path, out: Path, settings: EmbedSettings) -> EmbedResult:
    """Embed one file with `editor.embed(image, settings=settings)` (with a progress bar), write its
    two outputs and return the result."""
    with progress_bar(settings.steps + 1 + settings.tune_steps, image.name) as update:
        result = editor.embed(image, settings=settings, progress=update)
    noise = {f"noise.{i}": n[0] for i, n in enumerate(result.noise or [])}
    metadata = {"source": image, "bundle": editor.bundle.path.name, "embedding": json.dumps(settings.to_json()),
                "init": result.init, "best_step": int(result.best_step[0]),
                "loss": float(result.best_loss[0]),  # with keep="final": the last step's loss
                "fidelity": json.dumps(result.fidelity[0].to_json()),
                "pivot_fidelity": json.dumps(result.pivot_fidelity[0].to_json())}
    save_wplus(latent_path(out, image), result.wplus[0], tuning=result.tunings[0] if result.tunings else None,
               metadata=metadata, extra=noise)
    save_png(out / f"{image.stem}.recon.png", to_uint8(result.reconstruction)[0])
    return result
