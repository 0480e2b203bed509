"""Lookahead (Zhang, Lucas, Hinton & Ba 2019): a wrapper around any torch optimizer.

The inner optimizer moves the "fast" weights theta (the parameters themselves). Every k inner
steps the "slow" weights phi, kept here, move part of the way towards them and the fast weights
restart from there:

    phi <- phi + alpha (theta - phi);   theta <- phi

EditGAN embeds images with Adam + Lookahead at a constant learning rate (App. A.2).
"""

from __future__ import annotations

import copy

import torch


class Lookahead:
    """Lookahead around `inner` (which owns the parameters and their groups); k >= 1, 0 < alpha <= 1."""

    def __init__(self, inner: torch.optim.Optimizer, k: int = 5, alpha: float = 0.5) -> None:
        if k < 1 or not 0 < alpha <= 1:
            raise ValueError(f"Lookahead needs k >= 1 and 0 < alpha <= 1, got k={k}, alpha={alpha}")
        self.inner, self.k, self.alpha = inner, k, alpha
        self.steps = 0
        self.slow = [[p.detach().clone() for p in group["params"]] for group in inner.param_groups]

    @property
    def param_groups(self) -> list[dict]:
        return self.inner.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.inner.zero_grad(set_to_none=set_to_none)

    @torch.no_grad()
    def step(self) -> None:
        """One inner step; every k-th also syncs slow and fast weights."""
        self.inner.step()
        self.steps += 1
        if self.steps % self.k:
            return
        for group, slows in zip(self.inner.param_groups, self.slow):
            for p, s in zip(group["params"], slows):
                s.add_(p - s, alpha=self.alpha)
                p.copy_(s)

    def state_dict(self) -> dict:
        """Inner optimizer state plus slow weights, step count, k and alpha (deep copies, so later
        steps do not change a saved state)."""
        return {"inner": copy.deepcopy(self.inner.state_dict()), "slow": [[s.clone() for s in g] for g in self.slow],
                "steps": self.steps, "k": self.k, "alpha": self.alpha}

    def load_state_dict(self, state: dict) -> None:
        self.inner.load_state_dict(state["inner"])
        self.k, self.alpha, self.steps = state["k"], state["alpha"], state["steps"]
        with torch.no_grad():
            for mine, theirs in zip(self.slow, state["slow"]):
                for s, t in zip(mine, theirs):
                    s.copy_(t)
