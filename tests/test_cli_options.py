"""One CLI vocabulary: every command's parser (the plug-ins' included) spells, defaults and explains the shared
options one way (`editgan.cli.options`), every command that opens a bundle defaults to the packaged one,
every command that computes takes --device and --threads, old spellings still work with a note, and
progress bars follow --quiet / --progress."""

import argparse

import pytest
import torch

from editgan import progress
from editgan.bundle import write_bundle
from editgan.cli import build_parser, main
from editgan.cli.options import (DEFAULT_BUNDLE, SHARED, TRAINING_DEVICE, SharedOption, apply_runtime, command_parsers,
                                 leaf_parsers, resolve_device)
from editgan.errors import InputError
from editgan.io.images import save_png, to_uint8

# Commands that give a shared option a default of their own, each documented in its help ("default: ...").
OWN_DEFAULTS = {
    ("bench quality", "--embed-steps"),  # the benchmark's sizes: 150, --quick 2
    ("bundle learn-vectors", "--embed-steps"), ("bundle learn-vectors", "--tune-steps"),  # the shipped vectors' recipe
    ("bundle learn-vectors", "--edit-steps"),
    ("demo", "--embed-steps"), ("demo", "--tune-steps"), ("demo", "--edit-steps"), ("demo", "--refine-steps"),
    ("train gan", "--device"), ("train encoder", "--device"),  # auto: the trainers of large networks
    ("train measures", "--threads"),  # one thread reproduces the shipped weights
}
# Commands that open no bundle (they read or write files, or train from data).
NO_BUNDLE = {"sample", "convert", "convert-encoder", "import editgan-release", "bundle create", "data toonfaces",
             "train gan", "train features", "train measures"}
# Commands that run no network: they move, list or convert files.
NO_COMPUTE = {"convert", "convert-encoder", "import editgan-release", "bundle create", "bundle show", "data toonfaces",
              "vector list", "vector show", "vector delete", "vector rename", "vector set-scale", "vector import",
              "annotations list", "annotations export", "annotations delete", "annotations scheme"}
OLD_SPELLINGS = {"--refine", "--embedding-lr", "--no-progress", "--preset", "--refine-steps"}


@pytest.fixture(scope="module")
def leaves():
    return {" ".join(path): (parser, helptext) for path, parser, helptext in leaf_parsers(build_parser())}


def options_of(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {flag: a for a in parser._actions for flag in a.option_strings if a.help != argparse.SUPPRESS}


def spec_of(flag: str) -> SharedOption | None:
    return next((s for s in SHARED if flag in s.flags), None)


def test_the_tree_holds_every_command_and_the_plugins(leaves):
    assert len(leaves) == 35
    assert {"demo", "data toonfaces", "bench quality", "train measures"} <= set(leaves)  # toonfaces' commands


def test_shared_options_have_one_name_default_and_help_everywhere(leaves):
    seen = set()
    for command, (parser, _) in leaves.items():
        for flag, action in options_of(parser).items():
            spec = spec_of(flag)
            if spec is None:
                continue
            seen.add(spec.flags[0])
            where = f"{command} {flag}"
            assert tuple(action.option_strings) == spec.flags, where
            for key in ("type", "choices", "metavar", "const", "dest"):
                if key in spec.kwargs:
                    assert getattr(action, key) == spec.kwargs[key], f"{where}: {key}"
            if (command, flag) in OWN_DEFAULTS:
                assert action.help.startswith(spec.help.rstrip(")")) and "default: " in action.help, where
                assert action.help != spec.help_for(spec.default), f"{where}: its own default is not documented"
            else:
                assert action.default == spec.default, where
                assert action.help == spec.help_for(spec.default), where
    assert seen == {s.flags[0] for s in SHARED}  # every shared option is used somewhere


def test_old_spellings_are_hidden(leaves):
    for command, (parser, _) in leaves.items():
        visible = options_of(parser)
        for flag in OLD_SPELLINGS - {"--refine-steps"}:
            assert flag not in visible, f"{command} shows {flag}"
    assert "--refine-steps" not in options_of(leaves["bench quality"][0])  # there it is --refine-budgets


def test_every_command_that_opens_a_bundle_defaults_to_the_packaged_one(leaves):
    with_bundle = {c for c, (p, _) in leaves.items() if "--bundle" in options_of(p)}
    assert with_bundle == set(leaves) - NO_BUNDLE
    for command in with_bundle:
        assert options_of(leaves[command][0])["--bundle"].default == DEFAULT_BUNDLE, command


def test_every_command_that_computes_has_device_and_threads(leaves):
    for command, (parser, _) in leaves.items():
        flags = options_of(parser)
        if command in NO_COMPUTE:
            assert "--device" not in flags and "--threads" not in flags, command
            continue
        assert "--device" in flags and "--threads" in flags, command
        want = TRAINING_DEVICE if command in ("train gan", "train encoder") else "cpu"
        assert flags["--device"].default == want, command


def test_every_command_has_a_one_line_help_and_a_description(leaves):
    for path, parser, helptext in command_parsers(build_parser()):  # command groups too
        assert helptext and "\n" not in helptext and not helptext.endswith("."), path
        assert parser.description, path
    for command, (parser, _) in leaves.items():
        for flag in ("--quiet", "--progress"):
            assert flag in options_of(parser), command
    text = build_parser().format_help()
    assert "options shared by the commands" in text and "--refine-steps" in text


def test_old_spellings_still_work_and_name_the_new_flag(capsys):
    parser = build_parser()
    cases = [(["vector", "apply", "--seed", "1", "--vector", "v", "--out", "o"], "--refine", "3", "refine_steps", 3,
              "--refine-steps"),
             (["batch", "apply", "x.png", "--vector", "v", "--out", "o"], "--refine", "4", "refine_steps", 4,
              "--refine-steps"),
             (["bundle", "create", "--domain", "d", "--out", "o"], "--embedding-lr", "0.05", "embed_lr", 0.05,
              "--embed-lr"),
             (["embed", "x.png"], "--lr", "0.02", "embed_lr", 0.02, "--embed-lr"),
             (["embed", "x.png"], "--steps", "7", "embed_steps", 7, "--embed-steps"),
             (["edit", "--seed", "1", "--target", "t", "--parts", "p", "--out", "o"], "--steps", "5", "edit_steps", 5,
              "--edit-steps"),
             (["train", "gan", "--out", "o"], "--no-progress", None, "progress", "off", "--quiet"),
             (["bench", "quality"], "--refine-steps", "0,5", "refine_budgets", (0, 5), "--refine-budgets")]
    for argv, old, given, dest, value, new in cases:
        args = parser.parse_args([*argv, old] + ([given] if given else []))
        assert getattr(args, dest) == value, (argv, old)
        assert capsys.readouterr().err.splitlines() == [f"editgan: note: {old} is deprecated, use {new}"]
    args = parser.parse_args(["vector", "apply", "--seed", "1", "--vector", "v", "--out", "o", "--refine-steps", "3"])
    assert args.refine_steps == 3 and capsys.readouterr().err == ""


def test_bundle_show_keeps_its_positional_bundle(capsys):
    assert main(["bundle", "show", DEFAULT_BUNDLE]) == 0
    captured = capsys.readouterr()
    assert '"domain": "toonfaces"' in captured.out and "use --bundle toonfaces" in captured.err
    assert main(["bundle", "show"]) == 0 and '"domain": "toonfaces"' in capsys.readouterr().out


def test_progress_flags_work_before_and_after_the_command():
    parser = build_parser()
    assert parser.parse_args(["embed", "x.png"]).progress == "auto"
    assert parser.parse_args(["--quiet", "embed", "x.png"]).progress == "off"
    assert parser.parse_args(["embed", "x.png", "--quiet"]).progress == "off"
    assert parser.parse_args(["--progress", "vector", "list"]).progress == "on"
    assert parser.parse_args(["vector", "list", "--progress"]).progress == "on"
    with pytest.raises(SystemExit):
        parser.parse_args(["embed", "x.png", "--quiet", "--progress"])


@pytest.mark.parametrize("mode, bar", [("off", False), ("on", True), ("auto", False)])  # pytest's stderr is no tty
def test_progress_draws_bars_only_when_asked_or_on_a_terminal(mode, bar, capsys):
    progress.set_mode(mode)
    try:
        with progress.Progress(3, "work") as p:
            for _ in range(3):
                p.update(1, loss=0.5)
        assert (p.bar is not None) == bar
    finally:
        progress.set_mode("auto")
    err = capsys.readouterr().err
    if bar:
        assert "work" in err and "\r" in err
    else:  # one summary line instead
        assert err.count("\n") == 1 and err.startswith("work: 3 steps in ") and err.strip().endswith("loss 0.5000")


def test_a_failed_step_prints_no_summary(capsys):
    with pytest.raises(RuntimeError), progress.Progress(3, "work") as p:
        p.update(1)
        raise RuntimeError("boom")
    assert capsys.readouterr().err == ""


@pytest.fixture
def image_and_bundle(tmp_path, tiny_generator):
    write_bundle(tmp_path / "b", "tiny", tiny_generator)
    with torch.no_grad():
        image = tiny_generator.synthesis(tiny_generator.z_to_wplus(tiny_generator.sample_z(1, seed=1)))
    return str(save_png(tmp_path / "face.png", to_uint8(image)[0])), str(tmp_path / "b")


def test_embed_output_piped_or_quiet_has_a_summary_line_not_bars(tmp_path, image_and_bundle, capsys):
    image, bundle = image_and_bundle
    common = ["embed", image, "--bundle", bundle, "--embed-steps", "4"]
    assert main([*common, "--out", str(tmp_path / "a")]) == 0  # stderr is not a terminal: as piped
    piped = capsys.readouterr()
    assert "\r" not in piped.err and piped.err.splitlines() == [line for line in piped.err.splitlines()
                                                                 if line.startswith("face.png: 5 steps in ")]
    assert len(piped.err.splitlines()) == 1 and "face.png ->" in piped.out
    assert main(["--quiet", *common, "--out", str(tmp_path / "b")]) == 0
    assert capsys.readouterr().err.startswith("face.png: 5 steps in ")
    assert main([*common, "--out", str(tmp_path / "c"), "--progress"]) == 0
    forced = capsys.readouterr().err
    assert "\r" in forced and "face.png:" in forced and "steps in" not in forced  # a bar, drawn and cleared


def test_device_and_threads_are_applied_before_the_command(monkeypatch):
    threads = torch.get_num_threads()
    try:
        args = argparse.Namespace(device="auto", threads=1)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        apply_runtime(args)
        assert args.device == "cpu" and torch.get_num_threads() == 1
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
        assert resolve_device("auto") == "cuda" and resolve_device("cuda:1") == "cuda:1"
        with pytest.raises(InputError, match="2 cuda device"):
            resolve_device("cuda:2")
    finally:
        torch.set_num_threads(threads)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for bad in ("gpu", "cuda"):
        with pytest.raises(InputError, match="--device"):
            resolve_device(bad)
    with pytest.raises(InputError, match="--threads"):
        apply_runtime(argparse.Namespace(threads=-1))


def test_cpu_only_commands_refuse_another_device(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert main(["train", "measures", "--device", "cuda", "--out", "x"]) == 1
    assert "CPU only" in capsys.readouterr().err
    assert main(["bench", "quality", "--device", "cuda:0", "--quick"]) == 1
    assert "CPU only" in capsys.readouterr().err


def _first_network_device(monkeypatch, argv) -> list[str]:
    """Run `editgan argv` until it loads its first network; the devices that load was asked for."""
    from editgan.nn.pretrained import Pretrained

    asked = []

    def spy(cls, path, device="cpu", name=None):
        asked.append(str(device))
        raise InputError("stopped by the test")

    monkeypatch.setattr(Pretrained, "load_pretrained", classmethod(spy))
    assert main(argv) == 1
    return asked


@pytest.mark.parametrize("argv", [
    ["sample", "{bundle_dir}"], ["embed", "x.png"], ["segment", "x.png"],
    ["edit", "--seed", "1", "--target", "t.png", "--parts", "mouth", "--out", "{tmp}"],
    ["vector", "apply", "--seed", "1", "--vector", "smile", "--out", "{tmp}"],
    ["batch", "apply", "x.png", "--vector", "smile", "--out", "{tmp}"],
    ["bundle", "learn-vectors"], ["bundle", "distill-segmenter"],
    ["annotations", "import", "{tmp}"], ["annotations", "suggest"], ["annotations", "train"],
    ["train", "segmenter", "--latents", "w.safetensors", "--masks", "{tmp}"],
    ["train", "encoder", "--out", "{tmp}", "--steps", "1"], ["serve"], ["demo", "--out", "{tmp}"],
])
def test_the_networks_load_on_the_device_asked_for(argv, monkeypatch, tmp_path, capsys):
    from editgan.bundle import packaged_bundles_dir

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    argv = [a.format(tmp=tmp_path, bundle_dir=packaged_bundles_dir() / DEFAULT_BUNDLE) for a in argv]
    assert _first_network_device(monkeypatch, [*argv, "--device", "cuda:0"]) == ["cuda:0"], argv
    assert "stopped by the test" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["embed", "x.png"], ["segment", "x.png"],
    ["edit", "--seed", "1", "--target", "t.png", "--parts", "mouth", "--out", "{tmp}"],
    ["vector", "apply", "--seed", "1", "--vector", "smile", "--out", "{tmp}"],
    ["batch", "apply", "x.png", "--vector", "smile", "--out", "{tmp}"], ["serve"], ["demo", "--out", "{tmp}"],
])
def test_the_editor_computes_in_the_precision_asked_for(argv, monkeypatch, tmp_path, capsys):
    from editgan.editor.core import EditorCore

    asked = []

    def spy(self, bundle, device="cpu", vectors=None, identity=None, precision="fp32"):
        asked.append(precision)
        raise InputError("stopped by the test")

    monkeypatch.setattr(EditorCore, "__init__", spy)
    argv = [a.format(tmp=tmp_path) for a in argv]
    for precision in ("bf16", "fp32", "auto"):
        assert main([*argv, "--precision", precision]) == 1
    assert main(argv) == 1
    assert asked == ["bf16", "fp32", "auto", "auto"], argv  # the default: auto
    assert "stopped by the test" in capsys.readouterr().err
