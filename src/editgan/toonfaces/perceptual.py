"""The "toon" perceptual distance: distance between the toonfaces measuring networks' activations
(unit-normalised conv maps and penultimate features, LPIPS-style with uniform weights). Semantic
for toonfaces (identity, expression) and cheap, but meaningless on any other domain.
Signature as every perceptual distance (`editgan.nn.perceptual`): (a, b, mask=None) -> [N].
"""

from __future__ import annotations

from functools import lru_cache

import torch

from editgan.nn.lpips import unit_normalize
from editgan.nn.perceptual import check_pair
from editgan.toonfaces.measure_nets import load_measure_nets


@lru_cache(maxsize=4)
def _toon_nets(device: str):
    attr_net, id_net, _ = load_measure_nets()
    return [net.to(device).requires_grad_(False) for net in (id_net, attr_net)]


def _toon_taps(net, images: torch.Tensor) -> list[torch.Tensor]:
    """Every ReLU output of the conv body [N, C, h, w] plus the penultimate features [N, D, 1, 1]."""
    taps = []
    x = net.prepare(images)
    for layer in net.body:
        x = layer(x)
        if isinstance(layer, torch.nn.ReLU):
            taps.append(x)
    taps.append(net.features(x)[:, :, None, None])
    return taps


def toon(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over taps of both toonfaces nets of mean_{h,w} sum_c (u(a) - u(b))^2, u = unit-normalised
    over channels -> [N] (each tap contributes at most 4, so the result is in [0, 4])."""
    a, b = check_pair(a, b, mask, "toon")
    n = a.shape[0]
    total, count = a.new_zeros(n), 0
    for net in _toon_nets(str(a.device)):
        for f in _toon_taps(net, torch.cat([a, b])):
            u = unit_normalize(f)
            total = total + (u[:n] - u[n:]).square().sum(dim=1).mean(dim=(1, 2))
            count += 1
    return total / count
