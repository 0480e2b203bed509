"""MkDocs hooks for the documentation site (mkdocs.yml `hooks:`; excluded from the pages).

* The figures the project commits under `reports/` (PNG) join the site at `reports/...`, so pages
  show them with relative links (`../reports/demo_figure.png`) and --strict checks those links,
  without a second copy of each image under docs/.
* `<!-- import-layers -->` in a page becomes the layer diagram `python tools/import_layers.py`
  prints, read from the code's imports when the site is built, so it cannot go stale; likewise
  `<!-- editgan-help -->` becomes `editgan --help` and `<!-- editgan-commands -->` a table of every
  command and command group with its one-line help, from the installed CLI's parser.

Nothing here touches the network.
"""

from __future__ import annotations

import html
import importlib.util
import os
import sys
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "reports"
LAYERS_MARKER = "<!-- import-layers -->"
HELP_MARKER = "<!-- editgan-help -->"
COMMANDS_MARKER = "<!-- editgan-commands -->"


def on_files(files: Files, config) -> Files:
    for path in sorted(REPORTS.rglob("*.png")):
        uri = path.relative_to(ROOT).as_posix()
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


def _layer_diagram() -> str:
    spec = importlib.util.spec_from_file_location("import_layers", ROOT / "tools" / "import_layers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module.diagram(module.read_imports())


def _cli_help() -> str:
    from editgan.cli import build_parser

    width = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal's width: make the page the same everywhere
    try:
        return build_parser().format_help().rstrip()
    finally:
        if width is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = width


def _cli_commands() -> str:
    from editgan.cli import build_parser
    from editgan.cli.options import command_parsers

    rows = ["| command | what it does |", "| --- | --- |"]
    for words, _, helptext in command_parsers(build_parser()):
        text = html.escape(helptext or "", quote=False).replace("|", "&#124;")  # <bundle> is text, not a tag
        rows.append(f"| `editgan {' '.join(words)}` | {text} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if LAYERS_MARKER in markdown:
        markdown = markdown.replace(LAYERS_MARKER, f"```text\n{_layer_diagram()}\n```")
    if HELP_MARKER in markdown:
        markdown = markdown.replace(HELP_MARKER, f"```text\n{_cli_help()}\n```")
    if COMMANDS_MARKER in markdown:
        markdown = markdown.replace(COMMANDS_MARKER, _cli_commands())
    return markdown
