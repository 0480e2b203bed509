"""Which GAN sample to annotate next.

With a segmenter: every candidate G(w+) is segmented and scored by the ensemble's mean per-pixel
disagreement (`Segmentation.uncertainty`, Jensen-Shannon divergence in nats); the highest score
comes first, ties by candidate order. Without one (nothing trained yet), or with a single-member
segmenter (a distilled one installed as the bundle's segmenter: no disagreement to measure):
farthest-point sampling in W. A sample's w is the mean of its w+ rows. The first pick is the candidate nearest the
generator's w_avg when nothing is annotated yet (a typical sample); every next pick is the
candidate farthest (Euclidean) from all w annotated or picked so far; its score is that distance.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from editgan.annotate.store import AnnotationSet
from editgan.errors import InputError
from editgan.nn.segmenter import Segmenter, render_and_segment

MAX_CANDIDATES = 1000
MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed's range
Progress = Callable[[int, int], None]  # (candidates done, of how many); may raise to stop


@torch.no_grad()
def seed_wplus(generator, seeds: list[int], psi: float, progress: Progress | None = None) -> torch.Tensor:
    """w+ [N, num_ws, w_dim] of z drawn with each seed (as `Editor.sample`), truncated by psi."""
    if not seeds or len(seeds) > MAX_CANDIDATES:
        raise InputError(f"give 1..{MAX_CANDIDATES} candidate seeds, got {len(seeds)}")
    out = []
    for n, seed in enumerate(seeds, 1):
        out.append(generator.z_to_wplus(generator.sample_z(1, seed=int(seed)), psi=psi))
        if progress is not None:
            progress(n, len(seeds))
    return torch.cat(out)


@torch.no_grad()
def uncertainty_scores(generator, seg: Segmenter, wplus: torch.Tensor, progress: Progress | None = None
                       ) -> torch.Tensor:
    """Mean per-pixel ensemble uncertainty (nats) of each sample: float [N]."""
    scores = []
    for n, w in enumerate(wplus, 1):
        scores.append(render_and_segment(generator, seg, w[None])[1].uncertainty.mean())
        if progress is not None:
            progress(n, len(wplus))
    return torch.stack(scores)


def farthest_points(candidates: torch.Tensor, annotated: torch.Tensor, count: int,
                    w_avg: torch.Tensor) -> list[tuple[int, float]]:
    """Greedy farthest-point picks among candidates w [N, D] given annotated w [A, D] (A may be 0):
    [(candidate index, score)], at most `count` (see the module for the rule)."""
    chosen, picks = annotated.double(), []
    cand = candidates.double()
    for _ in range(min(count, cand.shape[0])):
        if chosen.shape[0] == 0:
            dist = torch.cdist(cand, w_avg.double()[None])[:, 0]
            i = int(dist.argmin())
        else:
            dist = torch.cdist(cand, chosen).min(1).values
            if picks:
                dist[[p for p, _ in picks]] = -1.0
            i = int(dist.argmax())
        picks.append((i, float(dist[i])))
        chosen = torch.cat([chosen, cand[i:i + 1]])
    return picks


def suggest(generator, seg: Segmenter | None, wplus: torch.Tensor, count: int,
            annotated: torch.Tensor, progress: Progress | None = None) -> tuple[str, list[tuple[int, float]]]:
    """Rank candidates w+ [N, num_ws, w_dim] for annotation -> ("uncertainty" | "farthest_w",
    [(candidate index, score)] best first, at most `count`); annotated: w+ [A, num_ws, w_dim];
    progress(candidates scored, N) after each (uncertainty rule only)."""
    if count < 1:
        raise InputError(f"count must be at least 1, got {count}")
    if seg is not None and seg.num_members > 1:
        scores = uncertainty_scores(generator, seg, wplus, progress)
        order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))[:count]
        return "uncertainty", [(i, float(scores[i])) for i in order]
    return "farthest_w", farthest_points(wplus.mean(1).cpu(), annotated.mean(1).cpu(), count,
                                         generator.w_avg.detach().cpu())


def suggest_seeds(generator, seg: Segmenter | None, store: AnnotationSet, count: int, candidates: int,
                  start_seed: int = 0, psi: float = 1.0, progress: Progress | None = None,
                  max_seed: int = MAX_SEED) -> dict:
    """The next seeds to annotate among `candidates` seeds from start_seed on (annotated seeds skipped,
    none above `max_seed`): {"rule", "psi", "suggestions": [{"seed", "score"}] best first}.
    progress(done, total) runs over drawing the candidates, then (uncertainty rule) scoring them."""
    taken = {seed for m in store.list() if type(seed := m.get("seed")) is int}  # a malformed meta never breaks this
    seeds, s = [], start_seed
    while len(seeds) < min(candidates, MAX_CANDIDATES) and s <= max_seed:
        seeds += [s] if s not in taken else []
        s += 1
    if not seeds:
        raise InputError(f"no candidate seeds from {start_seed} on: seeds go up to {max_seed}")
    scoring = seg is not None and seg.num_members > 1
    total = len(seeds) * (2 if scoring else 1)
    latents = store.latents()
    annotated = torch.cat(list(latents.values())) if latents else torch.zeros(0, *store.latent_shape)
    drawn = seed_wplus(generator, seeds, psi, progress and (lambda n, _: progress(n, total)))
    rule, picks = suggest(generator, seg, drawn, count, annotated,
                          progress and (lambda n, _: progress(len(seeds) + n, total)))
    return {"rule": rule, "psi": psi, "suggestions": [{"seed": seeds[i], "score": round(v, 6)} for i, v in picks]}
