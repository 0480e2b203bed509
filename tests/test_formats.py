"""Format versions: every saved kind is read at its version, a newer one is refused in one line, an
older one migrated (tests/fixtures/formats_v1: files as version 1 wrote them); provenance paths are
saved portable, and the packaged bundle and bench results hold no absolute path."""

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import torch

from editgan.annotate.store import AnnotationSet
from editgan.bundle import open_bundle, packaged_bundles_dir, write_bundle
from editgan.cli.train_segmenter import load_latents
from editgan.edit.vectors import EditingVector
from editgan.errors import CheckpointError
from editgan.files import load_tensors, read_tensor_metadata, save_tensors
from editgan.formats import CURRENT, MIGRATIONS, absolute_paths, portable_path, portable_paths, rewrite_portable
from editgan.io.latents import load_tuning, load_wplus, save_wplus
from editgan.io.segmenter_files import load_segmenter, save_segmenter
from editgan.io.tuning_files import VERSION_KEY
from editgan.nn.segmenter import Segmenter
from editgan.nn.segmenter_config import SegmenterConfig
from editgan.train.state import load_state, load_state_config, save_state
from conftest import make_tiny_generator

ROOT = Path(__file__).resolve().parents[1]
V1 = Path(__file__).parent / "fixtures" / "formats_v1"
NUM_WS, W_DIM = 8, 4  # the fixtures' latent shape


@pytest.fixture
def v1(tmp_path) -> Path:
    """A copy of the version-1 fixtures (loading must not need to write, but rewriting does)."""
    shutil.copytree(V1, tmp_path / "v1")
    return tmp_path / "v1"


def test_every_migration_step_exists():
    for kind, newest in CURRENT.items():
        assert all((kind, v) in MIGRATIONS for v in range(1, newest)), kind


# ------------------------------------------------------------------ version 1 files load, migrated
def test_a_v1_bundle_manifest_and_its_segmenters_load_with_portable_provenance(v1):
    bundle = open_bundle(v1 / "bundle")
    assert bundle.manifest["version"] == CURRENT["editgan-bundle"] == 2
    assert bundle.provenance("segmenter")["latents"] == "annotations.wplus.safetensors"
    assert bundle.provenance("segmenter")["image_dir"] == "images"
    assert bundle.provenance("generator")["source"] == "toon.pt"
    assert bundle.provenance("generator")["training_config"] == {"data": "toonfaces", "features": "features128"}
    assert bundle.labels.names == ("background", "face", "eye")
    assert not absolute_paths(bundle.manifest)
    seg, scheme = bundle.segmenter()
    assert seg.num_members == 2 and scheme.names == bundle.labels.names
    _, meta = Segmenter.load_pretrained(v1 / "bundle", name="display_segmenter")
    assert meta["version"] == 2 and meta["provenance"]["teacher_folder"] == "bundle128w"
    assert bundle.display_segmenter_dir == v1 / "bundle"  # the teacher digest still matches


def test_a_v1_vector_latent_annotation_set_and_checkpoint_load(v1):
    vector = EditingVector.load(v1 / "bundle" / "vectors", "smile")
    assert vector.created["bundle"] == "bundle128w" and vector.created["imported_from"] == "smile.npy"
    assert vector.shape == (NUM_WS, W_DIM) and vector.parts == ("face",)
    assert load_wplus(v1 / "latent.safetensors", NUM_WS, W_DIM).shape == (1, NUM_WS, W_DIM)
    assert load_tuning(v1 / "latent.safetensors").info == {"steps": 2}
    store = AnnotationSet(v1 / "annotations", (8, 8), (NUM_WS, W_DIM))
    ids, wplus, labels, tunings = store.training_data()
    assert ids == ["a0001"] and wplus.shape == (1, NUM_WS, W_DIM) and tunings[0] is not None
    names, latents = load_latents(v1 / "bundle" / "annotations.wplus.safetensors", NUM_WS, W_DIM)
    assert names == ["a", "b"] and latents.shape == (2, NUM_WS, W_DIM)
    assert load_state(v1 / "state")["step"] == 3
    assert load_state_config(v1 / "state") == {"batch": 2, "data": "/work/data/toons"}  # checkpoints keep their paths


# ------------------------------------------------------------------ newer versions are refused
def newer_json(path: Path, kind: str) -> int:
    """Make the JSON at `path` one version newer than this release reads; returns that version."""
    path.write_text(json.dumps({**json.loads(path.read_text()), "version": CURRENT[kind] + 1}))
    return CURRENT[kind] + 1


def newer_tensors(path: Path, kind: str, key: str = "version") -> int:
    """The same for a safetensors file's metadata `key`."""
    save_tensors(path, load_tensors(path), {**read_tensor_metadata(path), key: str(CURRENT[kind] + 1)})
    return CURRENT[kind] + 1


def refused(load, path: Path, version: int, newest: int) -> None:
    with pytest.raises(CheckpointError) as err:
        load()
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    assert f"version {version}" in message and f"up to {newest}" in message and "upgrade editgan" in message


def test_newer_json_formats_are_refused_in_one_line(v1):
    bundle = v1 / "bundle"
    cases = [(bundle / "manifest.json", "editgan-bundle", lambda: open_bundle(bundle)),
             (bundle / "segmenter.json", "editgan-segmenter", lambda: load_segmenter(bundle)),
             (bundle / "vectors" / "smile.json", "editgan-editing-vector",
              lambda: EditingVector.load(bundle / "vectors", "smile")),
             (v1 / "annotations" / "annotations.json", "editgan-annotations",
              lambda: AnnotationSet(v1 / "annotations", (8, 8), (NUM_WS, W_DIM)).list()),
             (v1 / "state.json", "editgan-train-state", lambda: load_state(v1 / "state"))]
    for path, kind, load in cases:
        refused(load, path, newer_json(path, kind), CURRENT[kind])


def test_newer_tensor_formats_and_tunings_are_refused_in_one_line(v1):
    latent, annotations = v1 / "latent.safetensors", v1 / "bundle" / "annotations.wplus.safetensors"
    refused(lambda: load_tuning(latent), latent, newer_tensors(latent, "tuning", VERSION_KEY), CURRENT["tuning"])
    refused(lambda: load_wplus(latent, NUM_WS, W_DIM), latent, newer_tensors(latent, "editgan-latent"),
            CURRENT["editgan-latent"])
    kind = "editgan-annotation-latents"
    refused(lambda: load_latents(annotations, NUM_WS, W_DIM), annotations, newer_tensors(annotations, kind),
            CURRENT[kind])
    store = AnnotationSet(v1 / "annotations", (8, 8), (NUM_WS, W_DIM))
    tuning = v1 / "annotations" / "tunings" / "a0001.safetensors"
    refused(lambda: store.get("a0001"), tuning, newer_tensors(tuning, "tuning", VERSION_KEY), CURRENT["tuning"])
    refused(lambda: store.latents(), store.root / "latents.safetensors",
            newer_tensors(store.root / "latents.safetensors", kind), CURRENT[kind])


@pytest.mark.parametrize("version", ["two", 0, -1, 1.5, True, None])
def test_a_malformed_version_is_refused(v1, version):
    path = v1 / "bundle" / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "version": version}))
    with pytest.raises(CheckpointError, match="format version .* is not a positive whole number"):
        open_bundle(v1 / "bundle")


def test_a_foreign_safetensors_latent_is_read_as_plain_tensors(tmp_path):
    save_tensors(tmp_path / "w.safetensors", {"w": torch.zeros(NUM_WS, W_DIM)}, {"format": "pt", "version": "9"})
    assert load_wplus(tmp_path / "w.safetensors", NUM_WS, W_DIM).shape == (1, NUM_WS, W_DIM)


# ------------------------------------------------------------------ writers save current, portable files
def test_writers_record_current_versions_and_portable_paths(tmp_path):
    seg = Segmenter(SegmenterConfig(num_classes=3, feature_shapes=[(3, 4)], out_resolution=8, num_members=1))
    provenance = {"latents": str(tmp_path / "b" / "annotations.wplus.safetensors"), "data": "/srv/data/toons",
                  "command": f"editgan train segmenter --images {tmp_path}/imgs --masks=/srv/m"}
    save_segmenter(seg, tmp_path / "b", provenance=provenance)
    saved = json.loads((tmp_path / "b" / "segmenter.json").read_text())
    assert saved["version"] == CURRENT["editgan-segmenter"]
    assert saved["provenance"] == {"latents": "annotations.wplus.safetensors", "data": "toons",
                                   "command": "editgan train segmenter --images imgs --masks=m"}
    g = make_tiny_generator()
    bundle = write_bundle(tmp_path / "b", "tiny", g, provenance={"generator": {"source": "/home/ann/g.pt"},
                                                                 "segmenter": provenance})
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["version"] == bundle.manifest["version"] == CURRENT["editgan-bundle"]
    assert manifest["provenance"]["generator"] == {"source": "g.pt"} and not absolute_paths(manifest)
    assert json.loads((tmp_path / "b" / "generator.json").read_text())["version"] == CURRENT["editgan-generator"]
    vector = EditingVector(torch.zeros(2, 3), "v", created={"bundle": str(tmp_path / "b"), "time": "t"})
    record = json.loads(vector.save(tmp_path / "b" / "vectors").read_text())
    assert record["version"] == CURRENT["editgan-editing-vector"] and record["created"]["bundle"] == "b"
    save_wplus(tmp_path / "b" / "w.safetensors", torch.zeros(1, 2, 3), metadata={"source": tmp_path / "b" / "x.png"})
    metadata = read_tensor_metadata(tmp_path / "b" / "w.safetensors")
    assert metadata["source"] == "x.png" and metadata["version"] == str(CURRENT["editgan-latent"])
    save_state(tmp_path / "s", {"config": {}})
    assert json.loads((tmp_path / "s.json").read_text())["version"] == CURRENT["editgan-train-state"]


# ------------------------------------------------------------------ rewriting files in place
def test_rewrite_upgrades_every_fixture_once_and_keeps_them_loadable(v1):
    before = load_tensors(v1 / "bundle" / "annotations.wplus.safetensors")
    written = rewrite_portable([v1], base="/work/longrun/bundle128w")
    names = {p.relative_to(v1).as_posix() for p in written}
    assert names == {"bundle/manifest.json", "bundle/segmenter.json", "bundle/display_segmenter.json",
                     "bundle/vectors/smile.json", "bundle/annotations.wplus.safetensors", "latent.safetensors",
                     "annotations/latents.safetensors"}  # not the annotation index or checkpoint: current
    assert rewrite_portable([v1], base="/work/longrun/bundle128w") == []  # idempotent
    manifest = json.loads((v1 / "bundle" / "manifest.json").read_text())
    assert manifest["version"] == 2
    assert manifest["provenance"]["segmenter"]["latents"] == "annotations.wplus.safetensors"
    display = json.loads((v1 / "bundle" / "display_segmenter.json").read_text())
    assert display["provenance"]["teacher_folder"] == "."  # the bundle itself, relative to where it was built
    for path in v1.rglob("*.json"):
        if path.name != "state.json":  # a checkpoint's config keeps its data path (resuming needs it)
            assert not absolute_paths(json.loads(path.read_text())), path
    after = load_tensors(v1 / "bundle" / "annotations.wplus.safetensors")
    assert all(torch.equal(before[k], after[k]) for k in before) and before.keys() == after.keys()
    assert read_tensor_metadata(v1 / "bundle" / "annotations.wplus.safetensors")["images"] == "images"
    assert EditingVector.load(v1 / "bundle" / "vectors", "smile").created["bundle"] == "."
    assert open_bundle(v1 / "bundle").display_segmenter_dir == v1 / "bundle"


def test_rewrite_keeps_the_layout_of_other_json(tmp_path):
    path = tmp_path / "result.json"
    path.write_text('{\n  "z": 1,\n  "bundle": "/work/main/src/editgan/assets/bundles/toonfaces"\n}')
    assert rewrite_portable(tmp_path) == [path]
    assert path.read_text() == '{\n  "z": 1,\n  "bundle": "toonfaces"\n}'


@pytest.mark.parametrize("text, base, portable", [
    ("/work/longrun/bundle128w/annotations.wplus.safetensors", "/work/longrun/bundle128w",
     "annotations.wplus.safetensors"),
    ("/work/longrun/bundle128w", "/work/longrun/bundle128w", "."),
    ("/work/longrun/build128w/annotations/images", "/work/longrun/bundle128w", "images"),
    ("/work/longrun/features128", None, "features128"),
    ("~/photos/face.png", None, "face.png"),
    ("C:\\Users\\ann\\face.png", None, "face.png"),
    ("toonfaces", None, "toonfaces"),
    ("vectors/smile.json", None, "vectors/smile.json"),
])
def test_portable_path(text, base, portable):
    assert portable_path(text, base) == portable


def test_portable_paths_leaves_text_that_holds_no_path_alone():
    text = ["2nd / 98th percentile (bench/faithful_embedding.py)", "http://host/x/y", "12/07/2026", "w+ / 2",
            "a/b", "images/s"]
    assert portable_paths(text) == text and absolute_paths(text) == []
    assert portable_paths({"cmd": "python x.py --bundle /work/b --out=/tmp/o", "n": [1, "/a/b"]}) == \
        {"cmd": "python x.py --bundle b --out=o", "n": [1, "b"]}


# ------------------------------------------------------------------ what ships is portable and current
# checked apart from editgan.formats: any "/...", "~/..." or drive path after a quote, space or "="
ABSOLUTE = re.compile(r"""(?:^|[\s"'=(])(?:/[A-Za-z0-9_.~-]+/|~/|[A-Za-z]:[\\/])""")


def shipped_files() -> list[Path]:
    files = [*(packaged_bundles_dir() / "toonfaces").rglob("*.json"), *(ROOT / "bench" / "results").glob("*.json")]
    assert len(files) > 20
    return files


def test_the_packaged_bundle_and_bench_results_hold_no_absolute_path():
    """After installing new bundle files or results, run `python tools/portable_paths.py
    src/editgan/assets/bundles/toonfaces bench/results --base <the folder the bundle was built in>`."""
    found = [f"{path.relative_to(ROOT)}: {m.group(0).strip()}..." for path in shipped_files()
             for m in ABSOLUTE.finditer(path.read_text())]
    for path in (packaged_bundles_dir() / "toonfaces").rglob("*.safetensors"):
        found += [f"{path.relative_to(ROOT)}: {v}" for v in read_tensor_metadata(path).values() if ABSOLUTE.search(v)]
    assert not found, "absolute paths (rewrite with tools/portable_paths.py):\n" + "\n".join(found)


def test_the_packaged_bundle_is_at_the_current_format_versions():
    folder = packaged_bundles_dir() / "toonfaces"
    for path in folder.rglob("*.json"):
        record = json.loads(path.read_text())
        assert record["version"] == CURRENT[record["format"]], f"{path}: rewrite with tools/portable_paths.py"
    metadata = read_tensor_metadata(folder / "annotations.wplus.safetensors")
    assert int(metadata["version"]) == CURRENT[metadata["format"]]


def test_tensor_files_list_their_metadata_in_order(tmp_path):
    """safetensors keeps metadata in a random order; save_tensors sorts it, so that a file with a
    format and a version (and more) is the same bytes in every process (batch records digest them)."""
    save_tensors(tmp_path / "t.safetensors", {"w": torch.ones(3)}, {"z": "1", "format": "f", "version": 2, "a": "é"})
    raw = (tmp_path / "t.safetensors").read_bytes()
    assert raw[8:].startswith('{"__metadata__":{"a":"é","format":"f","version":"2","z":"1"},'.encode())
    assert read_tensor_metadata(tmp_path / "t.safetensors")["version"] == "2"
    assert torch.equal(load_tensors(tmp_path / "t.safetensors")["w"], torch.ones(3))


def test_the_rewrite_tool_refuses_missing_paths_and_malformed_files_in_one_line(tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import portable_paths as tool

    with pytest.raises(SystemExit):
        tool.main([str(tmp_path / "absent")])
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{not json")
    assert tool.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("portable_paths: error:") and "not valid JSON" in err and err.count("\n") == 1
    assert (tmp_path / "bad.json").read_text() == "{not json"
