"""The package keeps its layers (tools/import_layers.py): imports only run downward, the core never
imports a domain, no circles, editgan imports at module top (the optional web app excepted)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import import_layers  # noqa: E402


def test_the_package_keeps_its_layers():
    modules = {import_layers.module_name(p) for p in import_layers.SRC.rglob("*.py")}
    assert import_layers.violations(import_layers.read_imports(modules)) == []


def test_the_checker_names_each_kind_of_violation():
    imports = {
        "editgan.nn.a": [("editgan.io.b", False)],          # upward, and a circle with io.b
        "editgan.io.b": [("editgan.nn.a", True)],           # inside a function
        "editgan.edit.c": [("editgan.toonfaces.d", False)],  # core -> domain
        "editgan.toonfaces.d": [("editgan.edit.c", False)],  # a domain may import the core
        "editgan.cli.serve": [("editgan.app", True)],        # the one allowed lazy import
        "editgan.app": [],
    }
    problems = import_layers.violations(imports)
    assert "editgan.nn.a (nn) imports editgan.io.b from a higher layer (io)" in problems
    assert "editgan.io.b imports editgan.nn.a inside a function" in problems
    assert any("core but imports the domain module editgan.toonfaces.d" in p for p in problems)
    assert "circle: editgan.io.b -> editgan.nn.a -> editgan.io.b" in problems
    assert not any("editgan.cli.serve" in p for p in problems)
    assert import_layers.layer_of("editgan") == import_layers.layer_of("editgan.cli")
    assert import_layers.layer_of("editgan.toonfaces.render") == len(import_layers.LAYERS) - 1
