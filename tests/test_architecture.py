"""The package keeps its layers (tools/import_layers.py): imports only run downward, the core never
imports a domain, no circles of modules or of packages, editgan imports at module top (the optional
web app excepted); relative imports count as what they resolve to."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import import_layers  # noqa: E402

# A synthetic tree's rules: pkg.low < pkg.mid (two packages side by side) < pkg.high < the root.
TOY = import_layers.Rules(root="pkg", domain_layer=None, lazy_allowed=frozenset(), layers=(
    ("low", ("pkg.low",)), ("mid", ("pkg.a", "pkg.b", "pkg.c")), ("high", ("pkg.high",)), ("top", ("pkg",))))


def tree(tmp_path, files: dict[str, str]) -> Path:
    """A source root holding pkg/ with `files` (path under pkg/ -> source) and every __init__.py."""
    src = tmp_path / "src"
    for rel, text in {"__init__.py": "", **files}.items():
        path = src / "pkg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        for folder in [path.parent, *path.parent.parents][:len(Path(rel).parts)]:
            (folder / "__init__.py").touch()
        path.write_text(text)
    return src


def test_the_package_keeps_its_layers():
    assert import_layers.check() == []


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
    assert import_layers.layer_of("editgan") == import_layers.layer_of("editgan.editor")
    assert import_layers.layer_of("editgan.toonfaces.render") == len(import_layers.LAYERS) - 1


def test_the_method_layers_are_ordered():
    order = [name for name, _ in import_layers.LAYERS]
    assert "method" not in order
    assert order.index("inversion") < order.index("edit") < order.index("eval") < order.index("train") \
        < order.index("annotate") < order.index("editor")
    assert order.index("runtime") < order.index("nn")


def test_relative_imports_resolve_to_absolute_names(tmp_path):
    src = tree(tmp_path, {
        "low/x.py": "from . import y\nfrom .y import thing\nfrom .. import low\n",
        "low/y.py": "thing = 1\n",
        "high/__init__.py": "from .z import w\nfrom ..low import x\nfrom ..low.y import thing\n",
        "high/z.py": "w = 2\n",
    })
    imports = import_layers.read_imports(src, TOY)
    assert [t for t, _ in imports["pkg.low.x"]] == ["pkg.low.y", "pkg.low.y", "pkg.low"]
    assert [t for t, _ in imports["pkg.high"]] == ["pkg.high.z", "pkg.low.x", "pkg.low.y"]
    assert import_layers.check(src, TOY) == []


def test_an_upward_relative_import_is_caught(tmp_path):
    src = tree(tmp_path, {"low/x.py": "from ..high import z\n", "high/z.py": ""})
    assert import_layers.check(src, TOY) == ["pkg.low.x (low) imports pkg.high.z from a higher layer (high)"]


def test_a_function_level_relative_import_is_caught(tmp_path):
    src = tree(tmp_path, {"high/z.py": "def f():\n    from .w import v\n    return v\n", "high/w.py": "v = 1\n"})
    assert import_layers.check(src, TOY) == ["pkg.high.z imports pkg.high.w inside a function"]


def test_a_package_loop_through_different_modules_is_caught(tmp_path):
    # a.x -> b.y and b.z -> a.w: no module imports one that imports it, but package a and b do.
    src = tree(tmp_path, {"a/x.py": "from pkg.b import y\n", "a/w.py": "",
                          "b/y.py": "", "b/z.py": "from ..a import w\n"})
    assert import_layers.check(src, TOY) == [
        "package loop: pkg.a -> pkg.b -> pkg.a (pkg.a.x -> pkg.b.y; pkg.b.z -> pkg.a.w)"]


def test_a_package_loop_round_a_circle_is_caught(tmp_path):
    src = tree(tmp_path, {"a/x.py": "from ..b import y\n", "a/w.py": "",
                          "b/y.py": "from ..c import z\n", "c/z.py": "import pkg.a.w\n"})
    problems = import_layers.check(src, TOY)
    assert problems == ["package loop: pkg.a -> pkg.b -> pkg.c -> pkg.a "
                        "(pkg.a.x -> pkg.b.y; pkg.b.y -> pkg.c.z; pkg.c.z -> pkg.a.w)"]
