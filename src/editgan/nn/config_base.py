"""One JSON round trip for every configuration dataclass (networks and trainers).

A config is a dataclass that normalises and validates its fields in `__post_init__` (tuples from
lists, int keys from strings, ...) and names itself in `kind`; this mixin gives it

    config.to_json() -> dict            # JSON-safe: tuples -> lists, dict keys -> strings
    Config.from_json(data) -> Config    # ConfigError naming unknown keys or what is malformed

so `Config.from_json(config.to_json()) == config` for every config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import ClassVar, TypeVar

from editgan.errors import ConfigError, InputError

C = TypeVar("C", bound="JsonConfig")


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class JsonConfig:
    """Mixin for config dataclasses; `kind` names the config in error messages."""

    kind: ClassVar[str] = "config"

    def to_json(self) -> dict:
        return _jsonable(dataclasses.asdict(self))

    @classmethod
    def from_json(cls: type[C], data: dict) -> C:
        if not isinstance(data, dict):
            raise ConfigError(f"a {cls.kind} config must be a JSON object, got {type(data).__name__}")
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown {cls.kind} config keys: {sorted(unknown)}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"malformed {cls.kind} config: {err}") from None


class PresetSettings(JsonConfig):
    """Mixin for a frozen settings dataclass chosen by preset name and overridden field by field
    (edit settings, embedding settings); `kind` names it in messages ("edit settings")."""

    def replace(self: C, **changes) -> C:
        """A copy with the given fields changed (None leaves a field as it is); InputError if unknown or bad."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise InputError(f"unknown {self.kind} {sorted(unknown)}")
        try:
            return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})
        except ConfigError as err:
            raise InputError(str(err)) from None

    @classmethod
    def resolve(cls: type[C], spec, presets: dict[str, C], default: str = "paper") -> C:
        """A preset name, {"preset": name, field: value, ...} (a bundle manifest's record; no "preset":
        `default`), settings, or None (`default`) -> settings; InputError naming the presets or the bad field."""
        if spec is None:
            return presets[default]
        if isinstance(spec, cls):
            return spec
        if isinstance(spec, str):
            if spec not in presets:
                raise InputError(f"unknown {cls.kind.split()[0]} preset {spec!r}; choose one of {sorted(presets)}")
            return presets[spec]
        if isinstance(spec, Mapping):
            fields = dict(spec)
            base = cls.resolve(fields.pop("preset", default), presets, default)
            try:
                return cls.from_json({**base.to_json(), **fields})
            except ConfigError as err:
                raise InputError(f"{cls.kind}: {err}") from None
        raise InputError(f"{cls.kind} must be a preset name or a mapping, got {type(spec).__name__}")
