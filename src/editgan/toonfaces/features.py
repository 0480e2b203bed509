"""Toon features: the penultimate activations of both measuring networks, for set-level distances.

The identity network sees who a face is, the attribute network what it is doing; their
penultimate features concatenated ([N, 2 * feature_dim]) describe both, so a distance between
feature distributions notices wrong identities, wrong expressions and rendering artefacts.
"""

from __future__ import annotations

import torch

from editgan.toonfaces.measure_nets import load_measure_nets


@torch.no_grad()
def toon_features(images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """images float [N, 3, S, S] in [-1, 1] -> float64 [N, 2 * feature_dim]."""
    attr_net, id_net, _ = load_measure_nets()
    out = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        out.append(torch.cat([id_net.penultimate(chunk), attr_net.penultimate(chunk)], dim=1).double())
    return torch.cat(out)
