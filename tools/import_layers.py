"""The package's layers, read from its imports: print the diagram, or list what breaks the rules.

    python tools/import_layers.py            # the layer diagram (imports counted between layers)
    python tools/import_layers.py --check    # exit 1 listing every violation (tests/test_architecture.py)

Rules: an import runs from a layer to the same or a lower one; no module of the core imports a
domain package; no two modules import each other, directly or round a circle, and neither do two
packages (`package_of`: editgan.edit, editgan.train, ... or a top-level module); editgan imports sit
at module top, except the web app, imported lazily by `editgan serve` (fastapi is optional).
Relative imports (`from . import x`, `from ..y import z`) count as the absolute names they resolve to.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Lowest first. A module belongs to the layer with the longest prefix of its dotted name; the root
# package ("editgan" itself) matches only itself. The methods are one layer each, in import order.
LAYERS = [
    ("base", ("editgan.errors", "editgan.registry", "editgan.lookahead", "editgan.labels", "editgan.files",
              "editgan.formats", "editgan.progress")),
    ("runtime", ("editgan.runtime",)),
    ("nn", ("editgan.nn",)),
    ("io", ("editgan.io",)),
    ("bundle", ("editgan.bundle",)),
    ("inversion", ("editgan.inversion",)),
    ("edit", ("editgan.edit",)),
    ("eval", ("editgan.eval",)),
    ("train", ("editgan.train",)),
    ("annotate", ("editgan.annotate",)),
    ("release", ("editgan.official_release",)),
    ("editor", ("editgan.editor", "editgan")),
    ("app", ("editgan.app",)),
    ("cli", ("editgan.cli", "editgan.__main__")),
    ("domains", ("editgan.toonfaces",)),
]
DOMAIN_LAYER = "domains"
LAZY_ALLOWED = frozenset({("editgan.cli.serve", "editgan.app")})  # fastapi and uvicorn are an optional extra

Imports = dict[str, list[tuple[str, bool]]]  # module -> [(imported module, inside a function body?)]


@dataclass(frozen=True)
class Rules:
    """What the checker enforces on one source tree: its root package, its layers (lowest first, each
    (name, module prefixes)), the domain layer (None: no domains) and the allowed lazy imports."""

    root: str = "editgan"
    layers: tuple[tuple[str, tuple[str, ...]], ...] = tuple(LAYERS)
    domain_layer: str | None = DOMAIN_LAYER
    lazy_allowed: frozenset[tuple[str, str]] = LAZY_ALLOWED


RULES = Rules()


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str, rules: Rules = RULES) -> int:
    """The index of the layer whose longest prefix matches `module` (the root matches only itself)."""
    matches = [(len(p), i) for i, (_, prefixes) in enumerate(rules.layers) for p in prefixes
               if module == p or (p != rules.root and module.startswith(p + "."))]
    if not matches:
        raise ValueError(f"{module} belongs to no layer; add it to LAYERS in {Path(__file__).name}")
    return max(matches)[1]


def package_of(module: str, rules: Rules = RULES) -> str:
    """The unit of the package rule: the root's direct child (package or module), or the root itself."""
    return ".".join(module.split(".")[:2]) if module.startswith(rules.root + ".") else module


def imported_modules(node: ast.Import | ast.ImportFrom, module: str, is_package: bool,
                     modules: set[str]) -> list[str]:
    """The modules an import statement in `module` names, relative ones resolved; `from a import b`
    counts as a.b when that is a module, else a."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        parts = module.split(".") if is_package else module.split(".")[:-1]
        parts = parts[:max(0, len(parts) - (node.level - 1))]
        base = ".".join(parts + ([node.module] if node.module else []))
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]


def read_imports(src: Path = SRC, rules: Rules = RULES) -> Imports:
    """module -> [(imported module under the root package, inside a function body?)] for every module
    of the tree `src`/<root>/."""
    paths = sorted((src / rules.root).rglob("*.py"))
    modules = {module_name(p, src) for p in paths}
    out: Imports = {}
    for path in paths:
        name = module_name(path, src)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nested = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                  for n in ast.walk(f) if n is not f}
        found = []
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets = imported_modules(node, name, path.name == "__init__.py", modules)
                found += [(t, id(node) in nested) for t in targets
                          if t == rules.root or t.startswith(rules.root + ".")]
        out[name] = found
    return out


def violations(imports: Imports, rules: Rules = RULES) -> list[str]:
    layers = rules.layers
    problems = []
    for module, targets in imports.items():
        mine = layer_of(module, rules)
        for target, lazy in targets:
            theirs = layer_of(target, rules)
            if theirs > mine:
                problems.append(f"{module} ({layers[mine][0]}) imports {target} from a higher layer "
                                f"({layers[theirs][0]})")
            if layers[theirs][0] == rules.domain_layer and layers[mine][0] != rules.domain_layer:
                problems.append(f"{module} is core but imports the domain module {target}")
            if lazy and (module, target) not in rules.lazy_allowed:
                problems.append(f"{module} imports {target} inside a function")
    graph = {m: {t for t, _ in ts if t in imports and t != m} for m, ts in imports.items()}
    problems += [f"circle: {' -> '.join(c)}" for c, _ in circles(graph)]
    packages: dict[str, set[str]] = defaultdict(set)
    for m, ts in graph.items():
        packages[package_of(m, rules)] |= {package_of(t, rules) for t in ts} - {package_of(m, rules)}
    for loop, component in circles(packages):
        others = sorted(component - set(loop))
        problems.append(f"package loop: {' -> '.join(loop)} ({'; '.join(loop_edges(loop, graph, rules))})"
                        + (f"; the loop also takes in {', '.join(others)}" if others else ""))
    return problems


def check(src: Path = SRC, rules: Rules = RULES) -> list[str]:
    """Every violation of `rules` in the tree `src`/<root>/."""
    return violations(read_imports(src, rules), rules)


def loop_edges(loop: list[str], graph: dict[str, set[str]], rules: Rules) -> list[str]:
    """For each step a -> b of a package loop, one module import that makes it."""
    out = []
    for a, b in zip(loop, loop[1:]):
        m, t = min((m, t) for m, ts in graph.items() for t in ts
                   if package_of(m, rules) == a and package_of(t, rules) == b)
        out.append(f"{m} -> {t}")
    return out


def circles(graph: dict[str, set[str]]) -> list[tuple[list[str], set[str]]]:
    """(circle, component) per strongly connected component with more than one node (Tarjan); the
    circle is the shortest path from the component's first node (sorted) back to it."""
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
                found.append((shortest_circle(min(component), set(component), graph), set(component)))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def shortest_circle(start: str, component: set[str], graph: dict[str, set[str]]) -> list[str]:
    """The shortest path start -> ... -> start inside `component` (breadth first, sorted neighbours)."""
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(graph.get(v, ())):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return path[::-1] + [start]
            if w in component and w not in previous:
                previous[w] = v
                queue.append(w)
    raise AssertionError(f"{start} is on no circle")  # a component of > 1 node always has one


def diagram(imports: Imports, rules: Rules = RULES) -> str:
    layers = rules.layers
    members: dict[int, list[str]] = defaultdict(list)
    for m in imports:
        members[layer_of(m, rules)].append(m)
    edges: dict[tuple[int, int], int] = defaultdict(int)
    for m, targets in imports.items():
        for t in {t for t, _ in targets}:
            a, b = layer_of(m, rules), layer_of(t, rules)
            if a != b:
                edges[a, b] += 1
    lines = []
    for i in reversed(range(len(layers))):
        name, prefixes = layers[i]
        below = ", ".join(f"{layers[b][0]} {n}" for (a, b), n in sorted(edges.items()) if a == i)
        lines.append(f"{name:>10} | {', '.join(p.removeprefix(rules.root + '.') for p in prefixes)}"
                     f"  ({len(members[i])} modules)" + (f"  -> {below}" if below else ""))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="list rule violations; exit 1 if any")
    args = parser.parse_args()
    imports = read_imports()
    if args.check:
        problems = violations(imports)
        print("\n".join(problems) or "no violations")
        return 1 if problems else 0
    print(diagram(imports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
