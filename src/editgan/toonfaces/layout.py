"""From parameters to geometry and colours: every scalar the renderer draws with.

Geometry is in face coordinates (see canvas.py), the image spanning [-1, 1] at head_scale 1.
Colours are RGB floats in [0, 255]. Only arithmetic on Python floats, so it is exact everywhere.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from editgan.toonfaces.params import ToonParams

SKIN_PALETTE = ((255, 226, 200), (243, 198, 158), (214, 157, 112), (160, 104, 68), (98, 62, 42))
HAIR_PALETTE = ((28, 24, 24), (92, 58, 32), (158, 72, 36), (226, 186, 112), (188, 188, 192), (52, 76, 156))
EYE_PALETTE = ((92, 56, 30), (128, 106, 48), (64, 126, 70), (64, 122, 196), (118, 128, 140))
LIP_RED = (196, 74, 88)


def palette(colors: tuple[tuple[int, int, int], ...], t: float) -> np.ndarray:
    """Piecewise-linear colour ramp through `colors` at t in [0, 1] -> float32 [3]."""
    pos = t * (len(colors) - 1)
    i = min(int(pos), len(colors) - 2)
    w = pos - i
    a, b = colors[i], colors[i + 1]
    return np.array([a[c] + (b[c] - a[c]) * w for c in range(3)], dtype=np.float32)


@dataclass(frozen=True)
class Layout:
    """Derived geometry (face units) and colours of one face."""

    # face outline: centre (0, fy), half-width a, half-height b, jaw taper
    fy: float
    a: float
    b: float
    taper: float
    # ears: centre u = +-ear_u at v = ear_v, half-sizes
    ear_u: float
    ear_v: float
    ear_w: float
    ear_h: float
    # eyes: centres (+-eye_u, eye_v), half-width eye_w, open half-height eye_h (upper lid)
    eye_u: float
    eye_v: float
    eye_w: float
    eye_h: float
    iris_r: float
    # eyebrows: centre line height, half-width, half-thickness
    brow_v: float
    brow_w: float
    brow_t: float
    # nose: top, bottom, half-width of the tip
    nose_top: float
    nose_bottom: float
    nose_w: float
    # mouth: centre height, half-width, lip half-thickness
    mouth_v: float
    mouth_w: float
    lip_t: float
    # hair
    hair_style: int
    hair_length: float
    # colours
    skin: np.ndarray
    hair: np.ndarray
    iris: np.ndarray
    lips: np.ndarray
    bg_top: np.ndarray
    bg_bottom: np.ndarray


def layout(p: ToonParams) -> Layout:
    a = 0.50 + 0.10 * p.face_width
    b = 0.60 + 0.10 * p.face_length
    fy = 0.08
    eye_w = 0.10 + 0.04 * p.eye_size
    eye_h = 0.6 * eye_w
    eye_v = fy - 0.22 * b
    skin = palette(SKIN_PALETTE, p.skin_tone)
    hue = p.background
    bg_top = np.array(colorsys.hsv_to_rgb(hue, 0.30, 0.96), dtype=np.float32) * 255
    bg_bottom = np.array(colorsys.hsv_to_rgb((hue + 0.08) % 1.0, 0.55, 0.62), dtype=np.float32) * 255
    return Layout(
        fy=fy,
        a=a,
        b=b,
        taper=0.12 + 0.33 * p.jaw,
        ear_u=0.97 * a,
        ear_v=fy - 0.04,
        ear_w=0.065 + 0.045 * p.ear_size,
        ear_h=0.11 + 0.06 * p.ear_size,
        eye_u=a * (0.40 + 0.10 * p.eye_spacing),
        eye_v=eye_v,
        eye_w=eye_w,
        eye_h=eye_h,
        iris_r=0.7 * eye_h,
        brow_v=eye_v - 1.5 * eye_h - 0.05,
        brow_w=1.2 * eye_w,
        brow_t=0.023,
        nose_top=eye_v + 0.07,
        nose_bottom=fy + 0.15 + 0.05 * p.nose_shape,
        nose_w=0.045 + 0.035 * p.nose_shape,
        mouth_v=fy + 0.47 * b,
        mouth_w=0.13 + 0.06 * p.face_width,
        lip_t=0.018 + 0.016 * p.lip_thickness,
        hair_style=p.hair_style,
        hair_length=p.hair_length,
        skin=skin,
        hair=palette(HAIR_PALETTE, p.hair_color),
        iris=palette(EYE_PALETTE, p.eye_color),
        lips=skin * np.float32(0.45) + np.asarray(LIP_RED, np.float32) * np.float32(0.55),
        bg_top=bg_top,
        bg_bottom=bg_bottom,
    )
