"""Generic measures of generative models and edits: Fréchet and kernel distances between feature
sets, IoU of label maps, locality of edits, matched-scale calibration, the InterFaceGAN / GANSpace
baselines and Inception features. Domain-specific measures live with their domain (e.g.
`editgan.toonfaces`: attribute scores, identity, fd_toon / kd_toon).
"""

from editgan.eval.frechet import frechet_distance
from editgan.eval.kernel_distance import kernel_distance

__all__ = ["frechet_distance", "kernel_distance"]
