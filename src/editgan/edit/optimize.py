"""Optimising an edit in W+ (EditGAN Sec. 3.3-3.4, App. A.4).

learn_edit: given w+ and the user's edited segmentation y_edited, find δw+ (zero init, Adam) that
minimises Eq. 5 for x_edit = G(w+ + δw+) against x = G(w+): keep the image outside the region r
(Eq. 1) and make the segmentation inside r match y_edited. Only δw+ is optimised; the generator and
the segmenter are frozen for the duration (their parameters receive no gradient).

refine: self-supervised refinement of an applied vector: start from w+ + s·δw+, take as target the
segmentation that this start produces, and optimise a further δ' with the refinement weights so that
artifacts outside r (relative to the unedited G(w+)) disappear while the segmentation inside r stays.

Every choice (steps, weights, region, pixel space, features, best or final iterate...) comes from
an `EditSettings` (the paper's by default, or the release's); keyword overrides change single fields.

Precision: `dtype=torch.bfloat16` runs the generator's and the segmenter's layers in bfloat16; δw+,
Adam, the image the losses see and the losses stay float32 (`editgan.runtime.precision`).

Step bookkeeping: `losses[i]` is the objective at the i-th iterate, i = 0 being the start (δ = 0);
`steps` Adam updates give steps + 1 iterates. The iterate kept is the one with the lowest loss
(keep="best") or the last (keep="final", the release's behaviour).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from editgan.edit.losses import Embedding, LossWeights, Perceptual, consistency_loss, editing_objective, ensemble_logits
from editgan.edit.region import dilate, edit_region
from editgan.edit.settings import PAPER, EditSettings
from editgan.errors import InputError
from editgan.nn.segmenter import Segmentation, Segmenter, render_and_segment, segmentation_features
from editgan.nn.segmenter_inference import FactorisedInference
from editgan.nn.stylegan2 import Generator, check_wplus

Progress = Callable[[int, dict[str, float]], None]
Cancel = Callable[[], bool]
Encode = Callable[[torch.Tensor], torch.Tensor]  # images [N, 3, H, W] -> w+ [N, num_ws, w_dim]
NOISE_MODE = "const"  # deterministic synthesis: the edit must not chase random noise


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
              region: torch.Tensor, before: tuple[torch.Tensor, Segmentation], *, steps: int,
              weights: LossWeights, settings: EditSettings, perceptual: Perceptual | None,
              identity: Embedding | None, encode: Encode | None, progress: Progress | None,
              cancel: Cancel | None, checkpoints: Sequence[int] = (), shared: bool = False,
              dtype: torch.dtype | None = None) -> EditResult:
    """Minimise Eq. 5 over δ for x_edit = G(start + δ) against x = G(wplus) inside `region` [N, 1, H', W'];
    see the module docstring. before: render_and_segment(G, seg, wplus). encode: E for the
    consistency term (used when settings.consistency_weight > 0). shared: one δ [1, num_ws, w_dim]
    for the whole batch (the objective is the batch mean), else one per sample."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise InputError(f"steps must be a non-negative integer, got {steps!r}")
    if settings.consistency_weight > 0 and encode is None:
        raise InputError("these edit settings have an encoder consistency term (consistency_weight "
                         f"{settings.consistency_weight}) but no encoder was given; set consistency_weight=0")
    image_before, seg_before = before
    if not region.any():
        raise InputError("nothing to edit: the edit region is empty")
    image_region = region if region.shape[-2:] == image_before.shape[-2:] else \
        F.interpolate(region, size=image_before.shape[-2:], mode="nearest")
    # Evaluate the segmenter only at the pixels of the batch's regions (their union); the CE of each
    # sample then counts the union's pixels inside its own region.
    pixels = region.amax(0)[0] > 0.5
    target_at = target.flatten(1)[:, pixels.flatten()]
    inside_at = None if bool((region == region[:1]).all()) else region.flatten(2)[:, :, pixels.flatten()]
    inference = FactorisedInference(seg, settings.features) if settings.features else seg.inference
    reference = None
    if identity is not None:
        with torch.no_grad():
            reference = identity(image_before)
    to_encoder = (lambda x: (x + 1) / 2) if settings.pixel_space == "unit" else (lambda x: x)
    use_consistency = settings.consistency_weight > 0

    delta = torch.zeros_like(start[:1] if shared else start, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=settings.lr)
    losses: list[dict[str, float]] = []
    best_loss, kept_step, kept_delta, cancelled = float("inf"), 0, delta.detach().clone(), False
    checkpoint_deltas: dict[int, torch.Tensor] = {}
    with frozen(G, seg):
        for step in range(steps + 1):
            image, feats = segmentation_features(G, start + delta, seg.config, noise_mode=NOISE_MODE, dtype=dtype)
            logits = ensemble_logits(inference.member_logits(feats, pixels), settings.ensemble)
            consistency = None
            if use_consistency:
                with torch.no_grad():
                    encoded = encode(to_encoder(image.detach()))
                consistency = consistency_loss(start + delta, encoded)
            loss = editing_objective(image, image_before, image_region, logits, target_at, weights,
                                     subset_region=inside_at, perceptual=perceptual, embed=identity,
                                     reference_embedding=reference,
                                     l2_weight=settings.l2_weight, perceptual_weight=settings.perceptual_weight,
                                     pixel_space=settings.pixel_space, consistency=consistency,
                                     consistency_weight=settings.consistency_weight)
            values = loss.as_floats()
            losses.append(values)
            if settings.keep == "final" or values["loss"] < best_loss:
                best_loss, kept_step, kept_delta = values["loss"], step, delta.detach().clone()
            if step in checkpoints and step < steps:
                checkpoint_deltas[step] = start - wplus + kept_delta
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
    change = start - wplus + kept_delta
    image_after, seg_after = render_and_segment(G, seg, wplus + change, dtype=dtype)
    return EditResult(wplus, change, image_before, image_after, seg_before.labels, seg_after.labels, region,
                      losses, kept_step, cancelled, checkpoint_deltas)


def _painted_region(painted: torch.Tensor | None, labels: torch.Tensor, target: torch.Tensor,
                    buffer: int) -> torch.Tensor:
    """The release's region: the painted pixels (bool [N, H', W'], default: where target differs
    from labels) dilated by `buffer` -> float [N, 1, H', W']."""
    if painted is None:
        painted = labels != target
    if not isinstance(painted, torch.Tensor) or painted.dtype != torch.bool or painted.shape != target.shape:
        got = f"{painted.dtype} {list(painted.shape)}" if isinstance(painted, torch.Tensor) else type(painted).__name__
        raise InputError(f"painted must be a bool mask {list(target.shape)} like the target labels, got {got}")
    return dilate(painted[:, None].to(target.device), buffer)


def learn_edit(G: Generator, seg: Segmenter, wplus: torch.Tensor, target_labels: torch.Tensor,
               parts: Sequence[int], *, settings: EditSettings = PAPER, perceptual: Perceptual | None = None,
               identity: Embedding | None = None, encode: Encode | None = None,
               painted: torch.Tensor | None = None, progress: Progress | None = None,
               cancel: Cancel | None = None, shared: bool = False, dtype: torch.dtype | None = None,
               **overrides) -> EditResult:
    """Learn an editing vector δw+ from edited segmentations (Sec. 3.3; the paper learns from one).

    wplus: [N, num_ws, w_dim]; target_labels: y_edited, integer [N, H', W'] on the segmenter's label
    map; parts: Q_edit label indices. settings: the optimisation's choices (`EditSettings`), single
    fields overridden by keyword (steps=, lr=, weights=, buffer=, ...). perceptual(a, b) -> [N] adds
    P_out; identity (images -> [N, D] embeddings) adds λ3·L_ID; encode (images -> w+) serves the
    consistency term; painted: bool [N, H', W'] for region="painted" (default: the repainted pixels).
    progress(step, {term: value}) is called at every iterate; cancel() -> True stops before the
    next update (the iterate kept so far is returned, `cancelled` set). shared=True learns ONE δw+
    for all N samples (the batch mean of Eq. 5: one vector from N edited images; beyond the paper).
    dtype: the networks' precision (module docstring; None: their weights'). Returns an EditResult
    whose delta is the learned δw+ per sample (N equal rows when shared).
    """
    settings = settings.replace(**overrides)
    wplus = check_wplus(G, wplus)
    target = _check_target(target_labels, wplus.shape[0], seg).to(wplus.device)
    if seg.training:
        raise InputError("the segmenter must be in eval mode (call .eval())")
    before = render_and_segment(G, seg, wplus, dtype=dtype)
    if settings.region == "painted":
        region = _painted_region(painted, before[1].labels, target, settings.buffer)
    else:
        region = edit_region(before[1].labels, target, list(parts), settings.buffer, seg.config.num_classes)
        if not region.any():
            raise InputError(f"nothing to edit: labels {list(parts)} occur in neither the current nor the "
                             "target segmentation")
    return _optimize(G, seg, wplus, wplus, target, region, before, steps=settings.steps, weights=settings.weights,
                     settings=settings, perceptual=perceptual, identity=identity, encode=encode,
                     progress=progress, cancel=cancel, shared=shared, dtype=dtype)


def refine(G: Generator, seg: Segmenter, wplus: torch.Tensor, delta: torch.Tensor, scale: float = 1.0, *,
           parts: Sequence[int], settings: EditSettings = PAPER, steps: int | None = None,
           weights: LossWeights | None = None, perceptual: Perceptual | None = None,
           identity: Embedding | None = None, progress: Progress | None = None, cancel: Cancel | None = None,
           checkpoints: Sequence[int] = (), dtype: torch.dtype | None = None, **overrides) -> EditResult:
    """Self-supervised refinement of wplus + scale·delta (Sec. 3.4; settings.refine_steps updates
    with settings.refine_weights; `steps` / `weights` override those two, other fields by keyword).

    delta: an editing vector [num_ws, w_dim] or per-sample [N, num_ws, w_dim]; parts: the vector's
    edited label indices (its region, grown by settings.buffer; the release does the same). The
    target is the segmentation of G(wplus + scale·delta); the reference image outside r is G(wplus).
    No encoder consistency term (the release has none here). Returns an EditResult relative to
    wplus: `wplus_after` is the refined w+, `losses[0]` the objective of the plain application (when
    neither G(wplus) nor the applied image shows any of `parts`, there is nothing to refine: the
    plain application comes back with no losses). checkpoints: step counts k < steps whose results
    (what `steps=k` would return) are kept in `checkpoint_deltas`, so one run serves several budgets.
    dtype: the networks' precision (module docstring).
    """
    settings = settings.replace(**overrides, consistency_weight=0.0)
    steps = settings.refine_steps if steps is None else steps
    weights = settings.refine_weights if weights is None else weights
    wplus = check_wplus(G, wplus)
    if not isinstance(delta, torch.Tensor) or tuple(delta.shape[-2:]) != tuple(wplus.shape[1:]) \
            or delta.ndim not in (2, 3):
        got = list(delta.shape) if isinstance(delta, torch.Tensor) else type(delta).__name__
        raise InputError(f"delta must be [num_ws, w_dim] or [N, num_ws, w_dim] like w+ {list(wplus.shape)}, got {got}")
    if seg.training:
        raise InputError("the segmenter must be in eval mode (call .eval())")
    start = wplus + float(scale) * delta.detach().to(wplus.device, wplus.dtype)
    image_start, seg_start = render_and_segment(G, seg, start, dtype=dtype)
    before = render_and_segment(G, seg, wplus, dtype=dtype)
    region = edit_region(before[1].labels, seg_start.labels, list(parts), settings.buffer, seg.config.num_classes)
    if not region.any():  # the parts show in neither image: nothing to refine
        return EditResult(wplus, start - wplus, before[0], image_start, before[1].labels, seg_start.labels,
                          region, [], 0, False, {k: start - wplus for k in checkpoints if k < steps})
    return _optimize(G, seg, wplus, start, seg_start.labels, region, before, steps=steps, weights=weights,
                     settings=settings, perceptual=perceptual, identity=identity, encode=None,
                     progress=progress, cancel=cancel, checkpoints=checkpoints, dtype=dtype)
