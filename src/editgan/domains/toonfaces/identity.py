"""The toonfaces identity network as the identity term R of the editing objective (EditGAN Eq. 4)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from editgan.eval.toon_nets import load_measure_nets


class ToonfacesIdentity(nn.Module):
    """The packaged toonfaces identity network, with gradients: images [N, 3, S, S] -> unit embeddings."""

    def __init__(self):
        super().__init__()
        self.net = load_measure_nets()[1]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(images), dim=1)
