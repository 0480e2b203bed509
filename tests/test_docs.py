"""The documentation stays true: the site builds with --strict, its code runs, its commands exist.

* `mkdocs build --strict` (what `make docs` runs) fails on a page missing from the navigation, a
  broken link or anchor, a missing figure, or an API reference to something that moved.
* The Python blocks of README.md and docs/ run, page by page (one namespace per page, in a temporary
  folder); a block whose first line starts with `# not run` is shown to readers as not run and skipped.
* Each `editgan ...` line of a shell block names a command the CLI has; README's relative links resolve.
* The docstring examples (`>>>`) of the pure-function modules run as doctests.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
NOT_RUN = "# not run"
DOCTEST_MODULES = ["editgan.nn.ops", "editgan.nn.resample", "editgan.edit.region", "editgan.eval.iou",
                   "editgan.eval.frechet", "editgan.eval.kernel_distance", "editgan.eval.locality"]

FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```", re.M | re.S)


def code_blocks(page: Path, languages: tuple[str, ...]) -> list[str]:
    """The bodies of the page's fenced blocks in `languages`, dedented by their fence's indent."""
    out = []
    for m in FENCE.finditer(page.read_text(encoding="utf-8")):
        if m["lang"] in languages:
            indent = len(m["indent"])
            out.append("\n".join(line[indent:] for line in m["body"].splitlines()))
    return out


def rel(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def test_docs_build_strict(tmp_path):
    missing = [name for name in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers")
               if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"documentation tools not installed ({', '.join(missing)}): `make test` installs them "
                    "from requirements.lock")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    log = done.stdout + done.stderr
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{log[-6000:]}"
    assert "WARNING" not in log, log[-6000:]
    site = tmp_path / "site"
    assert (site / "reference" / "api" / "editor" / "index.html").is_file()
    assert 'id="editgan.Editor.edit"' in (site / "reference" / "api" / "editor" / "index.html").read_text()
    assert (site / "reports" / "demo_figure.png").is_file()
    assert "googleapis" not in (site / "index.html").read_text()  # no web fonts: the site reads offline


RUNNABLE = [p for p in PAGES if any(not b.lstrip().startswith(NOT_RUN) for b in code_blocks(p, ("python",)))]


@pytest.mark.parametrize("page", RUNNABLE, ids=rel)
def test_python_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples may write files
    namespace: dict = {"__name__": "__docs__"}
    for i, block in enumerate(code_blocks(page, ("python",))):
        if block.lstrip().startswith(NOT_RUN):
            continue
        try:
            exec(compile(block, f"{rel(page)} (python block {i + 1})", "exec"), namespace)
        except Exception as err:
            raise AssertionError(f"{rel(page)}, python block {i + 1} fails ({err!r}):\n{block}") from err


def test_readme_links_exist():
    """README.md is read outside the site (on a forge, in an editor): its relative links must resolve."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = [t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", text) if "://" not in t]
    assert targets
    missing = [t for t in targets if t and not (ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def command_lines(page: Path) -> list[str]:
    """The `editgan ...` command lines of a page's shell blocks (continuations joined), as the words
    after `editgan` (or after `-m editgan.cli` under torchrun)."""
    out = []
    for block in code_blocks(page, ("sh", "bash", "shell", "console")):
        for line in block.replace("\\\n", " ").splitlines():
            words = line.split("#")[0].split()
            if words[:1] == ["editgan"]:
                out.append(words[1:])
            elif "editgan.cli" in words and words[words.index("editgan.cli") - 1] == "-m":
                out.append(words[words.index("editgan.cli") + 1:])
    return out


def test_shell_blocks_name_real_commands():
    import argparse

    from editgan.cli import build_parser

    root = build_parser()
    bad, checked = [], 0
    for page in PAGES:
        for words in command_lines(page):
            parser, path = root, []
            for word in words:
                subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
                if word.startswith("-") and not path:
                    continue  # options before the command (--quiet, --progress)
                if not subs or word not in subs[0].choices:
                    break
                parser, path = subs[0].choices[word], [*path, word]
            if any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
                bad.append(f"{rel(page)}: `editgan {' '.join(words)}` names no command")
            checked += 1
    assert checked > 30
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name", DOCTEST_MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module) if t.examples]
    assert tests, f"{name} has no docstring examples"
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} fail (see above)"
