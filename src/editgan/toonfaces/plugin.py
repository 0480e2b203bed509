"""Toonfaces plugs into the core here: `register()` (the `editgan.plugins` entry point named
"toonfaces") fills the core's registries with the domain's label scheme, perceptual distance,
identity network, training data (images; labelled renders for feature pyramids), snapshot metric,
default vectors and commands."""

from __future__ import annotations

from editgan import registry
from editgan.toonfaces.commands import bench_quality, data, demo, train_measures
from editgan.toonfaces.identity import ToonfacesIdentity
from editgan.toonfaces.perceptual import toon
from editgan.toonfaces.scheme import TOONFACES_LABELS
from editgan.toonfaces.training import fd_toon_snapshot, toonfaces_labelled, toonfaces_source
from editgan.toonfaces.vectors import DEFAULT_EDITS, learn_named

NAME = "toonfaces"


def register() -> None:
    registry.LABEL_SCHEMES.register(NAME, TOONFACES_LABELS)
    registry.PERCEPTUAL.register("toon", toon)
    registry.IDENTITY.register(NAME, ToonfacesIdentity)
    registry.DATA_SOURCES.register(NAME, toonfaces_source)
    registry.LABELLED_DATA.register(NAME, toonfaces_labelled)
    registry.SNAPSHOT_METRICS.register(NAME, fd_toon_snapshot)
    registry.DEFAULT_VECTORS.register(NAME, registry.DefaultVectors([e.name for e in DEFAULT_EDITS], learn_named))
    registry.COMMANDS.register("demo", demo.register)
    registry.COMMANDS.register("data", data.register)
    registry.COMMANDS.register("bench", bench_quality.register)
    registry.TRAIN_COMMANDS.register("measures", train_measures.register_train)
