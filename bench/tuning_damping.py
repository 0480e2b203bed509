"""Where pivotal tuning weakens the shipped vectors: the generator or the attribute network (issue 25).

For --n held-out test faces (from --start) embedded with `Editor.embed` (--embed-steps, no tuning), each face
is tuned with the "faithful" preset and every shipped vector δ is scored by the attribute network its JSON
names, at s = 1, four ways (mean over faces):

    dG            a(G(w+ + δ))  - a(G(w+))            the edit on the bundle's generator
    dGt           a(G'(w+ + δ)) - a(G'(w+))           the edit on the tuned generator
    G_delta_on_Gt a(G'(w+) + G(w+ + δ) - G(w+)) - a(G'(w+))   G's pixel change on the faithful image
    Gt_delta_on_G a(G(w+) + G'(w+ + δ) - G'(w+)) - a(G(w+))   G''s pixel change on the pivot's image

G_delta_on_Gt close to dG while dGt is smaller: the tuned generator damps the edit. G_delta_on_Gt itself
smaller than dG: the attribute network responds less at the faithful image (saturation).

    python bench/tuning_damping.py --n 4 --threads 2     # bench/results/tuning-damping.json
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from editgan.editor import load
from editgan.files import write_json
from editgan.inversion.pivotal import tune
from editgan.inversion.settings import FAITHFUL
from editgan.io.images import from_uint8
from editgan.toonfaces.attributes import attribute_scores
from editgan.toonfaces.dataset import render_split

WAYS = ("dG", "dGt", "G_delta_on_Gt", "Gt_delta_on_G")


@torch.no_grad()
def changes(G, Gt, pivot: torch.Tensor, delta: torch.Tensor, attribute: str) -> dict:
    """The four attribute changes (module docstring) of one vector at one tuned pivot."""
    g0, g1 = G.synthesis(pivot, noise_mode="const"), G.synthesis(pivot + delta, noise_mode="const")
    t0, t1 = Gt.synthesis(pivot, noise_mode="const"), Gt.synthesis(pivot + delta, noise_mode="const")
    s = attribute_scores(torch.cat([g0, g1, t0, t1, t0 + g1 - g0, g0 + t1 - t0]).clamp(-1, 1))[attribute]
    return dict(zip(WAYS, (float(s[1] - s[0]), float(s[3] - s[2]), float(s[4] - s[2]), float(s[5] - s[0]))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default="toonfaces")
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--start", type=int, default=100)
    ap.add_argument("--embed-steps", type=int, default=150)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default="bench/results/tuning-damping.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    editor = load(args.bundle)
    G = editor.generator
    size = G.config.resolution
    settings = FAITHFUL.replace(perceptual=editor.embed_settings().perceptual)
    _, images, _ = render_split("test", args.n, size, start=args.start)
    targets = from_uint8(images)
    pivots = editor.embed(targets, steps=args.embed_steps, tune=False).wplus
    vectors = {name: editor.library.get(name) for name in editor.library.list()}
    rows: dict[str, list[dict]] = {name: [] for name in vectors}
    for i in range(args.n):
        pivot = pivots[i:i + 1]
        tuned = tune(G, targets[i:i + 1], pivot, **settings.tuning_options()).tunings[0].apply(G)
        for name, v in vectors.items():
            rows[name].append(changes(G, tuned, pivot, v.delta.to(pivot), v.created["attribute"]))
        print(f"face {args.start + i} done", flush=True)
    means = {name: {w: float(np.mean([r[w] for r in rs])) for w in WAYS} for name, rs in rows.items()}
    print("| vector | " + " | ".join(WAYS) + " |\n" + "|---" * (1 + len(WAYS)) + "|")
    for name, m in means.items():
        print(f"| {name} | " + " | ".join(f"{m[w]:+.3f}" for w in WAYS) + " |")
    write_json(args.json, {"bundle": editor.bundle.path.name, "n": args.n, "test_start": args.start,
                           "embed_steps": args.embed_steps, "tuning": settings.tuning_options(),
                           "threads": torch.get_num_threads(), "mean_attribute_change": means,
                           "per_face": rows})
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
