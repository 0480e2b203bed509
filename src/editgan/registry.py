"""Registries through which domain packages plug into the core.

The core owns one `Registry` per kind of pluggable piece and never imports a domain. A domain
package (e.g. `editgan.toonfaces`) fills them from a `register()` function that it names as an
entry point of group `editgan.plugins` in its distribution's metadata; `load_plugins()` runs every
such function once, the first time a registry is asked for a name it lacks (or a listing).

    PERCEPTUAL.get("msssim_l1")      # a core distance
    IDENTITY.get("toonfaces")        # loads the plug-ins, then finds the toonfaces identity network
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Callable, Generic, TypeVar

from editgan.errors import InputError

T = TypeVar("T")
GROUP = "editgan.plugins"
_loaded = False


def load_plugins() -> None:
    """Run every installed plug-in's register() once (entry points of group `editgan.plugins`)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        ep.load()()


class Registry(Generic[T]):
    """name -> T for one kind of pluggable piece; `what` names the kind in error messages."""

    def __init__(self, what: str):
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        """Add `item` under `name` (a second registration of a name replaces the first); returns it."""
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        """The item named `name`; InputError listing the known names if there is none."""
        if name not in self._items:
            load_plugins()
        try:
            return self._items[name]
        except KeyError:
            raise InputError(f"unknown {self.what} {name!r}; known: {', '.join(self.names()) or 'none'}") from None

    def __contains__(self, name: str) -> bool:
        if name not in self._items:
            load_plugins()
        return name in self._items

    def names(self) -> list[str]:
        load_plugins()
        return sorted(self._items)


@dataclass(frozen=True)
class DefaultVectors:
    """A domain's default editing vectors: their names, and learn(editor, name, *, faces, embed_steps,
    edit_steps, tune_steps, progress) -> (EditingVector, one-line summary); faces: how many edited images
    one vector learns from (1: the paper's recipe); tune_steps: pivotal tuning of the learning face."""

    names: list[str]
    learn: Callable


# The core's registries; the comment says what an item is.
PERCEPTUAL: Registry[Callable] = Registry("perceptual distance")  # (a, b, mask=None) -> [N]
IDENTITY: Registry[Callable] = Registry("identity network")  # (device) -> images -> unit embeddings
DATA_SOURCES: Registry[Callable] = Registry("data source")  # (resolution, count, cache_dir, progress) -> source
LABELLED_DATA: Registry[Callable] = Registry("labelled data source")  # (split, n, R) -> (images, labels)
SNAPSHOT_METRICS: Registry[Callable] = Registry("training-snapshot metric")  # data name: (G, n) -> {metric: value}
LABEL_SCHEMES: Registry = Registry("label scheme")  # domain name -> LabelScheme
DEFAULT_VECTORS: Registry[DefaultVectors] = Registry("default-vector recipe")  # domain name -> DefaultVectors
COMMANDS: Registry[Callable] = Registry("command")  # name -> register(editgan's subparsers)
TRAIN_COMMANDS: Registry[Callable] = Registry("training command")  # name -> register(`editgan train` subparsers)
