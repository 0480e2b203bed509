"""Distilling a segmenter's ensemble into one pixel MLP: the bundle's display segmenter.

The M members of a DatasetGAN ensemble cost M times one member at every pixel of a label map. One
member-shaped MLP (Linear-ReLU-BN-Linear-ReLU-BN-Linear; the members' widths, or chosen ones),
trained to reproduce the ensemble's mean class probabilities, shows nearly the same label maps at
about 1/M of the cost. It needs no annotations: the data are the generator's own samples.

Data: `samples` images G(w+) (constant noise), w+ from z drawn with `seed` and truncated by `psi`;
with probability `mixing` two w are crossed over at a random layer, so that w+ off the W diagonal
(where embedded images live) is seen too. Their feature maps (bfloat16, native resolutions) and
the teacher's mean probabilities (float16, over the label map) are computed once. Each step draws
`batch_pixels` pixels across them (uniformly, or with `class_balance` > 0 favouring the teacher's
rare classes, as `train_segmenter` does with annotated ones), gathers their exact resampled feature
vectors (`gather_features`, the inference's interpolation) and minimises the soft cross-entropy
-sum_k p_ens(k) log p(k), i.e. KL(ensemble || student) plus the ensemble's entropy (a constant);
the KL is what is reported. Adam; stops when the windowed KL plateaus or after max_steps (the
rule of `train_segmenter`).

Start: with the teacher's widths the student starts as a copy of the member closest to the
ensemble (least KL on a pixel sample; BatchNorm statistics included), else from DatasetGAN's
initialisation with `seed`.

Agreement (`agreement`) on `eval_samples` other samples (drawn with seed + EVAL_SEED_OFFSET): the
share of pixels whose argmax labels match, the mean IoU between the two label maps (data-set
counts, `editgan.eval.iou`; classes present in either) and the mean KL, in nats.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from editgan.errors import InputError
from editgan.eval.iou import confusion, iou_from_confusion, mean_iou
from editgan.nn.segmenter import Segmenter, segmentation_features
from editgan.nn.segmenter_inference import gather_features
from editgan.train.segmenter_training import Plateau, draw_pixels, pixel_weights

EVAL_SEED_OFFSET = 1_000_003  # the agreement's samples never overlap the training ones
PROBE_PIXELS = 8192  # pixels on which the member closest to the ensemble is chosen


@dataclass
class DistillSettings:
    samples: int = 256
    psi: float = 1.0
    mixing: float = 0.5
    batch_pixels: int = 4096
    lr: float = 1e-3
    max_steps: int = 1500
    window: int = 100
    patience: int = 3
    min_rel_improvement: float = 0.01
    class_balance: float = 0.5
    seed: int = 0
    eval_samples: int = 16

    def validate(self) -> None:
        for name in ("samples", "batch_pixels", "max_steps", "window", "patience"):
            if getattr(self, name) < 1:
                raise InputError(f"distillation {name} must be at least 1, got {getattr(self, name)}")
        if self.eval_samples < 0:
            raise InputError(f"distillation eval_samples must be >= 0, got {self.eval_samples}")
        if not 0.0 <= self.mixing <= 1.0:
            raise InputError(f"style-mixing probability must lie in [0, 1], got {self.mixing}")
        if not 0.0 <= self.class_balance <= 1.0:
            raise InputError(f"class_balance must lie in [0, 1], got {self.class_balance}")
        if not self.psi > 0 or not self.lr > 0:
            raise InputError(f"psi and lr must be positive, got psi {self.psi}, lr {self.lr}")


@dataclass
class DistillReport:
    steps: int = 0
    window_kl: list[float] = field(default_factory=list)
    stopped: str = "max_steps"  # or "plateau"
    start: str = "random"  # or "member <m>" (the member closest to the ensemble)
    member_kl: list[float] = field(default_factory=list)  # each member's KL to the ensemble on the probe pixels
    before: dict = field(default_factory=dict)  # agreement of the starting point
    after: dict = field(default_factory=dict)  # agreement of the distilled segmenter
    data_s: float = 0.0
    train_s: float = 0.0

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@torch.no_grad()
def sample_latents(generator, n: int, seed: int, psi: float = 1.0, mixing: float = 0.0) -> torch.Tensor:
    """w+ [n, num_ws, w_dim] from z drawn with `seed`, truncated by psi; with probability `mixing` a
    sample's rows from a random crossover layer on come from a second z (style mixing)."""
    if n == 0:
        return torch.zeros(0, generator.num_ws, generator.config.w_dim, device=generator.w_avg.device)
    gen = torch.Generator().manual_seed(int(seed))
    z = generator.sample_z(2 * n, generator=gen).view(2, n, -1)
    first, second = (generator.z_to_wplus(zz, psi=psi) for zz in z)
    num_ws = first.shape[1]
    mixed = torch.rand(n, generator=gen) < mixing
    cut = torch.randint(1, max(num_ws, 2), (n,), generator=gen)
    take_second = mixed[:, None] & (torch.arange(num_ws)[None] >= cut[:, None])
    return torch.where(take_second[..., None].to(first.device), second, first).contiguous()


@torch.no_grad()
def distillation_data(teacher: Segmenter, generator, wplus: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Feature maps of every G(w+) (bfloat16 [I, C_k, r_k, r_k] each) and the teacher's mean
    probabilities (float16 [I, K, H, W]), one image at a time."""
    feats, probs = [], []
    for w in wplus:
        _, f = segmentation_features(generator, w[None], teacher.config, noise_mode="const")
        probs.append(teacher.predict(f).probs.half())
        feats.append([x.to(torch.bfloat16) for x in f])
    return [torch.cat([f[k] for f in feats]) for k in range(len(feats[0]))], torch.cat(probs)


def student_config(teacher: Segmenter, hidden: tuple[int, int] | None = None):
    """The teacher's config with one member (and `hidden` widths when given)."""
    return dataclasses.replace(teacher.config, num_members=1, hidden=tuple(hidden or teacher.config.hidden))


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Student logits and target probabilities [P, K] -> (mean soft cross-entropy, mean KL(target || student))."""
    logp = torch.log_softmax(logits, dim=1)
    ce = -(target * logp).sum(1).mean()
    entropy = -(target * torch.log(target.clamp_min(1e-12))).sum(1).mean()
    return ce, ce - entropy


@torch.no_grad()
def closest_member(teacher: Segmenter, x: torch.Tensor, target: torch.Tensor) -> tuple[int, list[float]]:
    """(index of the member with the least KL to the ensemble on feature vectors x [P, C_in], targets
    [P, K]; every member's KL)."""
    logits = teacher.logits_from_vectors(x.expand(teacher.num_members, -1, -1))  # [M, K, P]
    kls = [float(soft_cross_entropy(member.T, target)[1]) for member in logits]
    return int(np.argmin(kls)), kls


@torch.no_grad()
def copy_member(student: Segmenter, teacher: Segmenter, m: int) -> None:
    """Member m of the teacher (weights and BatchNorm statistics) into the one-member student."""
    state = teacher.state_dict()
    student.load_state_dict({k: state[k][m:m + 1].clone() for k in student.state_dict()})


@torch.no_grad()
def agreement(student: Segmenter, teacher: Segmenter, generator, wplus: torch.Tensor) -> dict:
    """How closely `student` labels like `teacher` on G(w+) (see the module): {"pixel_accuracy",
    "mean_iou", "kl", "n"}; empty for no latents."""
    if wplus.shape[0] == 0:
        return {}
    k = teacher.config.num_classes
    counts, kl, pixels = np.zeros((k, k), np.int64), 0.0, 0
    for w in wplus:
        _, feats = segmentation_features(generator, w[None], teacher.config, noise_mode="const")
        ours, theirs = student.predict(feats), teacher.predict(feats)
        counts += confusion(ours.labels.numpy(), theirs.labels.numpy(), k)
        p = theirs.probs.movedim(1, -1).reshape(-1, k)
        q = ours.probs.movedim(1, -1).reshape(-1, k).clamp_min(1e-12)
        kl += float((p * (torch.log(p.clamp_min(1e-12)) - torch.log(q))).sum())
        pixels += p.shape[0]
    return {"pixel_accuracy": float(np.trace(counts) / counts.sum()),
            "mean_iou": mean_iou(iou_from_confusion(counts)), "kl": kl / pixels, "n": int(wplus.shape[0])}


def distill_segmenter(teacher: Segmenter, generator, settings: DistillSettings | None = None,
                      hidden: tuple[int, int] | None = None,
                      progress: Callable[[int, float], None] | None = None) -> tuple[Segmenter, DistillReport]:
    """A one-member segmenter (hidden widths: the teacher's, or `hidden`) trained to match the
    teacher's mean probabilities on the generator's samples (see the module), in eval mode, and the
    report. progress(step, KL) after every step."""
    s = settings or DistillSettings()
    s.validate()
    cfg = student_config(teacher, hidden)  # ConfigError for bad widths, before any work
    teacher = teacher.eval()
    device = generator.w_avg.device
    report = DistillReport()
    t0 = time.perf_counter()
    wplus = sample_latents(generator, s.samples, s.seed, s.psi, s.mixing)
    held = sample_latents(generator, s.eval_samples, s.seed + EVAL_SEED_OFFSET, s.psi, s.mixing)
    feats, probs = distillation_data(teacher, generator, wplus)
    feats = [f.cpu() for f in feats]
    n, k, h, w = probs.shape
    targets = probs.cpu().movedim(1, -1).reshape(-1, k)  # [I*H*W, K] float16
    weights = pixel_weights(targets.argmax(1), k, s.class_balance)
    gen = torch.Generator().manual_seed(s.seed)

    def batch(size: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = draw_pixels(weights, n * h * w, size, gen)
        img, pix = idx // (h * w), idx % (h * w)
        x = gather_features(teacher.config, feats, img, pix // w, pix % w).float()
        return x, targets[idx].float()

    student = Segmenter(cfg, seeds=[s.seed])
    teacher_cpu = teacher if device.type == "cpu" else _cpu_copy(teacher)
    if cfg.hidden == teacher.config.hidden:
        best, report.member_kl = closest_member(teacher_cpu, *batch(PROBE_PIXELS))
        copy_member(student, teacher_cpu, best)
        report.start = f"member {best}"
    report.data_s = round(time.perf_counter() - t0, 1)
    student = student.to(device).eval()
    report.before = agreement(student, teacher, generator, held)
    student = student.cpu()  # training runs on the CPU, where the features are

    t1 = time.perf_counter()
    optimizer = torch.optim.Adam(student.parameters(), lr=s.lr)
    plateau = Plateau(s.window, s.patience, s.min_rel_improvement, report.window_kl)
    student.train()
    for step in range(1, s.max_steps + 1):
        x, target = batch(s.batch_pixels)
        logits = student.logits_from_vectors(x[None])[0].T  # [B, K]
        loss, kl = soft_cross_entropy(logits, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        kl = kl.item()
        report.steps = step
        if progress:
            progress(step, kl)
        if plateau.reached(kl):
            report.stopped = "plateau"
            break
    report.train_s = round(time.perf_counter() - t1, 1)
    student = student.eval().requires_grad_(False).to(device)
    report.after = agreement(student, teacher, generator, held)
    return student, report


def _cpu_copy(seg: Segmenter) -> Segmenter:
    copy = Segmenter(seg.config)
    copy.load_state_dict({k: v.cpu() for k, v in seg.state_dict().items()})
    return copy.eval()


def distilled_provenance(teacher_sha256: str, teacher: Segmenter, settings: DistillSettings,
                         report: DistillReport, **extra) -> dict:
    """The provenance a display segmenter is saved with; `distilled_from.sha256` is what
    `Bundle.display_segmenter_dir` checks against the segmenter in use."""
    return {"source": "distilled", "distilled_from": {"sha256": teacher_sha256, "num_members": teacher.num_members,
                                                      "hidden": list(teacher.config.hidden)},
            "settings": dataclasses.asdict(settings), "report": report.to_json(), **extra}
