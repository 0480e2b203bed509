"""Matching editing strengths: the scale at which one method changes an attribute as much as another.

Given a method's mean attribute change measured at a grid of scales (on a calibration set), the
matched scale is where the piecewise-linear interpolation of that curve first reaches the target
change (e.g. EditGAN's change at s = 1). Comparing methods at equal attribute change makes their
identity, realism and locality numbers comparable, as the curves of EditGAN Fig. 11 do.
"""

from __future__ import annotations

import numpy as np

from editgan.errors import InputError


def matched_scale(scales: np.ndarray, changes: np.ndarray, target: float) -> float:
    """scales [K] increasing (starting at 0 is typical), changes [K] the mean attribute change at
    each; returns the smallest s in [scales[0], scales[-1]] where the linear interpolation equals
    `target`. InputError if the curve never reaches it (extend the grid)."""
    s, c = np.asarray(scales, dtype=np.float64), np.asarray(changes, dtype=np.float64)
    if s.ndim != 1 or s.shape != c.shape or len(s) < 2 or not (np.diff(s) > 0).all():
        raise InputError(f"scales must be increasing [K >= 2] with changes of the same shape, got {s.shape}, {c.shape}")
    if not np.isfinite(c).all() or not np.isfinite(target):
        raise InputError("changes and target must be finite")
    above = (c - target) >= 0
    if above[0]:
        return float(s[0])
    hits = np.flatnonzero(above)
    if not hits.size:
        raise InputError(f"the attribute change never reaches {target:.4g} on scales up to {s[-1]:g} "
                         f"(largest {c.max():.4g})")
    i = int(hits[0])
    t = (target - c[i - 1]) / (c[i] - c[i - 1])
    return float(s[i - 1] + t * (s[i] - s[i - 1]))


def wplus_step_norm(delta: "np.ndarray") -> float:
    """Frobenius norm of an editing step [num_ws, w_dim] (or the mean over a batch [N, num_ws, w_dim])."""
    d = np.asarray(delta, dtype=np.float64)
    if d.ndim == 2:
        return float(np.linalg.norm(d))
    if d.ndim == 3:
        return float(np.linalg.norm(d.reshape(len(d), -1), axis=1).mean())
    raise InputError(f"an editing step is [num_ws, w_dim] or [N, num_ws, w_dim], got shape {d.shape}")
