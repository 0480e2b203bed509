"""Measuring edits: toonface attribute scores, identity similarity, and set distances.

fd_toon / kd_toon are Fréchet and kernel distances in the toonface measuring networks' features
(the analogues of FID / KID in EditGAN Sec. 4.2, but not those metrics).
"""

from editgan.eval.attributes import attribute_scores, is_smiling
from editgan.eval.features import toon_features
from editgan.eval.frechet import fd_toon, frechet_distance
from editgan.eval.identity import identity_embedding, identity_similarity, same_identity
from editgan.eval.kernel_distance import kd_toon, kernel_distance

__all__ = [
    "attribute_scores",
    "fd_toon",
    "frechet_distance",
    "identity_embedding",
    "identity_similarity",
    "is_smiling",
    "kd_toon",
    "kernel_distance",
    "same_identity",
    "toon_features",
]
