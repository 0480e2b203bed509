"""The package's layers, read from its imports: print the diagram, or list what breaks the rules.

    python tools/import_layers.py            # the layer diagram (imports counted between layers)
    python tools/import_layers.py --check    # exit 1 listing every violation (tests/test_architecture.py)

Rules: an import runs from a layer to the same or a lower one; no module of the core imports a
domain package; no two modules import each other, directly or round a circle; editgan imports sit
at module top, except the web app, imported lazily by `editgan serve` (fastapi is optional).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Lowest first. A module belongs to the layer with the longest prefix of its dotted name.
LAYERS = [
    ("base", ("editgan.errors", "editgan.registry", "editgan.lookahead", "editgan.labels", "editgan.files",
              "editgan.progress", "editgan.runtime")),
    ("nn", ("editgan.nn",)),
    ("io", ("editgan.io",)),
    ("bundle", ("editgan.bundle",)),
    ("method", ("editgan.inversion", "editgan.edit", "editgan.train", "editgan.annotate", "editgan.eval",
                "editgan.official_release")),
    ("editor", ("editgan.editor",)),
    ("front ends", ("editgan.app", "editgan.cli", "editgan")),
    ("domains", ("editgan.toonfaces",)),
]
DOMAIN_LAYER = "domains"
LAZY_ALLOWED = {("editgan.cli.serve", "editgan.app")}  # fastapi and uvicorn are an optional extra


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    """The layer whose longest prefix matches `module` ("editgan" itself is the package root only)."""
    matches = [(len(p), i) for i, (_, prefixes) in enumerate(LAYERS) for p in prefixes
               if module == p or (p != "editgan" and module.startswith(p + "."))]
    if not matches:
        raise ValueError(f"{module} belongs to no layer; add it to LAYERS in {Path(__file__).name}")
    return max(matches)[1]


def read_imports(modules: set[str]) -> dict[str, list[tuple[str, bool]]]:
    """module -> [(imported editgan module, inside a function body?)]; `from editgan.x import y`
    counts as editgan.x.y when that is a module, else editgan.x."""
    out: dict[str, list[tuple[str, bool]]] = {}
    for path in sorted(SRC.rglob("*.py")):
        name = module_name(path)
        found = []
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nested = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                  for n in ast.walk(f) if n is not f}
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                           for a in node.names]
            found += [(t, id(node) in nested) for t in targets if t == "editgan" or t.startswith("editgan.")]
        out[name] = found
    return out


def violations(imports: dict[str, list[tuple[str, bool]]]) -> list[str]:
    problems = []
    for module, targets in imports.items():
        mine = layer_of(module)
        for target, lazy in targets:
            theirs = layer_of(target)
            if theirs > mine:
                problems.append(f"{module} ({LAYERS[mine][0]}) imports {target} from a higher layer "
                                f"({LAYERS[theirs][0]})")
            if LAYERS[theirs][0] == DOMAIN_LAYER and LAYERS[mine][0] != DOMAIN_LAYER:
                problems.append(f"{module} is core but imports the domain module {target}")
            if lazy and (module, target) not in LAZY_ALLOWED:
                problems.append(f"{module} imports {target} inside a function")
    graph = {m: {t for t, _ in ts if t in imports and t != m} for m, ts in imports.items()}
    problems += [f"circle: {' -> '.join(c)}" for c in circles(graph)]
    return problems


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component) + [sorted(component)[0]])

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def diagram(imports: dict[str, list[tuple[str, bool]]]) -> str:
    members: dict[int, list[str]] = defaultdict(list)
    for m in imports:
        members[layer_of(m)].append(m)
    edges: dict[tuple[int, int], int] = defaultdict(int)
    for m, targets in imports.items():
        for t in {t for t, _ in targets}:
            a, b = layer_of(m), layer_of(t)
            if a != b:
                edges[a, b] += 1
    lines = []
    for i in reversed(range(len(LAYERS))):
        name, prefixes = LAYERS[i]
        below = ", ".join(f"{LAYERS[b][0]} {n}" for (a, b), n in sorted(edges.items()) if a == i)
        lines.append(f"{name:>10} | {', '.join(p.removeprefix('editgan.') for p in prefixes)}"
                     f"  ({len(members[i])} modules)" + (f"  -> {below}" if below else ""))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="list rule violations; exit 1 if any")
    args = parser.parse_args()
    modules = {module_name(p) for p in SRC.rglob("*.py")}
    imports = read_imports(modules)
    if args.check:
        problems = violations(imports)
        print("\n".join(problems) or "no violations")
        return 1 if problems else 0
    print(diagram(imports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
