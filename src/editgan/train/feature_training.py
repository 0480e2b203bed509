"""Train a FeaturePyramid to segment labelled images: the frozen features of a projected discriminator.

    images uint8 [N, R, R, C], labels int [N, R, R] in [0, num_classes) -> FeaturePyramid (eval mode)

Per-pixel cross-entropy, AdamW under a one-cycle learning rate, batches drawn by a seeded generator
(same data, settings and thread count: same network).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from editgan.errors import InputError
from editgan.eval.iou import confusion, iou_from_confusion
from editgan.nn.feature_pyramid import FeaturePyramid, FeaturePyramidConfig


@dataclass
class FeatureTrainSettings:
    steps: int = 800
    batch: int = 32
    lr: float = 2e-3            # the one-cycle schedule's peak
    weight_decay: float = 1e-4
    seed: int = 0


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, C] -> float32 [N, C, H, W] in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1


def check_labelled(images: np.ndarray, labels: np.ndarray, config: FeaturePyramidConfig) -> None:
    """InputError unless images are uint8 [N, R, R, C] and labels [N, R, R] in [0, num_classes)."""
    r, c = config.resolution, config.img_channels
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (r, r, c):
        raise InputError(f"images must be uint8 [N, {r}, {r}, {c}], got {images.dtype} {list(images.shape)}")
    if labels.shape != images.shape[:3]:
        raise InputError(f"labels must be [N, {r}, {r}] like the images, got {list(labels.shape)}")
    if labels.size and (labels.min() < 0 or labels.max() >= config.num_classes):
        raise InputError(f"labels must lie in [0, {config.num_classes}), got [{labels.min()}, {labels.max()}]")


def train_feature_pyramid(images: np.ndarray, labels: np.ndarray, config: FeaturePyramidConfig,
                          settings: FeatureTrainSettings = FeatureTrainSettings(),
                          progress: Callable[[int, int, float], None] | None = None,
                          device: str | torch.device = "cpu") -> tuple[FeaturePyramid, dict]:
    """(trained pyramid in eval mode, frozen, on `device`; report {"final_loss", "seconds", "steps"}).
    progress(step, steps, loss) is called after every step."""
    check_labelled(images, labels, config)
    torch.manual_seed(settings.seed)
    net = FeaturePyramid(config).to(device).train()
    opt = torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=settings.lr, total_steps=settings.steps)
    draw = torch.Generator().manual_seed(settings.seed)
    start, loss = time.monotonic(), torch.tensor(float("nan"))
    for step in range(settings.steps):
        idx = torch.randint(len(images), (settings.batch,), generator=draw).numpy()
        target = torch.from_numpy(np.ascontiguousarray(labels[idx])).long().to(device)
        loss = F.cross_entropy(net.segment(images_to_tensor(images[idx]).to(device)), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        if progress is not None:
            progress(step + 1, settings.steps, loss.item())
    report = {"final_loss": loss.item(), "seconds": time.monotonic() - start, "steps": settings.steps}
    return net.eval().requires_grad_(False), report


@torch.no_grad()
def segmentation_iou(net: FeaturePyramid, images: np.ndarray, labels: np.ndarray, batch: int = 64) -> np.ndarray:
    """Data-set IoU per class float [num_classes] (NaN where a class is absent) of `net` on labelled images."""
    check_labelled(images, labels, net.config)
    k = net.config.num_classes
    counts = np.zeros((k, k), dtype=np.int64)
    device = next(net.parameters()).device
    for i in range(0, len(images), batch):
        pred = net.segment(images_to_tensor(images[i:i + batch]).to(device)).argmax(1).cpu().numpy()
        counts += confusion(pred, labels[i:i + batch], k)
    return iou_from_confusion(counts)
