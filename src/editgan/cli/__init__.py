"""The `editgan` command. Each sub-command lives in its own module under `editgan.cli` and
exposes `register(subparsers)`, which adds its parser and sets `func(args) -> int`."""

from __future__ import annotations

import argparse
import importlib
import sys

from editgan import __version__
from editgan.errors import EditGANError
from editgan.registry import COMMANDS

# Modules under editgan.cli that define sub-commands, in the order `--help` lists them; domain
# plug-ins add theirs (editgan.registry.COMMANDS, e.g. toonfaces' demo, data and bench), listed after.
COMMAND_MODULES = ["sample", "convert", "convert_encoder", "import_release", "train", "bundle", "embed", "segment",
                   "edit", "vector", "batch", "annotations", "serve"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="editgan", description="EditGAN: semantic image editing with GANs.")
    parser.add_argument("--version", action="version", version=f"editgan {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"editgan.cli.{name}").register(subparsers)
    for name in COMMANDS.names():
        COMMANDS.get(name)(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except EditGANError as err:
        print(f"editgan {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"editgan {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
