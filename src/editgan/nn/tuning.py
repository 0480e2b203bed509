"""A per-image change of a generator's synthesis weights (what pivotal tuning learns), kept low-rank.

Every tuned weight W of the synthesis network (its modulated 3x3 convs, [C_out, C_in, 3, 3]) becomes

    W' = W + (B @ A).view_as(W),    B [C_out, r], A [r, C_in * k * k],  r = min(rank, C_out, C_in k k)

so a tuning costs r (C_out + C_in k^2) values per layer instead of C_out C_in k^2 (about 120k values
at rank 8 for the 128-px toonfaces generator, against 2.4M weights). The ToRGB layers stay as they
are: a correction they made alone would change the image but not the conv features a segmenter
reads, so it must pass through the convs (measured: segmentation of tuned faces improves, PSNR the
same). A tuning names the generator it belongs to by `generator_digest` and refuses any other.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field

import torch

from editgan.errors import CheckpointError
from editgan.nn.stylegan2 import Generator


def tunable_weights(G: Generator, min_resolution: int = 0) -> dict[str, torch.Tensor]:
    """Name (in G.synthesis) -> weight [C_out, C_in, 3, 3] of every conv a tuning may change (not ToRGB),
    in the synthesis blocks of resolution >= min_resolution (0: every block)."""
    chosen = {f"b{res}." for res in G.synthesis.resolutions if res >= min_resolution}
    return {name: p for name, p in G.synthesis.named_parameters()
            if name.endswith(".weight") and p.ndim == 4 and ".torgb." not in f".{name}"
            and name[:name.index(".") + 1] in chosen}


def factor_shapes(weight: torch.Tensor, rank: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Shapes of (B, A) for a rank-`rank` delta of weight [C_out, C_in, k, k]."""
    out, fan_in = weight.shape[0], weight[0].numel()
    r = min(rank, out, fan_in)
    return (out, r), (r, fan_in)


def generator_digest(G: Generator) -> str:
    """Hex SHA-256 of the generator's state (names, dtypes, shapes and float32 values, in name order):
    equal for the same weights wherever they were loaded from."""
    h = hashlib.sha256()
    for name, t in sorted(G.state_dict().items()):
        t = t.detach().to("cpu", torch.float32).contiguous()
        h.update(f"{name}:{list(t.shape)};".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


@dataclass
class Tuning:
    """Low-rank deltas of one image's tuned synthesis weights (module docstring).

    factors: weight name -> (B [C_out, r], A [r, C_in k k]) float; generator: `generator_digest` of
    the generator it was tuned from; info: how it was made and what it reached (JSON-safe).
    """

    factors: dict[str, tuple[torch.Tensor, torch.Tensor]]
    generator: str
    info: dict = field(default_factory=dict)

    def deltas(self) -> dict[str, torch.Tensor]:
        """Weight name -> B @ A as [C_out, C_in * k * k] float32."""
        return {name: b.float() @ a.float() for name, (b, a) in self.factors.items()}

    def num_values(self) -> int:
        return sum(b.numel() + a.numel() for b, a in self.factors.values())

    def check(self, G: Generator, digest: str | None = None) -> None:
        """CheckpointError (one line) unless this tuning was made for G (`digest`: G's, if known)
        and its factors fit G's weights."""
        digest = digest or generator_digest(G)
        if digest != self.generator:
            raise CheckpointError(f"this tuning belongs to generator {self.generator[:12]}, not to this one "
                                  f"({digest[:12]}); embed the image again with this bundle")
        weights = tunable_weights(G)
        for name, (b, a) in self.factors.items():
            if name not in weights:
                raise CheckpointError(f"the tuning changes {name!r}, which this generator's synthesis lacks")
            w = weights[name]
            if b.ndim != 2 or a.ndim != 2 or b.shape[0] != w.shape[0] or a.shape[1] != w[0].numel() \
                    or b.shape[1] != a.shape[0] or b.shape[1] > min(w.shape[0], w[0].numel()):
                raise CheckpointError(f"the tuning's factors for {name} ({list(b.shape)} @ {list(a.shape)}) do not "
                                      f"fit its weight {list(w.shape)}")

    @torch.no_grad()
    def apply(self, G: Generator, digest: str | None = None) -> Generator:
        """G' = a copy of G with every tuned weight W replaced by W + B @ A (G is left as it is)."""
        self.check(G, digest)
        tuned = copy.deepcopy(G)
        weights = tunable_weights(tuned)
        for name, delta in self.deltas().items():
            w = weights[name]
            w.add_(delta.to(w.device, w.dtype).view_as(w))
        return tuned
