"""The toonface renderer: parameters -> anti-aliased image and exact part labels.

Parts are implicit shapes evaluated on a supersampled grid (canvas.py) and painted back to front:
background, back hair, neck, ears, face skin, front hair, eyebrows, eyes (sclera, iris, pupil,
eyelid), nose, mouth (lips, interior, teeth). Each part's colour depends only on identity
parameters, the head pose and that part's own geometry, so an expression parameter changes pixels
only where the parts it moves are (see edits.PARAM_PARTS).
"""

from __future__ import annotations

import numpy as np

from editgan.errors import InputError
from editgan.toonfaces.canvas import Canvas, bump, clamp01, mix, shade, tri
from editgan.toonfaces.layout import Layout, layout
from editgan.toonfaces.params import ToonParams
from editgan.toonfaces.scheme import TOONFACES_LABELS

LABEL = {name: i for i, name in enumerate(TOONFACES_LABELS.names)}
SCLERA = np.array([246, 242, 236], np.float32)
PUPIL = np.array([16, 12, 14], np.float32)
LASH = np.array([40, 26, 24], np.float32)
MOUTH = np.array([92, 22, 34], np.float32)
TONGUE = np.array([196, 84, 96], np.float32)
TEETH = np.array([248, 244, 232], np.float32)
HIGHLIGHT = np.array([255, 255, 255], np.float32)


def render(params: ToonParams, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Render one face: (image uint8 [size, size, 3], labels int64 [size, size]); size in 64..256."""
    return paint_face(params, size).finish()


def paint_face(params: ToonParams, size: int = 128) -> Canvas:
    """The painted supersampled canvas of one face, before downsampling (for exact coverage)."""
    if not isinstance(params, ToonParams):
        raise InputError(f"render needs ToonParams (see sample_params), got {type(params).__name__}")
    lay = layout(params)
    cv = Canvas(size, params.head_x, params.head_y, params.head_scale, TOONFACES_LABELS.num_classes)
    _background(cv, lay)
    _hair_back(cv, lay)
    _neck(cv, lay)
    _ears(cv, lay)
    _face(cv, lay)
    _hair_front(cv, lay)
    for side in (-1.0, 1.0):
        _eyebrow(cv, lay, params, side)
        _eye(cv, lay, params, side)
    _nose(cv, lay)
    _mouth(cv, lay, params)
    return cv


def _face_field(lay: Layout, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Implicit face outline: < 1 inside. An ellipse whose half-width tapers towards the chin."""
    dv = (v - lay.fy) * np.float32(1 / lay.b)
    below = clamp01(dv)
    q = u / (lay.a * (1 - lay.taper * below * below))
    return q * q + dv * dv


def _skin(lay: Layout, u: np.ndarray, v: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Skin colour field: light from the upper left, darker towards the outline, rosy cheeks."""
    f = _face_field(lay, u, v)
    light = 1.06 - 0.22 * f * f - 0.06 * (u + 0.5 * (v - lay.fy)) * np.float32(1 / lay.a)
    cheek_u = np.abs(u) - 0.55 * lay.a
    cheek_v = v - (lay.fy + 0.28 * lay.b)
    blush = 0.22 * bump(np.sqrt(cheek_u * cheek_u + cheek_v * cheek_v), 0.09)
    return mix(shade(lay.skin, light * np.float32(scale)), lay.lips, blush)


def _hair_color(lay: Layout, u: np.ndarray, v: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Hair colour field: strands (a triangle-wave texture) and a glossy band on the crown."""
    strands = 0.88 + 0.5 * tri(u * 16 + v * 4) * tri(u * 37 - v * 3)
    gloss = 0.35 * bump(v - (lay.fy - 0.8 * lay.b), 0.07) * bump(u + 0.15, 0.25)
    return mix(shade(lay.hair, strands * np.float32(scale)), HIGHLIGHT, gloss)


def _background(cv: Canvas, lay: Layout) -> None:
    y = cv.x[:, None]
    x = cv.x[None, :]
    vignette = 1.0 - 0.14 * (x * x + y * y)
    np.multiply(mix(lay.bg_top, lay.bg_bottom, (y + 1) * 0.5), vignette[..., None], out=cv.rgb)


def _long_hair(lay: Layout, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Silhouette of hair that falls behind/around the head (long and swept styles), bool [h, w]."""
    half = lay.a + 0.08 + 0.04 * lay.hair_length
    top = lay.b + 0.12
    q = u / (half * (1 + 0.25 * np.maximum(v - lay.fy, 0.0)))
    dv = np.minimum(v - lay.fy, 0.0) * np.float32(1 / top)
    return (q * q + dv * dv < 1) & (v < _long_hair_end(lay) - 0.08 * (q * q) * (q * q))


def _long_hair_end(lay: Layout) -> float:
    if lay.hair_style == 1:
        return lay.fy + 0.15 + 0.75 * lay.hair_length
    return lay.fy + 0.05 + 0.3 * lay.hair_length


def _hair_back(cv: Canvas, lay: Layout) -> None:
    """Hair behind the head: long (to the shoulders) and swept (a bob) styles only."""
    if lay.hair_style not in (1, 2):
        return
    half = 1.3 * (lay.a + 0.12)
    r = cv.region(-half, half, lay.fy - lay.b - 0.12, _long_hair_end(lay))
    cv.paint(r, _long_hair(lay, r.u, r.v), LABEL["hair"], _hair_color(lay, r.u, r.v, 0.8))


def _neck(cv: Canvas, lay: Layout) -> None:
    top = lay.fy + 0.3 * lay.b
    r = cv.region(-lay.a, lay.a, top, 3.0)
    u, v = r.u, r.v
    flare = np.maximum(v - (lay.fy + lay.b - 0.02), 0.0)
    mask = np.abs(u) < 0.36 * lay.a + 0.6 * flare * flare
    light = 0.72 + 0.14 * clamp01((v - (lay.fy + lay.b)) * np.float32(1 / 0.25)) - 0.05 * u * np.float32(1 / lay.a)
    cv.paint(r, mask, LABEL["neck"], shade(lay.skin, light))


def _ears(cv: Canvas, lay: Layout) -> None:
    for side in (-1.0, 1.0):
        cu = side * lay.ear_u
        r = cv.region(cu - lay.ear_w, cu + lay.ear_w, lay.ear_v - lay.ear_h, lay.ear_v + lay.ear_h)
        du = (r.u - cu) * np.float32(1 / lay.ear_w)
        dv = (r.v - lay.ear_v) * np.float32(1 / lay.ear_h)
        mask = du * du + dv * dv < 1
        iu = (du - side * 0.2) * np.float32(1 / 0.5)
        iv = dv * np.float32(1 / 0.62)
        light = 0.95 - 0.2 * clamp01(1 - (iu * iu + iv * iv)) - 0.06 * side * du
        cv.paint(r, mask, LABEL["ear"], shade(lay.skin, light))


def _face(cv: Canvas, lay: Layout) -> None:
    r = cv.region(-lay.a, lay.a, lay.fy - lay.b, lay.fy + lay.b)
    cv.paint(r, _face_field(lay, r.u, r.v) < 1, LABEL["skin"], _skin(lay, r.u, r.v))


def _hair_front(cv: Canvas, lay: Layout) -> None:
    """Hair over the skull and forehead; its hairline and silhouette depend on the style
    (indices into HAIR_STYLES: 0 short, 1 long, 2 swept, 3 spiky, 4 buzz)."""
    style, length, a, b, fy = lay.hair_style, lay.hair_length, lay.a, lay.b, lay.fy
    vol = (0.3 + 0.7 * length, 0.5, 0.6, 0.5, 0.0)[style]
    ha = a + 0.03 + (0.05 if style < 4 else 0.02) * vol + (0.0 if style < 4 else 0.02 * length)
    hb = b + 0.04 + 0.07 * vol + (0.0 if style < 4 else 0.02 * length)
    cy = fy - 0.04
    spike = 0.06 + 0.12 * length if style == 3 else 0.0
    side_v = (fy - 0.10 + 0.08 * length, fy - 0.06, fy - 0.05, fy - 0.12, fy - 0.18)[style]
    bottom = _long_hair_end(lay) if style == 1 else max(side_v, fy - 0.3 * b)
    half = 1.3 * (a + 0.12) if style == 1 else ha
    r = cv.region(-half, half, cy - hb - spike, bottom)
    u, v = r.u, r.v
    qu = u * np.float32(1 / a)
    dv = (v - cy) * np.float32(1 / (hb + spike))
    qo = u * np.float32(1 / ha)
    outer = qo * qo + dv * dv < 1
    if style == 3:
        outer &= v > cy - hb - spike * 2 * tri(u * 6)
    if style == 0:
        hairline = fy - 0.62 * b + 0.08 * qu * qu
    elif style == 1:
        hairline = fy - 0.56 * b - 0.03 * tri(u * 9)
    elif style == 2:
        hairline = fy - 0.62 * b + 0.12 * qu - 0.04 * qu * qu
    elif style == 3:
        hairline = fy - 0.62 * b + 0.03 * tri(u * 12)
    else:
        hairline = fy - 0.72 * b + 0.06 * qu * qu
    outside_face = _face_field(lay, u, v) >= 1
    mask = outer & ((v < hairline) | (outside_face & (v < side_v)))
    if style == 1:
        mask |= (np.abs(qu) > 0.8) & (v > fy - 0.45 * b) & _long_hair(lay, u, v)
    cv.paint(r, mask, LABEL["hair"], _hair_color(lay, u, v))


def _eyebrow(cv: Canvas, lay: Layout, p: ToonParams, side: float) -> None:
    """A tapered arc above the eye; raising lifts and arches it, frowning lowers the inner end."""
    cu = side * lay.eye_u
    raise_ = p.brow_raise
    cv_ = lay.brow_v - 0.05 * raise_
    arch = 0.02 + 0.02 * max(raise_, 0.0)
    drop = 0.035 * max(-raise_, 0.0)
    r = cv.region(cu - lay.brow_w, cu + lay.brow_w, cv_ - arch - 0.04, cv_ + drop + 0.04)
    t = (r.u - cu) * np.float32(1 / lay.brow_w)
    inner = -side * t  # +1 at the end nearest the nose
    k = clamp01(1 - t * t)
    centre = cv_ - arch * k + drop * clamp01(inner)
    thick = lay.brow_t * (0.75 + 0.35 * inner) * (0.4 + 0.6 * np.sqrt(k))
    dv = r.v - centre
    mask = (np.abs(t) < 1) & (np.abs(dv) < thick)
    light = 0.62 + 0.25 * tri(r.u * 45 + r.v * 20)
    cv.paint(r, mask, LABEL["eyebrow"], shade(lay.hair, light))


def _eye(cv: Canvas, lay: Layout, p: ToonParams, side: float) -> None:
    """Almond opening between two parabolic lids; the upper lid (label eyelid) fills what the
    opening leaves of a fixed lid outline, so closing the eye grows the eyelid."""
    cu, cy, w, h = side * lay.eye_u, lay.eye_v, lay.eye_w, lay.eye_h
    lid_w, lid_h = 1.12 * w, h + 0.03
    r = cv.region(cu - lid_w, cu + lid_w, cy - lid_h, cy + 0.7 * h)
    t = (r.u - cu) * np.float32(1 / w)
    dv = r.v - cy
    k = clamp01(1 - t * t)
    top = -p.eye_open * h * k
    bottom = p.eye_open * 0.6 * h * k
    opening = (np.abs(t) < 1) & (dv > top) & (dv < bottom)
    tl = t * np.float32(1 / 1.12)
    lid_outline = dv > -lid_h * clamp01(1 - tl * tl)
    lid = lid_outline & (np.abs(tl) < 1) & (dv < bottom) & ~opening
    lid_light = 0.86 + 0.1 * clamp01((top - dv) * np.float32(1 / 0.03))
    lid_color = shade(lay.skin, lid_light)
    lid_color = mix(lid_color, LASH, clamp01(1.0 - (top - dv) * np.float32(1 / 0.012)))
    cv.paint(r, lid, LABEL["eyelid"], lid_color)

    sclera_light = 0.8 + 0.2 * clamp01((dv - top) * np.float32(1 / (0.5 * h)))
    cv.paint(r, opening, LABEL["sclera"], shade(SCLERA, sclera_light))

    iu = cu + 0.5 * w * p.gaze_x
    iv = cy + 0.5 * h * p.gaze_y
    du, dw = r.u - iu, r.v - iv
    d = np.sqrt(du * du + dw * dw) * np.float32(1 / lay.iris_r)
    iris = opening & (d < 1)
    iris_light = 1.15 - 0.35 * d * d - 0.25 * clamp01((d - 0.85) * np.float32(1 / 0.15))
    iris_color = shade(lay.iris, iris_light * (0.9 + 0.35 * tri(d * 4)))
    pupil_r = 0.25 + 0.5 * p.pupil_size
    pupil = opening & (d < pupil_r)
    hx, hy = du + 0.35 * lay.iris_r, dw + 0.35 * lay.iris_r
    glint = clamp01(1.5 - np.sqrt(hx * hx + hy * hy) * np.float32(1 / (0.16 * lay.iris_r)))
    cv.paint(r, iris, LABEL["iris"], mix(iris_color, HIGHLIGHT, glint))
    cv.paint(r, pupil, LABEL["pupil"], mix(PUPIL, HIGHLIGHT, glint))


def _nose(cv: Canvas, lay: Layout) -> None:
    """A short bridge widening into a rounded tip with nostrils; lit from the upper left."""
    top, bot, w = lay.nose_top, lay.nose_bottom, lay.nose_w
    r = cv.region(-1.3 * w, 1.3 * w, top, bot + 0.01)
    u, v = r.u, r.v
    s = clamp01((v - top) * np.float32(1 / (bot - top)))
    bridge = (np.abs(u) < w * (0.22 + 0.35 * s * s)) & (v < bot - 0.6 * w)
    tu = u * np.float32(1 / (1.25 * w))
    tv = (v - (bot - 0.55 * w)) * np.float32(1 / (0.55 * w))
    tip = tu * tu + tv * tv < 1
    mask = bridge | tip
    light = 1.0 - 0.45 * clamp01(u * np.float32(1 / w)) * s + 0.08 * bump(u + 0.3 * w, 0.3 * w) * s
    nu = np.abs(u) - 0.5 * w
    nv = v - (bot - 0.18 * w)
    nostril = clamp01(1.6 - np.sqrt(nu * nu * 2.5 + nv * nv * 9) * np.float32(1 / (0.25 * w)))
    color = mix(_skin(lay, u, v, 1.0) * light[..., None], lay.skin * np.float32(0.35), 0.8 * nostril)
    cv.paint(r, mask, LABEL["nose"], color)


def _mouth(cv: Canvas, lay: Layout, p: ToonParams) -> None:
    """Lips around a centre line whose corners rise with `smile`; `mouth_open` parts them."""
    w = lay.mouth_w * (1 + 0.12 * max(p.smile, 0.0))
    lip = lay.lip_t
    lift = 0.07 * p.smile
    opening = 0.13 * p.mouth_open
    top_v = lay.mouth_v - abs(lift) - 0.35 * opening - 1.4 * lip - 0.01
    r = cv.region(-w, w, top_v, lay.mouth_v + abs(lift) + 0.7 * opening + 1.6 * lip + 0.01)
    u, v = r.u, r.v
    t = u * np.float32(1 / w)
    k = clamp01(1 - t * t)
    sk = np.sqrt(k)
    centre = lay.mouth_v - lift * (t * t - 0.3)
    top = centre - 0.3 * opening * sk
    bottom = centre + 0.7 * opening * sk
    inside = np.abs(t) < 1
    bow = 1 + 0.35 * bump(np.abs(t) - 0.28, 0.12) - 0.3 * bump(t, 0.1)
    upper_t = lip * (0.3 + 0.7 * sk) * bow
    lower_t = 1.3 * lip * (0.25 + 0.75 * sk)
    upper = inside & (v > top - upper_t) & (v <= top)
    lower = inside & (v >= bottom) & (v < bottom + lower_t)
    interior = inside & (v > top) & (v < bottom)
    gap = bottom - top
    upper_teeth = interior & (v < top + np.minimum(0.03, 0.55 * gap)) & (np.abs(t) < 0.72)
    lower_teeth = interior & (v > bottom - np.minimum(0.018, 0.25 * gap)) & (np.abs(t) < 0.55)

    ul = clamp01((top - v) / (upper_t + np.float32(1e-6)))
    cv.paint(r, upper, LABEL["upper_lip"], shade(lay.lips, 0.78 + 0.12 * ul))
    ll = (v - bottom) / (lower_t + np.float32(1e-6)) - 0.4
    cv.paint(r, lower, LABEL["lower_lip"], shade(lay.lips, 1.04 - 0.5 * ll * ll))
    depth = clamp01((v - top) / (gap + np.float32(1e-6)))
    cv.paint(r, interior, LABEL["mouth_interior"], mix(MOUTH, TONGUE, 0.8 * depth * depth * k))
    teeth_light = 0.9 + 0.2 * tri(u * np.float32(1 / 0.045)) - 0.1 * np.abs(t)
    cv.paint(r, upper_teeth | lower_teeth, LABEL["teeth"], shade(TEETH, teeth_light))
