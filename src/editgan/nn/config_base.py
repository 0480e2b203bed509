"""One JSON round trip for every configuration dataclass (networks and trainers).

A config is a dataclass that normalises and validates its fields in `__post_init__` (tuples from
lists, int keys from strings, ...) and names itself in `kind`; this mixin gives it

    config.to_json() -> dict            # JSON-safe: tuples -> lists, dict keys -> strings
    Config.from_json(data) -> Config    # ConfigError naming unknown keys or what is malformed

so `Config.from_json(config.to_json()) == config` for every config.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, TypeVar

from editgan.errors import ConfigError

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
