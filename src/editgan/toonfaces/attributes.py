"""Expression attributes of toonface images, predicted by the attribute network.

The analogue of EditGAN's smile classifier (Sec. 4.2): `is_smiling` thresholds the predicted
smile at SMILE_THRESHOLD, the same threshold that defines "smiling" for rendered ground truth.
"""

from __future__ import annotations

import torch

from editgan.toonfaces.measure_nets import ATTRIBUTES, load_measure_nets
from editgan.toonfaces.params import SMILE_THRESHOLD


@torch.no_grad()
def attribute_scores(images: torch.Tensor, batch_size: int = 256) -> dict[str, torch.Tensor]:
    """images float [N, 3, S, S] in [-1, 1] -> {attribute: float32 [N]} in parameter units
    (smile, gaze_x, gaze_y, brow_raise in about [-1, 1]; mouth_open, eye_open, pupil_size in [0, 1]), on the
    CPU (where the network runs) for images on any device."""
    net = load_measure_nets()[0]
    pred = torch.cat([net(images[i:i + batch_size].cpu()) for i in range(0, len(images), batch_size)])
    return {name: pred[:, i] for i, name in enumerate(ATTRIBUTES)}


def is_smiling(images: torch.Tensor) -> torch.Tensor:
    """bool [N]: predicted smile above SMILE_THRESHOLD."""
    return attribute_scores(images)["smile"] > SMILE_THRESHOLD
