"""Segmentation branch: an ensemble of DatasetGAN pixel MLPs on the generator's feature maps.

Each member m maps the concatenated, resampled feature vector f(p) [C_in] of a pixel p to class
logits:  Linear(C_in, H1) -> ReLU -> BatchNorm1d -> Linear(H1, H2) -> ReLU -> BatchNorm1d ->
Linear(H2, K). The prediction is the mean of the members' softmax; the per-pixel uncertainty is
the ensemble's Jensen-Shannon divergence H(mean_m p_m) - mean_m H(p_m) in nats (0 when members
agree, at most log M). DatasetGAN ranks samples with the same difference but takes the entropy of
the mean *logits*; we use the mean probabilities, which makes it a true mutual information.

This module holds the parameters, their initialisation and training-mode BatchNorm; inference over
feature maps is `editgan.nn.segmenter_inference` (exact and factorised). In eval mode both
BatchNorms fold into the following Linear.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from editgan.errors import ConfigError, InputError
from editgan.nn.pretrained import Pretrained
from editgan.nn.segmenter_config import SegmenterConfig
from editgan.nn.segmenter_inference import FactorisedInference, Segmentation, ensemble

BN_MOMENTUM = 0.1  # torch.nn.BatchNorm1d's default, which DatasetGAN trained with

__all__ = ["Segmenter", "Segmentation", "ensemble", "render_and_segment", "segmentation_features"]


class Segmenter(Pretrained, nn.Module):
    """M pixel MLPs with stacked weights: w1 [M, H1, C_in], w2 [M, H2, H1], w3 [M, K, H2]."""

    config_class, file_format, file_name = SegmenterConfig, "editgan-segmenter", "segmenter"

    def __init__(self, config: SegmenterConfig, seeds: list[int] | None = None):
        super().__init__()
        self.config = config
        m, (h1, h2), k, cin = config.num_members, config.hidden, config.num_classes, config.in_features
        self.w1, self.b1 = nn.Parameter(torch.empty(m, h1, cin)), nn.Parameter(torch.empty(m, h1))
        self.w2, self.b2 = nn.Parameter(torch.empty(m, h2, h1)), nn.Parameter(torch.empty(m, h2))
        self.w3, self.b3 = nn.Parameter(torch.empty(m, k, h2)), nn.Parameter(torch.empty(m, k))
        for i, h in ((1, h1), (2, h2)):
            setattr(self, f"bn{i}_weight", nn.Parameter(torch.ones(m, h)))
            setattr(self, f"bn{i}_bias", nn.Parameter(torch.zeros(m, h)))
            self.register_buffer(f"bn{i}_mean", torch.zeros(m, h))
            self.register_buffer(f"bn{i}_var", torch.ones(m, h))
            self.register_buffer(f"bn{i}_count", torch.zeros(m, dtype=torch.long))
        self.reset_parameters(seeds if seeds is not None else list(range(m)))
        self.inference = FactorisedInference(self)

    def extra_repr(self) -> str:
        cfg = self.config
        return f"num_members={cfg.num_members}, in_features={cfg.in_features}, hidden={cfg.hidden}, " \
               f"num_classes={cfg.num_classes}, out_resolution={cfg.out_resolution}, " \
               f"interpolation={cfg.interpolation}"

    @property
    def num_members(self) -> int:
        return self.config.num_members

    @torch.no_grad()
    def reset_parameters(self, seeds: list[int]) -> None:
        """DatasetGAN's init, member m from its own seed: Linear weights N(0, 0.02), biases 0,
        BatchNorm weight 1, bias 0, running statistics reset."""
        if len(seeds) != self.num_members:
            raise ConfigError(f"need one seed per member ({self.num_members}), got {len(seeds)}")
        for m, seed in enumerate(seeds):
            gen = torch.Generator().manual_seed(int(seed))
            for w in (self.w1, self.w2, self.w3):
                w[m].copy_(torch.randn(w.shape[1:], generator=gen) * 0.02)
        for name, value in (("b1", 0), ("b2", 0), ("b3", 0), ("bn1_weight", 1), ("bn1_bias", 0),
                            ("bn2_weight", 1), ("bn2_bias", 0), ("bn1_mean", 0), ("bn1_var", 1),
                            ("bn2_mean", 0), ("bn2_var", 1), ("bn1_count", 0), ("bn2_count", 0)):
            getattr(self, name).fill_(value)

    # ------------------------------------------------------------------ MLP after the first layer
    def _bn_affine(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Eval-mode BatchNorm i as y = a * x + c; a, c [M, H_i]."""
        a = getattr(self, f"bn{i}_weight") * torch.rsqrt(getattr(self, f"bn{i}_var") + self.config.bn_eps)
        return a, getattr(self, f"bn{i}_bias") - getattr(self, f"bn{i}_mean") * a

    def _folded(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(w2', b2', w3', b3') with both eval-mode BatchNorms folded into the next Linear."""
        a1, c1 = self._bn_affine(1)
        a2, c2 = self._bn_affine(2)
        w2 = self.w2 * a1[:, None, :]
        b2 = self.b2 + torch.einsum("mij,mj->mi", self.w2, c1)
        w3 = self.w3 * a2[:, None, :]
        b3 = self.b3 + torch.einsum("mij,mj->mi", self.w3, c2)
        return w2, b2, w3, b3

    def _batch_norm_train(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """Training-mode BatchNorm1d per member over pixels: x [M, H, L]; updates running stats."""
        mean = x.mean(-1)
        var = x.var(-1, unbiased=False)
        with torch.no_grad():
            n = x.shape[-1]
            unbiased = var * (n / max(n - 1, 1))
            getattr(self, f"bn{i}_mean").lerp_(mean.detach(), BN_MOMENTUM)
            getattr(self, f"bn{i}_var").lerp_(unbiased.detach(), BN_MOMENTUM)
            getattr(self, f"bn{i}_count").add_(1)
        w, b = getattr(self, f"bn{i}_weight"), getattr(self, f"bn{i}_bias")
        return (x - mean[..., None]) * torch.rsqrt(var[..., None] + self.config.bn_eps) * w[..., None] + b[..., None]

    def tail(self, z1: torch.Tensor) -> torch.Tensor:
        """First-layer pre-activations z1 [..., M, H1, L] (bias included) -> logits [..., M, K, L], computed
        in z1's dtype (bfloat16 z1: the folded weights are cast to it). Training mode needs z1 [M, H1, L]
        (BatchNorm statistics over the L pixels)."""
        if self.training:
            if z1.ndim != 3:
                raise InputError("training-mode segmenter takes pre-activations [M, H1, L]")
            h = self._batch_norm_train(F.relu(z1), 1)
            h = self._batch_norm_train(F.relu(torch.matmul(self.w2, h) + self.b2[..., None]), 2)
            return torch.matmul(self.w3, h) + self.b3[..., None]
        w2, b2, w3, b3 = (t.to(z1.dtype) for t in self._folded())
        h = F.relu(torch.matmul(w2, F.relu(z1)) + b2[..., None])
        return torch.matmul(w3, h) + b3[..., None]

    def tail_pixel_major(self, z1: torch.Tensor) -> torch.Tensor:
        """Eval-mode `tail` on pixel-major pre-activations: z1 [L, M*H1] (bias included) -> logits
        [M, L, K] in z1's dtype. Each member's products run on a strided view of z1, so the M*H1
        hidden values are never transposed (a transposing copy, and a ReLU backward across two
        layouts, cost 3-4x the products themselves: tests/test_segmenter.py holds the parity)."""
        if self.training:
            raise InputError("tail_pixel_major is an eval-mode path; call .eval() first")
        m, h1 = self.w1.shape[:2]
        if z1.ndim != 2 or z1.shape[1] != m * h1:
            raise InputError(f"pre-activations must be [L, {m * h1}], got {list(z1.shape)}")
        w2, b2, w3, b3 = (t.to(z1.dtype) for t in self._folded())
        x = F.relu(z1).view(-1, m, h1).transpose(0, 1)  # [M, L, H1], strided
        h = F.relu(torch.baddbmm(b2[:, None], x, w2.transpose(1, 2)))
        return torch.baddbmm(b3[:, None], h, w3.transpose(1, 2))

    def logits_from_vectors(self, x: torch.Tensor) -> torch.Tensor:
        """Concatenated feature vectors x [M, B, C_in] (member m sees its own B pixels) ->
        logits [M, K, B]. The training path; BatchNorm follows `self.training`."""
        z1 = torch.matmul(self.w1, x.transpose(1, 2)) + self.b1[..., None]
        return self.tail(z1)

    # ------------------------------------------------------------------ inference
    def member_logits(self, feats: list[torch.Tensor], pixels: torch.Tensor | None = None,
                      rows_per_tile: int | None = None) -> torch.Tensor:
        """Member logits [N, M, K, H, W], or [N, M, K, P] at `pixels` (FactorisedInference.member_logits)."""
        return self.inference.member_logits(feats, pixels, rows_per_tile)

    def predict(self, feats: list[torch.Tensor], pixels: torch.Tensor | None = None,
                rows_per_tile: int | None = None) -> Segmentation:
        """Ensemble prediction (FactorisedInference.predict)."""
        return self.inference.predict(feats, pixels, rows_per_tile)

    def forward(self, feats: list[torch.Tensor], pixels: torch.Tensor | None = None) -> torch.Tensor:
        return self.member_logits(feats, pixels)


def segmentation_features(generator, wplus: torch.Tensor, config: SegmenterConfig, **synthesis_kwargs):
    """Run the synthesis network and return (image, the feature maps `config` reads, in order).

    With config.include_const the generator's learned 4x4 constant input comes first (as in the
    EditGAN release), then S^k for k in config.layers (all when None). kwargs go to synthesis
    (dtype=torch.bfloat16: feature maps in bfloat16, the const cast to match; the image stays float32).
    """
    img, feats = generator.synthesis(wplus, return_features=True, **synthesis_kwargs)
    chosen = feats if config.layers is None else [feats[k] for k in config.layers]
    if config.include_const:
        const = generator.synthesis.b4.const.to(feats[0].dtype)
        chosen = [const.unsqueeze(0).expand(wplus.shape[0], -1, -1, -1)] + list(chosen)
    got = [(f.shape[1], f.shape[-1]) for f in chosen]
    if got != [tuple(s) for s in config.feature_shapes]:
        raise ConfigError(f"generator feature maps {got} do not match the segmenter's {config.feature_shapes}")
    return img, chosen


@torch.no_grad()
def render_and_segment(G, seg: Segmenter, wplus: torch.Tensor, noise_mode: str = "const",
                       dtype: torch.dtype | None = None) -> tuple[torch.Tensor, Segmentation]:
    """(G(w+) [N, 3, H, W] in [-1, 1], the segmenter's ensemble prediction of its feature maps);
    constant noise by default, so that repeated renders of one w+ agree. dtype: the precision both
    networks compute in (None: the weights'; torch.bfloat16: the image and prediction stay float32)."""
    image, feats = segmentation_features(G, wplus, seg.config, noise_mode=noise_mode, dtype=dtype)
    return image, seg.predict(feats)
