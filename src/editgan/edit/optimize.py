"""Optimising an edit in W+ (EditGAN Sec. 3.3-3.4, App. A.4).

learn_edit: given w+ and the user's edited segmentation y_edited, find δw+ (zero init, Adam) that
minimises Eq. 5 for x_edit = G(w+ + δw+) against x = G(w+): keep the image outside the region r
(Eq. 1) and make the segmentation inside r match y_edited. Only δw+ is optimised; the generator and
the segmenter are frozen for the duration (their parameters receive no gradient).

refine: self-supervised refinement of an applied vector: start from w+ + s·δw+, take as target the
segmentation that this start produces, and optimise a further δ' with the refinement weights so that
artifacts outside r (relative to the unedited G(w+)) disappear while the segmentation inside r stays.

Step bookkeeping: `losses[i]` is the objective at the i-th iterate, i = 0 being the start (δ = 0);
`steps` Adam updates give steps + 1 iterates. The iterate with the lowest loss is returned.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from editgan.edit.losses import (LEARNING_WEIGHTS, REFINEMENT_WEIGHTS, Embedding, LossWeights, Perceptual,
                                 editing_objective, ensemble_logits)
from editgan.edit.region import DEFAULT_BUFFER, edit_region
from editgan.errors import InputError
from editgan.nn.segmenter import Segmentation, Segmenter, render_and_segment, segmentation_features
from editgan.nn.stylegan2 import Generator, check_wplus

Progress = Callable[[int, dict[str, float]], None]
Cancel = Callable[[], bool]
NOISE_MODE = "const"  # deterministic synthesis: the edit must not chase random noise
# The paper's editing optimisation (Sec. 3.3, App. A.4): the defaults of every front end (API, CLI, web).
EDIT_STEPS = 100
REFINE_STEPS = 30
EDIT_LR = 0.02


@dataclass
class EditResult:
    """Outcome of an optimisation in W+.

    wplus: the start point's reference w+ [N, num_ws, w_dim] (the unedited latent);
    delta: best change [N, num_ws, w_dim], so that the edited latent is wplus + delta (`wplus_after`);
    image_before / image_after: G(wplus) / G(wplus + delta), [N, 3, H, W] in [-1, 1];
    labels_before / labels_after: their segmentations, int64 [N, H', W'] (the segmenter's label map);
    region: r, float [N, 1, H', W'] in {0, 1}; losses: one {term: value} per iterate (see module
    docstring); best_step: index into losses of the iterate returned; cancelled: stopped by `cancel`;
    checkpoint_deltas: {k: the delta a run of k steps would have returned} for the requested k < steps.
    """

    wplus: torch.Tensor
    delta: torch.Tensor
    image_before: torch.Tensor
    image_after: torch.Tensor
    labels_before: torch.Tensor
    labels_after: torch.Tensor
    region: torch.Tensor
    losses: list[dict[str, float]]
    best_step: int
    cancelled: bool = False
    checkpoint_deltas: dict[int, torch.Tensor] = field(default_factory=dict)

    @property
    def wplus_after(self) -> torch.Tensor:
        return self.wplus + self.delta


@contextlib.contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Turn off requires_grad on every parameter of `modules` for the block, then restore it."""
    params = [p for m in modules for p in m.parameters()]
    before = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in zip(params, before):
            p.requires_grad_(flag)


def _check_target(target: torch.Tensor, n: int, seg: Segmenter) -> torch.Tensor:
    h, w = seg.config.out_size
    if not isinstance(target, torch.Tensor) or target.dtype.is_floating_point or target.dtype == torch.bool \
            or tuple(target.shape) != (n, h, w):
        got = f"{target.dtype} {list(target.shape)}" if isinstance(target, torch.Tensor) else type(target).__name__
        raise InputError(f"target labels must be an integer tensor [{n}, {h}, {w}], got {got}")
    return target.long()


def _optimize(G: Generator, seg: Segmenter, wplus: torch.Tensor, start: torch.Tensor, target: torch.Tensor,
              parts: Sequence[int], *, steps: int, lr: float, weights: LossWeights, buffer: int,
              perceptual: Perceptual | None, identity: Embedding | None, ensemble: str,
              progress: Progress | None, cancel: Cancel | None, checkpoints: Sequence[int] = (),
              before: tuple[torch.Tensor, Segmentation] | None = None) -> EditResult:
    """Minimise Eq. 5 over δ for x_edit = G(start + δ) against x = G(wplus); see module docstring.
    before: render_and_segment(G, seg, wplus) when the caller has it already."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise InputError(f"steps must be a non-negative integer, got {steps!r}")
    if seg.training:
        raise InputError("the segmenter must be in eval mode (call .eval())")
    image_before, seg_before = before if before is not None else render_and_segment(G, seg, wplus)
    region = edit_region(seg_before.labels, target, list(parts), buffer, seg.config.num_classes)
    if not region.any():
        raise InputError(f"nothing to edit: labels {list(parts)} occur in neither the current nor the target "
                         "segmentation")
    image_region = region if region.shape[-2:] == image_before.shape[-2:] else \
        F.interpolate(region, size=image_before.shape[-2:], mode="nearest")
    # One region shared by the batch: evaluate the segmenter only at its pixels.
    shared = bool((region == region[:1]).all())
    pixels = region[0, 0] > 0.5 if shared else None
    target_at = target.flatten(1)[:, pixels.flatten()] if shared else target
    reference = None
    if identity is not None:
        with torch.no_grad():
            reference = identity(image_before)

    delta = torch.zeros_like(start, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=lr)
    losses: list[dict[str, float]] = []
    best_loss, best_step, best_delta, cancelled = float("inf"), 0, delta.detach().clone(), False
    checkpoint_deltas: dict[int, torch.Tensor] = {}
    with frozen(G, seg):
        for step in range(steps + 1):
            image, feats = segmentation_features(G, start + delta, seg.config, noise_mode=NOISE_MODE)
            logits = ensemble_logits(seg.member_logits(feats, pixels), ensemble)
            loss = editing_objective(image, image_before, image_region, logits, target_at, weights,
                                     perceptual=perceptual, embed=identity, reference_embedding=reference)
            values = loss.as_floats()
            losses.append(values)
            if values["loss"] < best_loss:
                best_loss, best_step, best_delta = values["loss"], step, delta.detach().clone()
            if step in checkpoints and step < steps:
                checkpoint_deltas[step] = start - wplus + best_delta
            if progress is not None:
                progress(step, values)
            if step == steps:
                break
            if cancel is not None and cancel():
                cancelled = True
                break
            (grad,) = torch.autograd.grad(loss.loss, delta)
            delta.grad = grad
            opt.step()
    change = start - wplus + best_delta
    image_after, seg_after = render_and_segment(G, seg, wplus + change)
    return EditResult(wplus, change, image_before, image_after, seg_before.labels, seg_after.labels, region,
                      losses, best_step, cancelled, checkpoint_deltas)


def learn_edit(G: Generator, seg: Segmenter, wplus: torch.Tensor, target_labels: torch.Tensor,
               parts: Sequence[int], *, steps: int = EDIT_STEPS, lr: float = EDIT_LR,
               weights: LossWeights = LEARNING_WEIGHTS, buffer: int = DEFAULT_BUFFER,
               perceptual: Perceptual | None = None, identity: Embedding | None = None,
               ensemble: str = "mean_logits", progress: Progress | None = None,
               cancel: Cancel | None = None) -> EditResult:
    """Learn an editing vector δw+ from one edited segmentation (Sec. 3.3; Adam, lr 0.02, 100 steps).

    wplus: [N, num_ws, w_dim]; target_labels: y_edited, integer [N, H', W'] on the segmenter's label
    map; parts: Q_edit label indices; buffer: region dilation in pixels. perceptual(a, b) -> [N]
    adds P_out; identity (images -> [N, D] embeddings) adds λ3·L_ID, otherwise λ3 is unused.
    progress(step, {term: value}) is called at every iterate; cancel() -> True stops before the
    next update (the best iterate so far is returned, `cancelled` set). Returns an EditResult whose
    delta is the learned δw+ per sample.
    """
    wplus = check_wplus(G, wplus)
    target = _check_target(target_labels, wplus.shape[0], seg).to(wplus.device)
    return _optimize(G, seg, wplus, wplus, target, parts, steps=steps, lr=lr, weights=weights, buffer=buffer,
                     perceptual=perceptual, identity=identity, ensemble=ensemble, progress=progress,
                     cancel=cancel)


def refine(G: Generator, seg: Segmenter, wplus: torch.Tensor, delta: torch.Tensor, scale: float = 1.0, *,
           parts: Sequence[int], steps: int = REFINE_STEPS, lr: float = EDIT_LR,
           weights: LossWeights = REFINEMENT_WEIGHTS, buffer: int = DEFAULT_BUFFER,
           perceptual: Perceptual | None = None, identity: Embedding | None = None,
           ensemble: str = "mean_logits", progress: Progress | None = None,
           cancel: Cancel | None = None, checkpoints: Sequence[int] = ()) -> EditResult:
    """Self-supervised refinement of wplus + scale·delta (Sec. 3.4; 30 steps, weights (5, 1, 5)).

    delta: an editing vector [num_ws, w_dim] or per-sample [N, num_ws, w_dim]; parts: the vector's
    edited label indices (its region). The target is the segmentation of G(wplus + scale·delta); the
    reference image outside r is G(wplus). Returns an EditResult relative to wplus: `wplus_after`
    is the refined w+, `losses[0]` the objective of the plain application (when neither G(wplus) nor
    the applied image shows any of `parts`, there is nothing to refine: the plain application comes
    back with no losses). checkpoints: step counts
    k < steps whose results (what `steps=k` would return) are kept in `checkpoint_deltas`, so one run
    serves several refinement budgets.
    """
    wplus = check_wplus(G, wplus)
    if not isinstance(delta, torch.Tensor) or tuple(delta.shape[-2:]) != tuple(wplus.shape[1:]) \
            or delta.ndim not in (2, 3):
        got = list(delta.shape) if isinstance(delta, torch.Tensor) else type(delta).__name__
        raise InputError(f"delta must be [num_ws, w_dim] or [N, num_ws, w_dim] like w+ {list(wplus.shape)}, got {got}")
    start = wplus + float(scale) * delta.detach().to(wplus.device, wplus.dtype)
    image_start, seg_start = render_and_segment(G, seg, start)
    image_before, seg_before = render_and_segment(G, seg, wplus)
    region = edit_region(seg_before.labels, seg_start.labels, list(parts), buffer, seg.config.num_classes)
    if not region.any():  # the parts show in neither image: nothing to refine
        return EditResult(wplus, start - wplus, image_before, image_start, seg_before.labels, seg_start.labels,
                          region, [], 0, False, {k: start - wplus for k in checkpoints if k < steps})
    return _optimize(G, seg, wplus, start, seg_start.labels, parts, steps=steps, lr=lr, weights=weights,
                     buffer=buffer, perceptual=perceptual, identity=identity, ensemble=ensemble,
                     progress=progress, cancel=cancel, checkpoints=checkpoints, before=(image_before, seg_before))
