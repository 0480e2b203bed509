"""Label schemes: the names and display colours of a domain's part labels.

A label map is an int64 tensor [N, H, W] (or an int array [H, W]) whose values index
`LabelScheme.names`. Colours are RGB uint8 triples, used only at file/UI edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from editgan.errors import InputError


@dataclass(frozen=True)
class LabelScheme:
    """Ordered part labels of a domain. Label 0 is conventionally the background."""

    name: str
    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.colors):
            raise InputError(f"label scheme {self.name!r}: {len(self.names)} names but {len(self.colors)} colours")
        if len(set(self.names)) != len(self.names):
            raise InputError(f"label scheme {self.name!r}: duplicate label names")

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Label index of a part name; raises InputError naming the known labels."""
        try:
            return self.names.index(name)
        except ValueError:
            raise InputError(f"unknown label {name!r} in scheme {self.name!r}; known: {', '.join(self.names)}") from None

    def indices(self, names: list[str] | tuple[str, ...]) -> list[int]:
        return [self.index(n) for n in names]

    def palette(self) -> np.ndarray:
        """Colours as uint8 [num_classes, 3]."""
        return np.asarray(self.colors, dtype=np.uint8)

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        """Label map int [H, W] -> RGB uint8 [H, W, 3]. Raises InputError on unknown labels."""
        labels = np.asarray(labels)
        self.validate(labels)
        return self.palette()[labels]

    def validate(self, labels: np.ndarray, what: str = "label map") -> None:
        """Raise InputError if any label is outside [0, num_classes)."""
        labels = np.asarray(labels)
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            bad = sorted(set(np.unique(labels).tolist()) - set(range(self.num_classes)))
            raise InputError(f"{what} has labels {bad[:10]} outside scheme {self.name!r} (0..{self.num_classes - 1})")

    def to_json(self) -> dict:
        return {"name": self.name, "names": list(self.names), "colors": [list(c) for c in self.colors]}

    @classmethod
    def from_json(cls, data: dict) -> "LabelScheme":
        try:
            return cls(str(data["name"]), tuple(data["names"]), tuple(tuple(int(v) for v in c) for c in data["colors"]))
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"malformed label scheme: {err}") from None
