"""The editing objective of EditGAN, Eq. 2-5, as pure functions on tensors.

    L_editing = λ1 (a L2_out + b P_out) + λ2 CE_in + λ3 ID [+ λC C]       (Eq. 5; a = b = 1 in the paper)

Normalisation (each term is a 0-dim tensor, the mean over the batch of per-sample values):
- L2_out (Eq. 2): squared difference of the images in [-1, 1], summed over the channels and the
  pixels OUTSIDE r, divided by (channels x number of outside pixels): a mean over the outside
  region, independent of its size. No outside pixel (r covers the image) -> 0.
  The official release instead takes the mean over ALL pixels of the masked images in [0, 1] and
  weights it by 5, i.e. 5/4 x (outside fraction) x our L2_out.
- P_out (Eq. 2): the user's perceptual distance (e.g. LPIPS) of the two images multiplied by (1 - r),
  as in the paper and the release; its spatial normalisation is the callable's (LPIPS averages over
  all positions, masked positions being equal in both images).
- CE_in (Eq. 3): pixel cross-entropy against y_edited, summed over the pixels INSIDE r and divided
  by their number: a mean over the region. Empty region -> 0 (no NaN).
- ID (Eq. 4): 1 - cos(R(x_edit), R(x)) in [0, 2]; the paper writes the similarity, the loss to
  minimise is its complement. Only when an embedding network R is supplied (faces).

Release pixel space ("unit"): images mapped to [0, 1] and masked there (the region black), the L2
a mean over ALL pixels of the masked images, the perceptual distance fed the masked [0, 1] images
mapped back to [-1, 1] (LPIPS with normalize=True does that mapping).
C (the release's encoder consistency): mean squared difference of w+ and E(x_edit), E's output a
constant target (no gradient through the encoder), weighted by its own weight.

Ensemble form of CE: the official release (models/EditGAN/EditGAN_tool.py) averages the members'
raw LOGITS and applies torch's CrossEntropyLoss to that mean ("mean_logits", our default).
"mean_probs" is the log of the mean member softmax, the ensemble our Segmenter.predict reports.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F

from editgan.errors import InputError
from editgan.nn.perceptual import PIXEL_SPACES

Perceptual = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Embedding = Callable[[torch.Tensor], torch.Tensor]


class LossWeights(NamedTuple):
    """λ1 (RGB outside r), λ2 (CE inside r), λ3 (identity) of Eq. 5."""

    rgb: float
    ce: float
    identity: float


LEARNING_WEIGHTS = LossWeights(15.0, 1.0, 10.0)  # learning an editing vector, App. A.4
REFINEMENT_WEIGHTS = LossWeights(5.0, 1.0, 5.0)  # self-supervised refinement, App. A.4
ENSEMBLE_FORMS = ("mean_logits", "mean_probs")


@dataclass
class EditingLoss:
    """Eq. 5 (`loss`, which carries the gradient) and its unweighted terms, each a 0-dim tensor."""

    loss: torch.Tensor
    l2: torch.Tensor
    perceptual: torch.Tensor
    ce: torch.Tensor
    identity: torch.Tensor
    consistency: torch.Tensor

    def as_floats(self) -> dict[str, float]:
        return {k: float(getattr(self, k).detach())
                for k in ("loss", "l2", "perceptual", "ce", "identity", "consistency")}


def _check_region(region: torch.Tensor, n: int, spatial: tuple[int, ...], what: str) -> torch.Tensor:
    """region [N or 1, 1, *spatial] float/bool in {0, 1} -> float [N or 1, 1, *spatial]."""
    if not isinstance(region, torch.Tensor) or region.ndim != 2 + len(spatial) or region.shape[1] != 1 \
            or tuple(region.shape[2:]) != spatial or region.shape[0] not in (1, n):
        got = list(region.shape) if isinstance(region, torch.Tensor) else type(region).__name__
        raise InputError(f"region must be [{n} or 1, 1, {', '.join(map(str, spatial))}] for {what}, got {got}")
    return region.to(torch.float32) if region.dtype == torch.bool else region


def _check_images(x_edit: torch.Tensor, x: torch.Tensor) -> None:
    if x_edit.ndim != 4 or x_edit.shape != x.shape:
        raise InputError(f"images must both be [N, C, H, W], got {list(x_edit.shape)} and {list(x.shape)}")


def _check_space(pixel_space: str) -> None:
    if pixel_space not in PIXEL_SPACES:
        raise InputError(f"pixel_space must be one of {PIXEL_SPACES}, got {pixel_space!r}")


def outside_l2(x_edit: torch.Tensor, x: torch.Tensor, region: torch.Tensor,
               pixel_space: str = "signed") -> torch.Tensor:
    """Squared difference outside r (see module docstring): "signed", a mean over the outside pixels
    of images in [-1, 1]; "unit", the release's mean over all pixels of the masked images in [0, 1].
    x_edit, x: [N, C, H, W] in [-1, 1]; region: [N or 1, 1, H, W] in {0, 1}."""
    _check_images(x_edit, x)
    _check_space(pixel_space)
    outside = 1 - _check_region(region, x.shape[0], tuple(x.shape[2:]), "the images")
    sq = ((x_edit - x) ** 2 * outside).sum((1, 2, 3))
    if pixel_space == "unit":
        return (sq / (4 * x[0].numel())).mean()
    count = outside.expand(x.shape[0], -1, -1, -1).sum((1, 2, 3)) * x.shape[1]
    return (sq / count.clamp_min(1)).mean()


def outside_perceptual(x_edit: torch.Tensor, x: torch.Tensor, region: torch.Tensor,
                       perceptual: Perceptual, pixel_space: str = "signed") -> torch.Tensor:
    """perceptual(masked x_edit, masked x) -> [N], averaged over the batch. Masking sets r to 0 in
    [-1, 1] ("signed") or to 0 in [0, 1] ("unit", i.e. -1 in what `perceptual` receives)."""
    _check_images(x_edit, x)
    _check_space(pixel_space)
    outside = 1 - _check_region(region, x.shape[0], tuple(x.shape[2:]), "the images")
    if pixel_space == "unit":
        d = perceptual((x_edit + 1) * outside - 1, (x + 1) * outside - 1)
    else:
        d = perceptual(x_edit * outside, x * outside)
    if not isinstance(d, torch.Tensor) or tuple(d.shape) != (x.shape[0],):
        got = list(d.shape) if isinstance(d, torch.Tensor) else type(d).__name__
        raise InputError(f"the perceptual distance must return one value per image [{x.shape[0]}], got {got}")
    return d.mean()


def ensemble_logits(member_logits: torch.Tensor, form: str = "mean_logits") -> torch.Tensor:
    """Member logits [N, M, K, ...] -> ensemble scores [N, K, ...] for `region_cross_entropy`.
    mean_logits: mean of the members' logits (the official release); mean_probs: log of the mean
    of the members' softmax (log-probabilities, which log_softmax leaves unchanged)."""
    if member_logits.ndim < 3:
        raise InputError(f"member logits must be [N, M, K, ...], got {list(member_logits.shape)}")
    if form == "mean_logits":
        return member_logits.mean(1)
    if form == "mean_probs":
        return torch.logsumexp(torch.log_softmax(member_logits, dim=2), dim=1) - math.log(member_logits.shape[1])
    raise InputError(f"unknown ensemble form {form!r}; use one of {ENSEMBLE_FORMS}")


def region_cross_entropy(logits: torch.Tensor, target: torch.Tensor,
                         region: torch.Tensor | None = None) -> torch.Tensor:
    """L_CE of Eq. 3: mean pixel cross-entropy inside r.

    logits: [N, K, *S] unnormalised scores or log-probabilities (S = (H, W) for a label map, (P,)
    for a pixel subset); target: integer labels [N, *S] in [0, K) (y_edited); region: [N or 1, 1, *S]
    in {0, 1}, or None for all pixels. Per sample: sum over r of -log softmax(logits)[target] / |r|
    (0 when r is empty); then the batch mean."""
    if logits.ndim < 2 or tuple(target.shape) != (logits.shape[0], *logits.shape[2:]):
        raise InputError(f"target must be [N, *S] for logits [N, K, *S], got {list(target.shape)} "
                         f"and {list(logits.shape)}")
    if target.dtype.is_floating_point or target.dtype == torch.bool:
        raise InputError("target must hold integer labels")
    k = logits.shape[1]
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= k):
        raise InputError(f"target labels must lie in [0, {k})")
    ce = F.cross_entropy(logits, target.long(), reduction="none")  # [N, *S]
    n, spatial = logits.shape[0], tuple(logits.shape[2:])
    if region is None:
        inside = torch.ones((n, *spatial), dtype=torch.bool, device=logits.device)
    else:
        inside = _check_region(region, n, spatial, "the logits")[:, 0].expand(n, *spatial) > 0.5
    dims = tuple(range(1, ce.ndim))
    total = torch.where(inside, ce, torch.zeros_like(ce)).sum(dims)
    return (total / inside.sum(dims).clamp_min(1)).mean()


def identity_loss(edit_embedding: torch.Tensor, reference_embedding: torch.Tensor) -> torch.Tensor:
    """L_ID of Eq. 4 as a loss: 1 - cos(R(x_edit), R(x)), embeddings [N, D]; batch mean, in [0, 2]."""
    if edit_embedding.ndim != 2 or edit_embedding.shape != reference_embedding.shape:
        raise InputError(f"embeddings must both be [N, D], got {list(edit_embedding.shape)} "
                         f"and {list(reference_embedding.shape)}")
    return (1 - F.cosine_similarity(edit_embedding, reference_embedding, dim=1)).mean()


def consistency_loss(wplus: torch.Tensor, encoded: torch.Tensor) -> torch.Tensor:
    """The release's encoder consistency: mean of (w+ - E(x_edit))^2 over every element, with
    E(x_edit) a constant target (detached). Both [N, num_ws, w_dim]."""
    if wplus.shape != encoded.shape:
        raise InputError(f"w+ {list(wplus.shape)} and the encoder's output {list(encoded.shape)} differ in shape")
    return (wplus - encoded.detach()).square().mean()


def editing_objective(x_edit: torch.Tensor, x: torch.Tensor, region: torch.Tensor, logits: torch.Tensor,
                      target: torch.Tensor, weights: LossWeights = LEARNING_WEIGHTS, *,
                      subset_region: torch.Tensor | None = None, perceptual: Perceptual | None = None,
                      embed: Embedding | None = None,
                      reference_embedding: torch.Tensor | None = None, l2_weight: float = 1.0,
                      perceptual_weight: float = 1.0, pixel_space: str = "signed",
                      consistency: torch.Tensor | None = None, consistency_weight: float = 0.0) -> EditingLoss:
    """Eq. 5 for images x_edit = G(w+ + δw+), x = G(w+) [N, 3, H, W] in [-1, 1] and region r [N or 1, 1, H, W].

    logits/target: either a label map, logits [N, K, H, W] and y_edited [N, H, W], the CE then
    restricted to r; or a pixel subset (Segmenter(..., pixels=...)), logits [N, K, P] and target
    [N, P], with subset_region [N, 1, P] in {0, 1} marking the subset's pixels inside each sample's
    r (None: all of them, a subset taken inside r). Scores may be `ensemble_logits` of either form.
    perceptual: distance (a, b) -> [N], or None to leave it out. embed: R, images -> [N, D], or None
    to leave the identity term out (λ3 then has no effect); reference_embedding: R(x) if already
    computed (it is constant during an optimisation), otherwise embed(x) without gradient.
    l2_weight, perceptual_weight: the terms inside λ1; pixel_space: "signed" or "unit" (module
    docstring); consistency: `consistency_loss` of this iterate (or None), weighted by consistency_weight.
    """
    l2 = outside_l2(x_edit, x, region, pixel_space)
    zero = l2.new_zeros(())
    perc = zero if perceptual is None else outside_perceptual(x_edit, x, region, perceptual, pixel_space)
    ce_region = region if tuple(logits.shape[2:]) == tuple(x.shape[2:]) else subset_region
    ce = region_cross_entropy(logits, target, ce_region)
    if embed is None:
        ident = zero
    else:
        if reference_embedding is None:
            with torch.no_grad():
                reference_embedding = embed(x)
        ident = identity_loss(embed(x_edit), reference_embedding.detach())
    cons = zero if consistency is None else consistency
    loss = (weights.rgb * (l2_weight * l2 + perceptual_weight * perc) + weights.ce * ce
            + weights.identity * ident + consistency_weight * cons)
    return EditingLoss(loss, l2, perc, ce, ident, cons)
