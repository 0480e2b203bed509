"""Toonface parameters: what they mean, their ranges, how they are sampled and edited.

A face is a `ToonParams`: identity parameters (who it is) and expression/pose parameters (what
the face is doing). All values are floats in documented ranges except `hair_style`, an integer
index into `HAIR_STYLES`. Sampling uses numpy's PCG64 generator seeded explicitly, with separate
streams for identity and expression, so `sample_identity(a)` + `sample_expression(b)` mixes one
person with another person's expression, and `sample_params(s)` is reproducible bit for bit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from editgan.errors import InputError

HAIR_STYLES = ("short", "long", "swept", "spiky", "buzz")


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: closed range [low, high], group ("identity" or "expression"), and meaning."""

    name: str
    low: float
    high: float
    group: str
    doc: str
    integer: bool = False


PARAM_SPECS: tuple[ParamSpec, ...] = (
    # identity
    ParamSpec("face_width", 0.0, 1.0, "identity", "narrow (0) to wide (1) face"),
    ParamSpec("face_length", 0.0, 1.0, "identity", "short (0) to long (1) face"),
    ParamSpec("jaw", 0.0, 1.0, "identity", "round (0) to tapered, pointed (1) jaw"),
    ParamSpec("skin_tone", 0.0, 1.0, "identity", "light (0) to dark (1) skin"),
    ParamSpec("hair_style", 0, len(HAIR_STYLES) - 1, "identity", "index into HAIR_STYLES", integer=True),
    ParamSpec("hair_length", 0.0, 1.0, "identity", "short (0) to long (1) hair within the style"),
    ParamSpec("hair_color", 0.0, 1.0, "identity", "black, brown, auburn, blond, grey, blue (0..1)"),
    ParamSpec("eye_color", 0.0, 1.0, "identity", "brown, hazel, green, blue, grey (0..1)"),
    ParamSpec("eye_size", 0.0, 1.0, "identity", "small (0) to large (1) eyes"),
    ParamSpec("eye_spacing", 0.0, 1.0, "identity", "close (0) to wide-set (1) eyes"),
    ParamSpec("nose_shape", 0.0, 1.0, "identity", "small button (0) to long, wide (1) nose"),
    ParamSpec("lip_thickness", 0.0, 1.0, "identity", "thin (0) to full (1) lips"),
    ParamSpec("ear_size", 0.0, 1.0, "identity", "small (0) to large (1) ears"),
    ParamSpec("background", 0.0, 1.0, "identity", "background hue (0..1, cyclic)"),
    # expression and pose
    ParamSpec("smile", -1.0, 1.0, "expression", "frown (-1), neutral (0), smile (1): mouth-corner curvature"),
    ParamSpec("mouth_open", 0.0, 1.0, "expression", "closed (0) to wide open (1) mouth"),
    ParamSpec("eye_open", 0.0, 1.0, "expression", "closed (0) to fully open (1) eyes"),
    ParamSpec("gaze_x", -1.0, 1.0, "expression", "looking left (-1) to right (+1) in the image"),
    ParamSpec("gaze_y", -1.0, 1.0, "expression", "looking up (-1) to down (+1)"),
    ParamSpec("brow_raise", -1.0, 1.0, "expression", "lowered, frowning (-1) to raised (1) eyebrows"),
    ParamSpec("pupil_size", 0.0, 1.0, "expression", "small (0) to dilated (1) pupils"),
    ParamSpec("head_x", -0.06, 0.06, "expression", "horizontal head shift, fraction of the image half-width"),
    ParamSpec("head_y", -0.06, 0.06, "expression", "vertical head shift, fraction of the image half-height"),
    ParamSpec("head_scale", 0.92, 1.08, "expression", "head size factor"),
)
SPECS = {spec.name: spec for spec in PARAM_SPECS}
IDENTITY_PARAMS = tuple(s.name for s in PARAM_SPECS if s.group == "identity")
EXPRESSION_PARAMS = tuple(s.name for s in PARAM_SPECS if s.group == "expression")

# Faces with smile above this are "smiling" for the binary smile benchmark (as in EditGAN Sec. 4.2).
SMILE_THRESHOLD = 0.25


@dataclass(frozen=True)
class ToonParams:
    """All parameters of one face; see PARAM_SPECS for ranges and meaning."""

    face_width: float
    face_length: float
    jaw: float
    skin_tone: float
    hair_style: int
    hair_length: float
    hair_color: float
    eye_color: float
    eye_size: float
    eye_spacing: float
    nose_shape: float
    lip_thickness: float
    ear_size: float
    background: float
    smile: float
    mouth_open: float
    eye_open: float
    gaze_x: float
    gaze_y: float
    brow_raise: float
    pupil_size: float
    head_x: float
    head_y: float
    head_scale: float

    def __post_init__(self) -> None:
        for name in SPECS:
            _check_value(name, getattr(self, name))

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ToonParams":
        """Build from a dict with exactly the parameter names (e.g. one line of params.jsonl)."""
        _check_names(data.keys(), "from_dict")
        missing = [n for n in SPECS if n not in data]
        if missing:
            raise InputError(f"toonface parameters missing: {', '.join(missing)}")
        return cls(**{n: _coerce(n, data[n]) for n in SPECS})

    def identity(self) -> dict[str, float | int]:
        return {n: getattr(self, n) for n in IDENTITY_PARAMS}

    def expression(self) -> dict[str, float]:
        return {n: getattr(self, n) for n in EXPRESSION_PARAMS}


assert tuple(f.name for f in fields(ToonParams)) == tuple(SPECS), "ToonParams fields must follow PARAM_SPECS"


def _check_names(names, where: str) -> None:
    unknown = sorted(set(names) - set(SPECS))
    if unknown:
        raise InputError(f"unknown toonface parameter(s) {', '.join(unknown)} in {where}; known: {', '.join(SPECS)}")


def _coerce(name: str, value) -> float | int:
    spec = SPECS[name]
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"toonface parameter {name} must be a number, got {value!r}")
    if spec.integer:
        if float(value) != int(value):
            raise InputError(f"toonface parameter {name} must be an integer, got {value!r}")
        return int(value)
    return float(value)


def _check_value(name: str, value) -> None:
    spec = SPECS[name]
    value = _coerce(name, value)
    if not (spec.low <= value <= spec.high):  # also rejects NaN
        raise InputError(f"toonface parameter {name}={value!r} outside [{spec.low}, {spec.high}] ({spec.doc})")


def _uniform(rng: np.random.Generator, name: str) -> float:
    spec = SPECS[name]
    return spec.low + (spec.high - spec.low) * float(rng.random())


def sample_identity(seed: int) -> dict[str, float | int]:
    """Identity parameters drawn from stream (seed, 0): uniform over each range."""
    rng = np.random.default_rng([_seed(seed), 0])
    out: dict[str, float | int] = {}
    for name in IDENTITY_PARAMS:
        out[name] = int(rng.integers(len(HAIR_STYLES))) if name == "hair_style" else _uniform(rng, name)
    return out


def sample_expression(seed: int) -> dict[str, float]:
    """Expression/pose parameters drawn from stream (seed, 1).

    Uniform over each range, except mouth_open (closed with probability 1/3, else uniform) and
    eye_open (open at least 0.15 with probability 0.9, else uniform over [0, 0.15], i.e. closed-ish).
    """
    rng = np.random.default_rng([_seed(seed), 1])
    out = {name: _uniform(rng, name) for name in EXPRESSION_PARAMS}
    out["mouth_open"] = max(0.0, 1.5 * out["mouth_open"] - 0.5)
    r = out["eye_open"]
    out["eye_open"] = 1.5 * r if r < 0.1 else 0.15 + 0.85 * (r - 0.1) / 0.9
    return out


def sample_params(seed: int, expression_seed: int | None = None) -> ToonParams:
    """A random face: identity from `seed`, expression from `expression_seed` (default `seed`)."""
    expr_seed = seed if expression_seed is None else expression_seed
    return ToonParams(**sample_identity(seed), **sample_expression(expr_seed))


def edit_params(params: ToonParams, **changes) -> ToonParams:
    """The same face with some parameters changed, e.g. `edit_params(p, smile=1.0, eye_open=0.2)`.

    Raises InputError on unknown names, non-numbers or out-of-range values.
    """
    if not isinstance(params, ToonParams):
        raise InputError(f"edit_params needs ToonParams, got {type(params).__name__}")
    _check_names(changes.keys(), "edit_params")
    return replace(params, **{n: _coerce(n, v) for n, v in changes.items()})


def _seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)
