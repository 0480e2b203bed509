"""The options `editgan` commands share, defined once: one name, one default and one help text wherever
they appear (tests/test_cli_options.py walks every command to check), and old spellings kept as hidden
aliases that still work and print a one-line note naming the new flag.

    --bundle                  every command that opens a bundle; default: the packaged bundle "toonfaces"
    --device, --threads       every command that computes; --device defaults to cpu, except the trainers of
                              large networks (`train gan`, `train encoder`): auto, i.e. cuda when available
    --precision               commands that run the generator or segmenter heavily: embed, segment, edit,
                              vector apply, batch apply, serve, demo, and the trainers `train gan`, `train encoder`
    --refine-steps            commands that apply editing vectors
    --edit-preset, --edit-steps, --edit-lr, --edit-segmenter   commands that learn or refine edits
    the embedding group       --embed-preset, --embed-steps, --embed-lr, --perceptual, --noise, --embed-seed,
                              --tune / --no-tune, --tune-steps: every command that embeds images; default: the
                              bundle's EmbedSettings (manifest "embedding")
    --vectors, --identity     commands that use a vector library / learn edits
    --quiet, --progress       on `editgan` itself and on every command (`editgan.progress`)

A command may give a shared option a default of its own (e.g. `demo --embed-steps 300`, fast on purpose);
its help then states it ("default: VALUE") and the test lists it as a documented exception.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from editgan.bundle import DEFAULT_PERCEPTUAL
from editgan.edit.settings import PAPER as PAPER_EDIT, PRESETS as EDIT_PRESETS
from editgan.errors import InputError
from editgan.inversion.settings import FAITHFUL, PAPER, PRESETS, EmbedSettings
from editgan.runtime.allocator import keep_freed_memory

DEFAULT_BUNDLE = "toonfaces"  # the packaged bundle
TRAINING_DEVICE = "auto"  # the default --device of `train gan` and `train encoder`
_UNSET = object()


@dataclass(frozen=True)
class SharedOption:
    """One shared option: its flags, help (without the default), default and how the help states it
    (None: the help says it already, or there is nothing to say), and add_argument's other keywords."""

    flags: tuple[str, ...]
    help: str
    default: Any = None
    default_text: str | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def help_for(self, default: Any, default_text: str | None = None) -> str:
        """The help text: the shared text, plus "(default: ...)" where there is one to state: `default_text`,
        else this option's for its own default, else the value."""
        if default_text is None:
            default_text = self.default_text if default == self.default else str(default)
        if default_text is None:
            return self.help
        if self.help.endswith(")"):  # "steps (paper: 500)" -> "steps (paper: 500; default: 300)"
            return f"{self.help[:-1]}; default: {default_text})"
        return f"{self.help} (default: {default_text})"

    def add(self, p, *, default: Any = _UNSET, default_text: str | None = None,
            old: tuple[str, ...] = ()) -> argparse.Action:
        """Add the option to parser or group `p`, with a command's own `default` (and how its help states
        it, `default_text`) if given, and the old spellings `old` as hidden deprecated aliases."""
        default = self.default if default is _UNSET else default
        action = p.add_argument(*self.flags, default=default, help=self.help_for(default, default_text),
                                **self.kwargs)
        for flag in old:
            add_alias(p, action, flag)
        return action


class _Deprecated(argparse.Action):
    """A hidden old spelling of `target`: does what it does, after a one-line note on stderr."""

    def __init__(self, option_strings, dest, *, target: argparse.Action, **_):
        super().__init__(option_strings, dest, nargs=target.nargs, const=target.const, type=target.type,
                         choices=target.choices, metavar=target.metavar, default=argparse.SUPPRESS,
                         help=argparse.SUPPRESS)
        self.target = target

    def __call__(self, parser, namespace, values, option_string=None):
        new = self.target.option_strings[0]
        print(f"editgan: note: {option_string} is deprecated, use {new}", file=sys.stderr)
        self.target(parser, namespace, values, new)


def add_alias(p, action: argparse.Action, flag: str) -> None:
    """Accept `flag` as a hidden, deprecated spelling of `action` (it prints a note naming the new flag)."""
    p.add_argument(flag, dest=action.dest, action=_Deprecated, target=action)


# ---------------------------------------------------------------------------------------------- the vocabulary
BUNDLE = SharedOption(("--bundle",), "bundle: a packaged bundle's name or a bundle directory",
                      default=DEFAULT_BUNDLE, default_text=f"{DEFAULT_BUNDLE}, the packaged bundle",
                      kwargs={"metavar": "NAME|DIR"})
VECTORS = SharedOption(("--vectors",), "your vector library directory (default: <bundle>/vectors; for a packaged "
                                       "bundle, one in the user data folder, $EDITGAN_HOME, next to its read-only "
                                       "shipped vectors)", kwargs={"metavar": "DIR"})
IDENTITY = SharedOption(("--identity",), "identity loss (λ3) with ArcFace IR-SE50 weights (model_ir_se50.pth) or the "
                                         "packaged toonfaces network", default_text="off",
                        kwargs={"metavar": "PATH|toonfaces"})
DEVICE = SharedOption(("--device",), "torch device the networks run on: cpu, cuda, cuda:N, mps, ..., or auto for "
                                     "cuda when available", default="cpu", default_text="cpu",
                      kwargs={"metavar": "DEVICE"})
THREADS = SharedOption(("--threads",), "torch CPU threads (0: torch's default)", default=0, kwargs={"type": int,
                                                                                                     "metavar": "N"})
PRECISION = SharedOption(("--precision",), "bf16: the networks' layers in bfloat16 with float32 weights, latents, "
                                           "optimisers and losses (about 1.5-2x faster where bf16 is fast); auto: bf16 "
                                           "on CPUs with AVX-512 BF16 or AMX and on bf16 GPUs, else fp32 (emulated "
                                           "bf16 is ~15x slower)", default="auto", default_text="auto",
                         kwargs={"choices": ["auto", "fp32", "bf16"]})
REFINE_STEPS = SharedOption(("--refine-steps",), "self-supervised refinement steps after applying the vectors "
                                                 "(paper: 30; 0: none)", default=0,
                            kwargs={"type": int, "metavar": "N"})
EDIT_PRESET = SharedOption(("--edit-preset",), "edit and refinement settings: the paper's or the official "
                                               "release's", default_text="the bundle's, else paper",
                           kwargs={"choices": sorted(EDIT_PRESETS)})
EDIT_STEPS = SharedOption(("--edit-steps",), f"edit optimisation steps (paper: {PAPER_EDIT.steps})",
                          default_text="from the edit settings", kwargs={"type": int, "metavar": "N"})
EDIT_SEGMENTER = SharedOption(("--edit-segmenter",), "whose cross-entropy the edit minimises: the bundle's "
                                                     "10-member ensemble (the paper) or its distilled display "
                                                     "segmenter (2-3x faster per step)",
                              default_text="from the edit settings", kwargs={"choices": ["ensemble", "display"]})
EDIT_LR = SharedOption(("--edit-lr",), f"edit Adam learning rate (paper: {PAPER_EDIT.lr:g})",
                       default_text="from the edit settings", kwargs={"type": float, "metavar": "LR"})
EMBED_PRESET = SharedOption(("--embed-preset",), "paper (500 W+ steps), release (the official tool's 99), faithful "
                                                 "(paper + pivotal tuning)", kwargs={"choices": sorted(PRESETS)})
EMBED_STEPS = SharedOption(("--embed-steps",), f"W+ optimisation steps (paper: {PAPER.steps})",
                           kwargs={"type": int, "metavar": "N"})
EMBED_LR = SharedOption(("--embed-lr",), f"W+ Adam learning rate (paper: {PAPER.lr:g})",
                        kwargs={"type": float, "metavar": "LR"})
PERCEPTUAL = SharedOption(("--perceptual",), "perceptual distance: lpips, msssim_l1 or toon",
                          default_text=f"the bundle's, else {DEFAULT_PERCEPTUAL}", kwargs={"metavar": "NAME"})
NOISE = SharedOption(("--noise",), "also optimise the noise maps (StyleGAN2 projector)",
                     kwargs={"action": "store_true"})
EMBED_SEED = SharedOption(("--embed-seed",), "seed of the noise maps and of the tuning",
                          kwargs={"type": int, "metavar": "SEED"})
TUNE = SharedOption(("--tune",), f"pivotal tuning after the W+ embedding ({FAITHFUL.tune_steps} steps unless "
                                 "--tune-steps)", kwargs={"action": "store_true"})
NO_TUNE = SharedOption(("--no-tune",), "no pivotal tuning", kwargs={"dest": "tune", "action": "store_false"})
TUNE_STEPS = SharedOption(("--tune-steps",), "pivotal tuning steps (0: none)", kwargs={"type": int, "metavar": "N"})
QUIET = SharedOption(("--quiet",), "no progress bars: long steps print one summary line each, as when the output is "
                                   "not a terminal", default=argparse.SUPPRESS,
                     kwargs={"dest": "progress", "action": "store_const", "const": "off"})
PROGRESS = SharedOption(("--progress",), "progress bars even when the output is not a terminal (default: on a "
                                         "terminal only)", default=argparse.SUPPRESS,
                        kwargs={"dest": "progress", "action": "store_const", "const": "on"})

SHARED = (BUNDLE, VECTORS, IDENTITY, DEVICE, THREADS, PRECISION, REFINE_STEPS, EDIT_PRESET, EDIT_STEPS, EDIT_LR,
          EDIT_SEGMENTER,
          EMBED_PRESET, EMBED_STEPS, EMBED_LR,
          PERCEPTUAL, NOISE, EMBED_SEED, TUNE, NO_TUNE, TUNE_STEPS, QUIET, PROGRESS)
EMBED_GROUP = "embedding (default: the bundle's settings, manifest \"embedding\")"


# ---------------------------------------------------------------------------------------------- groups of options
def add_compute_args(p, *, device: str = "cpu", precision: bool = False) -> None:
    """--device and --threads (a command that computes), and --precision with `precision`; device "auto"
    for the trainers of large networks."""
    DEVICE.add(p, default=device)
    THREADS.add(p)
    if precision:
        PRECISION.add(p)


def add_progress_args(p, *, old_quiet: tuple[str, ...] = ()) -> None:
    """--quiet / --progress (on every command and on `editgan` itself); `old_quiet`: old spellings of --quiet."""
    group = p.add_mutually_exclusive_group()
    quiet = QUIET.add(group)
    for flag in old_quiet:
        add_alias(p, quiet, flag)
    PROGRESS.add(group)


def add_embed_args(p, *, old: Mapping[str, tuple[str, ...]] | None = None) -> None:
    """The embedding group (default: the bundle's EmbedSettings, each flag overriding one field); `old`:
    {new flag: old spellings} kept as hidden aliases."""
    old = old or {}
    g = p.add_argument_group(EMBED_GROUP)
    for option in (EMBED_PRESET, EMBED_STEPS, EMBED_LR, PERCEPTUAL, NOISE, EMBED_SEED):
        option.add(g, old=old.get(option.flags[0], ()))
    tune = g.add_mutually_exclusive_group()
    TUNE.add(tune)
    NO_TUNE.add(tune)
    TUNE_STEPS.add(g)


def embed_settings_from_args(editor, args: argparse.Namespace) -> EmbedSettings:
    """The bundle's EmbedSettings (or --embed-preset's) with the flags given; InputError on bad values,
    before any work."""
    tune_steps = args.tune_steps
    if tune_steps is None and args.tune is not None:
        tune_steps = FAITHFUL.tune_steps if args.tune else 0
    return editor.embed_settings(args.embed_preset, steps=args.embed_steps, lr=args.embed_lr,
                                 perceptual=args.perceptual, optimize_noise=args.noise, seed=args.embed_seed,
                                 tune_steps=tune_steps)


# ---------------------------------------------------------------------------------------------- applying them
def resolve_device(name: str) -> str:
    """--device: "auto" -> cuda when available, else cpu; InputError for a name torch does not know or a
    device this machine lacks."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise InputError(f"--device {name!r} is not a torch device (cpu, cuda, cuda:N, mps, ... or auto)") from None
    kind = device.type
    missing = (kind == "cuda" and not torch.cuda.is_available()) or \
        (kind == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()))
    if missing:
        raise InputError(f"--device {name}: this machine has no {kind} device (try --device cpu)")
    if kind == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise InputError(f"--device {name}: this machine has {torch.cuda.device_count()} cuda device(s)")
    return name


def apply_runtime(args: argparse.Namespace) -> None:
    """Before a command runs: freed memory is kept for reuse (`keep_freed_memory`), --threads sets
    torch's CPU threads, --device is resolved (see resolve_device)."""
    keep_freed_memory()
    threads = getattr(args, "threads", None)
    if threads is not None:
        if threads < 0:
            raise InputError(f"--threads must be 0 (torch's default) or more, got {threads}")
        if threads:
            torch.set_num_threads(threads)
    if getattr(args, "device", None) is not None:
        args.device = resolve_device(args.device)


def require_cpu(args: argparse.Namespace, why: str) -> None:
    """InputError unless --device is the CPU: for commands whose work runs on the CPU only (`why` says so)."""
    if torch.device(args.device).type != "cpu":
        raise InputError(f"--device {args.device}: {why}; use --device cpu")


# ---------------------------------------------------------------------------------------------- the command tree
def command_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Yield (command words, parser, one-line help) of every command and command group below `parser`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*path, name), sub, helps.get(name)
                yield from command_parsers(sub, (*path, name))


def leaf_parsers(parser: argparse.ArgumentParser):
    """Yield (command words, parser, one-line help) of every leaf command (one that runs) below `parser`."""
    for path, sub, helptext in command_parsers(parser):
        if not any(isinstance(a, argparse._SubParsersAction) for a in sub._actions):
            yield path, sub, helptext
