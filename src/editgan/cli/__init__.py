"""The `editgan` command. Each sub-command lives in its own module under `editgan.cli` and
exposes `register(subparsers)`, which adds its parser and sets `func(args) -> int`; the options
several commands share are defined once in `editgan.cli.options`."""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from typing import NoReturn

from editgan import __version__, progress
from editgan.cli.options import (DEFAULT_BUNDLE, QUIET, add_progress_args, apply_runtime, command_parsers,
                                 leaf_parsers)
from editgan.errors import EditGANError
from editgan.registry import COMMANDS
from editgan.runtime.distributed import exit_process

# Modules under editgan.cli that define sub-commands, in the order `--help` lists them; domain
# plug-ins add theirs (editgan.registry.COMMANDS, e.g. toonfaces' demo, data and bench), listed after.
COMMAND_MODULES = ["sample", "convert", "convert_encoder", "import_release", "train", "bundle", "embed", "segment",
                   "edit", "vector", "batch", "annotations", "serve"]


SHARED_OPTIONS = f"""\
options shared by the commands (one name, default and meaning wherever they appear):
  --bundle NAME|DIR      the bundle to use (default: {DEFAULT_BUNDLE}, the packaged bundle)
  --device DEVICE        where the networks run: cpu, cuda, cuda:N, ... or auto (cuda when available);
                         default cpu, except `train gan` and `train encoder`: auto
  --threads N            torch CPU threads (0: torch's default)
  --embed-steps N, --embed-lr LR, --embed-preset P, --tune, ...
                         how images are embedded (default: the bundle's settings)
  --refine-steps N       self-supervised refinement after applying editing vectors
  --quiet / --progress   progress bars off / on even when the output is not a terminal (default: bars
                         on a terminal only; otherwise one summary line per long step)
Old spellings (--refine, --embedding-lr, --no-progress, ...) still work and print a note."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="editgan", description="EditGAN: semantic image editing with GANs.",
                                     epilog=SHARED_OPTIONS, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"editgan {__version__}")
    add_progress_args(parser)
    parser.set_defaults(progress="auto")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"editgan.cli.{name}").register(subparsers)
    for name in COMMANDS.names():
        COMMANDS.get(name)(subparsers)
    for _, command, helptext in command_parsers(parser):
        if command.description is None and helptext:  # each command's --help opens with its one-line description
            command.description = helptext[:1].upper() + helptext[1:] + "."
    for _, leaf, _ in leaf_parsers(parser):
        if QUIET.flags[0] not in leaf._option_string_actions:
            add_progress_args(leaf)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        progress.set_mode(args.progress)
        apply_runtime(args)
        return int(args.func(args) or 0)
    except EditGANError as err:
        one_line = str(err).replace("\r", "\\r").replace("\n", "\\n")  # file contents may hold newlines
        print(f"editgan {args.command}: error: {one_line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"editgan {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        progress.set_mode("auto")


def run() -> NoReturn:
    """The `editgan` console command: `main()` on sys.argv, then `exit_process` with its status (1,
    after the traceback, when an unexpected error escapes)."""
    try:
        code = main()
    except Exception:  # noqa: BLE001 - printed as Python would, then the same exit path
        traceback.print_exc()
        code = 1
    exit_process(code)


if __name__ == "__main__":  # pragma: no cover
    run()
