"""A tiny editable world: the tiny generator, a random segmenter with confident (scaled) weights,
a three-label scheme, a bundle holding both, and a target label map with a painted square."""

import torch

from editgan.bundle import write_bundle
from editgan.io.segmenter_files import save_segmenter
from editgan.labels import LabelScheme
from editgan.nn.segmenter import Segmenter, render_and_segment
from editgan.nn.segmenter_config import SegmenterConfig

SCHEME = LabelScheme("three", ("background", "skin", "mouth"), ((0, 0, 0), (200, 150, 120), (255, 0, 0)))
MOUTH = 2


def make_tiny_segmenter(generator, seed: int = 0) -> Segmenter:
    """Random members whose weights are scaled up so that predictions react to w+ (DatasetGAN's
    N(0, 0.02) init gives near-uniform, w+-insensitive logits)."""
    torch.manual_seed(seed)
    seg = Segmenter(SegmenterConfig.for_generator(generator.config, num_classes=3, num_members=2),
                    seeds=[seed, seed + 1])
    with torch.no_grad():
        for w in (seg.w1, seg.w2, seg.w3):
            w.mul_(15)
    return seg.eval().requires_grad_(False)


def painted_target(generator, seg, wplus, rows=slice(8, 20), cols=slice(8, 20)) -> torch.Tensor:
    """The current segmentation of G(w+) with a square painted as MOUTH -> int64 [N, H, W]."""
    target = render_and_segment(generator, seg, wplus)[1].labels.clone()
    target[:, rows, cols] = MOUTH
    return target


def write_edit_bundle(path, generator, seg=None):
    """A bundle directory with the generator and (when given) the segmenter, scheme SCHEME."""
    bundle = write_bundle(path, "tiny", generator, labels=SCHEME)
    if seg is not None:
        save_segmenter(seg, path, SCHEME)
    return bundle
