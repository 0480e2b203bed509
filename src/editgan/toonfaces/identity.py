"""Identity of toonface images, from the packaged identity network: embeddings, cosine similarity
and verification (the analogue of EditGAN's ArcFace ID score, Sec. 4.2: the same face under another
expression, pose or background scores near 1, different faces much lower; `same_identity` applies
the threshold chosen on validation pairs at training time), and the network as the identity term R
of the editing objective (Eq. 4), with gradients.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from editgan.errors import InputError
from editgan.toonfaces.measure_nets import load_measure_nets


@torch.no_grad()
def identity_embedding(images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """images float [N, 3, S, S] in [-1, 1] -> unit-norm embeddings float32 [N, D]."""
    net = load_measure_nets()[1]
    emb = torch.cat([net(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])
    return F.normalize(emb, dim=1)


def identity_similarity(images_a: torch.Tensor, images_b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity [N] between the identities of images_a[i] and images_b[i]."""
    if images_a.shape != images_b.shape:
        raise InputError(f"identity_similarity needs two image batches of one shape, got "
                         f"{tuple(images_a.shape)} and {tuple(images_b.shape)}")
    return (identity_embedding(images_a) * identity_embedding(images_b)).sum(dim=1)


def same_identity(images_a: torch.Tensor, images_b: torch.Tensor) -> torch.Tensor:
    """bool [N]: identity_similarity above the trained verification threshold."""
    threshold = load_measure_nets()[2]["identity"]["threshold"]
    return identity_similarity(images_a, images_b) > threshold


class ToonfacesIdentity(nn.Module):
    """The packaged toonfaces identity network, with gradients: images [N, 3, S, S] -> unit embeddings."""

    def __init__(self):
        super().__init__()
        self.net = load_measure_nets()[1]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(images), dim=1)
