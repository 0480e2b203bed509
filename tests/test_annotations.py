"""Annotation sets: the store (round trip, train-segmenter layout, backups, trash, atomic writes,
a tuned upload's tuning kept, exported, checked on import and giving its G' features),
label-scheme edits, the held-out IoU (against plain numpy counts), training + installing (packaged
bundles: user folder), suggestions (against directly computed uncertainty / brute-force farthest
points), the CLI (export/import round trip and refusals, bundle create --generator)."""

import io
import json
import shutil
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from annotation_fixtures import annotate, new_domain, teacher_labels
from conftest import make_tiny_generator
from edit_fixtures import SCHEME, write_edit_bundle

import editgan.bundle as bundle_module
from editgan.annotate.scheme import check_scheme_change, parse_scheme, save_scheme
from editgan.annotate.store import AnnotationNotFound, AnnotationSet
from editgan.annotate.suggest import farthest_points, suggest_seeds
from editgan.annotate.training import holdout_split, new_segmenter, train_and_install, train_from_annotations
from editgan.bundle import open_bundle
from editgan.cli import main
from editgan.cli.train_segmenter import load_latents
from editgan.errors import InputError
from editgan.io.images import to_uint8
from editgan.io.masks import read_mask
from editgan.labels import LabelScheme
from editgan.nn.segmenter import render_and_segment
from editgan.train.segmenter_training import TrainSettings, extract_features, find_masks, train_segmenter

FAST = TrainSettings(max_steps=25, batch_pixels=256, window=5, seed=3)


# ---------------------------------------------------------------------- the store
def test_store_round_trip_is_the_train_segmenter_layout(tmp_path):
    editor, store = new_domain(tmp_path)
    metas = annotate(editor, store, [3, 5])
    assert [m["id"] for m in store.list()] == ["a0001", "a0002"] and metas[0]["source"] == "seed 3"
    got = store.get("a0002")
    w = editor.sample(5)
    torch.testing.assert_close(got.wplus, w, rtol=0, atol=0)
    np.testing.assert_array_equal(got.labels, teacher_labels(editor, w).numpy())
    assert got.meta["labels"] == sorted(np.unique(got.labels).tolist())
    # exactly what `editgan train segmenter --latents ... --masks ...` reads
    names, wplus = load_latents(store.root / "latents.safetensors", *store.latent_shape)
    assert names == ["a0001", "a0002"]
    for name, w_file, path in zip(names, wplus, find_masks(store.root / "masks", names)):
        np.testing.assert_array_equal(read_mask(path, SCHEME, store.label_size), store.get(name).labels)
        torch.testing.assert_close(w_file[None], store.get(name).wplus)
    with Image.open(store.image_path("a0001")) as im:
        np.testing.assert_array_equal(np.asarray(im), (editor.render(editor.sample(3))[0].permute(1, 2, 0)
                                                       .add(1).mul(127.5).round().clamp(0, 255).byte().numpy()))


def test_autosave_backs_up_and_delete_moves_to_trash(tmp_path):
    editor, store = new_domain(tmp_path)
    annotate(editor, store, [1])
    first = store.get("a0001").labels
    second = first.copy()
    second[:4, :4] = 2
    store.save_labels("a0001", second, SCHEME)
    store.save_labels("a0001", second, SCHEME)  # unchanged: no new backup
    (backup,) = store.backups("a0001")
    np.testing.assert_array_equal(np.asarray(Image.open(backup)), first)
    np.testing.assert_array_equal(store.get("a0001").labels, second)
    trash = store.delete("a0001")
    assert store.list() == [] and store.latents() == {}
    assert sorted(p.name for p in trash.iterdir()) == ["a0001.safetensors", "images-a0001.png", "masks-a0001.png",
                                                       "meta.json"]
    np.testing.assert_array_equal(np.asarray(Image.open(trash / "masks-a0001.png")), second)
    with pytest.raises(AnnotationNotFound, match="no annotation 'a0001'"):
        store.get("a0001")


def tuned_annotation(editor, store):
    """Annotation a0001 painted on a tuned upload's G'(w+) (the pivot of an image G cannot draw);
    returns its Tuning."""
    target = torch.linspace(-1, 1, 32)[None, None, :, None].expand(1, 3, 32, 32).contiguous()
    result = editor.embed(target, steps=2, tune=True, tune_steps=3)
    w, tuning = result.wplus, result.tunings[0]
    tuned = editor.tuned(tuning)
    store.create(w, to_uint8(tuned.render(w))[0], teacher_labels(editor, w), SCHEME, source="upload ramp.png",
                 tuning=tuning)
    return tuning


def test_a_tuned_annotation_keeps_its_tuning_and_trains_on_g_prime_features(tmp_path, capsys):
    editor, store = new_domain(tmp_path)
    tuning = tuned_annotation(editor, store)
    annotate(editor, store, [4])
    got = store.get("a0001")
    assert got.tuning.generator == tuning.generator and store.get("a0002").tuning is None
    assert all(torch.equal(got.tuning.factors[k][i], tuning.factors[k][i]) for k in tuning.factors for i in (0, 1))
    with Image.open(store.image_path("a0001")) as im:  # what was painted on: G'(w+)
        np.testing.assert_array_equal(np.asarray(im), to_uint8(editor.tuned(tuning).render(got.wplus))[0])
    ids, wplus, masks, tunings = store.training_data()
    assert ids == ["a0001", "a0002"] and tunings[1] is None
    config = new_segmenter(editor.generator, 3, 1, 0).config
    feats = extract_features(editor.generator, wplus, config, tunings=tunings)
    tuned_feats = extract_features(tuning.apply(editor.generator), wplus[:1], config)
    plain_feats = extract_features(editor.generator, wplus, config)
    for f, t, p in zip(feats, tuned_feats, plain_feats):
        torch.testing.assert_close(f[:1], t, rtol=0, atol=0)
        torch.testing.assert_close(f[1:], p[1:], rtol=0, atol=0)
    assert any(not torch.equal(f[:1], p[:1]) for f, p in zip(feats, plain_feats))

    # `train segmenter --latents` reads the set as it is, tunings included
    assert main(["train", "segmenter", "--bundle", str(tmp_path / "bundle"), "--latents",
                 str(store.root / "latents.safetensors"), "--masks", str(store.root / "masks"), "--members", "1",
                 "--max-steps", "2", "--out", str(tmp_path / "seg")]) == 0
    assert json.loads((tmp_path / "seg" / "segmenter.json").read_text())["provenance"]["tuned"] == ["a0001"]

    # an export carries it; an import checks it against this generator before adding anything
    assert main(["annotations", "export", "--bundle", str(tmp_path / "bundle"), "--out", str(tmp_path / "set")]) == 0
    assert (tmp_path / "set" / "tunings" / "a0001.safetensors").is_file()
    other, other_store = new_domain(tmp_path, "other")
    assert main(["annotations", "import", "--bundle", str(tmp_path / "other"), str(tmp_path / "set")]) == 0
    assert other_store.get("a0001").tuning.generator == tuning.generator
    assert other_store.image_path("a0001").read_bytes() == store.image_path("a0001").read_bytes()
    write_edit_bundle(tmp_path / "retrained", make_tiny_generator(seed=1))
    capsys.readouterr()
    assert main(["annotations", "import", "--bundle", str(tmp_path / "retrained"), str(tmp_path / "set")]) == 1
    assert "annotation 'a0001': this tuning belongs to generator" in capsys.readouterr().err
    assert AnnotationSet.of_bundle(open_bundle(tmp_path / "retrained"), editor.generator.config).list() == []
    trash = store.delete("a0001")
    assert (trash / "tunings-a0001.safetensors").is_file() and not store.tuning_path("a0001").exists()


def test_an_interrupted_save_leaves_the_old_map(tmp_path, monkeypatch):
    editor, store = new_domain(tmp_path)
    annotate(editor, store, [1])
    before = store.get("a0001").labels

    def broken_save(self, fp, *args, **kwargs):
        open(fp, "wb").write(b"half a png")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        store.save_labels("a0001", np.zeros_like(before), SCHEME)
    monkeypatch.undo()
    np.testing.assert_array_equal(store.get("a0001").labels, before)
    assert not [p for p in store.root.rglob("*") if p.name.endswith(".tmp")]


def test_store_refusals(tmp_path):
    editor, store = new_domain(tmp_path)
    w, image = editor.sample(0), np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(InputError, match=r"label map is \[16, 32\]; this bundle's label maps are \[32, 32\]"):
        store.create(w, image, np.zeros((16, 32), np.int64), SCHEME, source="x")
    with pytest.raises(InputError, match=r"labels \[3, 7\] outside scheme"):
        store.create(w, image, np.full((32, 32), 3) + np.eye(32, dtype=int) * 4, SCHEME, source="x")
    with pytest.raises(InputError, match="invalid annotation id"):
        store.create(w, image, np.zeros((32, 32), np.int64), SCHEME, source="x", annotation_id="../x")
    with pytest.raises(InputError, match=r"w\+ is \[1, 3, 16\]"):
        store.create(w[:, :3], image, np.zeros((32, 32), np.int64), SCHEME, source="x")
    store.create(w, image, np.zeros((32, 32), np.int64), SCHEME, source="x", annotation_id="mine")
    with pytest.raises(InputError, match="'mine' exists already"):
        store.create(w, image, np.zeros((32, 32), np.int64), SCHEME, source="x", annotation_id="mine")


# ---------------------------------------------------------------------- label schemes
def scheme_json(names, colors=None):
    return {"name": "s", "names": list(names), "colors": colors or [[i, 2 * i, 3 * i] for i in range(len(names))]}


def test_parse_scheme_refusals():
    assert parse_scheme(scheme_json(["bg", "car"])).names == ("bg", "car")
    for data, message in [(scheme_json(["bg"]), "2..256 labels, got 1"),
                          (scheme_json([f"l{i}" for i in range(257)], [[0, 0, 0]] * 257), "2..256 labels, got 257"),
                          (scheme_json(["bg", "bg"]), "names must be distinct; repeated: bg"),
                          (scheme_json(["bg", "car"], [[1, 1, 1], [1, 1, 1]]), "colours must be distinct"),
                          (scheme_json(["bg", "car"], [[0, 0, 0], [0, 256, 0]]), r"label\(s\) \[1\] are not"),
                          (scheme_json(["bg", "car"], [[0, 0, 0], [0, 0]]), r"label\(s\) \[1\] are not"),
                          (scheme_json(["bg", ""]), "non-empty string"),
                          ({"names": ["a", "b"], "colors": [[0, 0, 0], [1, 1, 1]]}, "non-empty 'name'")]:
        with pytest.raises(InputError, match=message):
            parse_scheme(data)


def test_scheme_changes_keep_every_label_in_use():
    old = parse_scheme(scheme_json(["bg", "skin", "mouth", "spare"]))
    in_use = {0, 1, 2}
    check_scheme_change(old, parse_scheme(scheme_json(["bg", "skin", "mouth", "spare", "eye"])), in_use)  # append
    check_scheme_change(old, parse_scheme(scheme_json(["bg", "face", "lips"], [[9, 9, 9], [1, 2, 3], [4, 4, 4]])),
                        in_use)  # rename, recolour, drop the unused last label
    with pytest.raises(InputError, match=r"cannot remove labels used in annotations: 'mouth' \(2\)"):
        check_scheme_change(old, parse_scheme(scheme_json(["bg", "skin"])), in_use)
    with pytest.raises(InputError, match=r"cannot remove or reorder labels used in annotations: 'skin' \(index 1\), "
                                         r"'mouth' \(index 2\)"):
        check_scheme_change(old, parse_scheme(scheme_json(["bg", "mouth", "skin"])), in_use)
    # removing 'mouth' (in use) shifts the unused 'spare' into its index: not a rename
    with pytest.raises(InputError, match=r"'mouth' \(index 2\) would change meaning"):
        check_scheme_change(old, parse_scheme(scheme_json(["bg", "skin", "spare"])), in_use)
    check_scheme_change(None, parse_scheme(scheme_json(["bg", "a", "b"])), in_use)
    with pytest.raises(InputError, match="at least 3 labels"):
        check_scheme_change(None, parse_scheme(scheme_json(["bg", "a"])), in_use)


def packaged(tmp_path, monkeypatch, name="pkgbundle"):
    """Make tmp_path/pkg the packaged bundles folder and tmp_path/home the user data folder."""
    monkeypatch.setattr(bundle_module, "packaged_bundles_dir", lambda: tmp_path / "pkg")
    monkeypatch.setenv("EDITGAN_HOME", str(tmp_path / "home"))
    return new_domain(tmp_path / "pkg", name)


def test_save_scheme_writes_manifest_or_packaged_user_folder(tmp_path, monkeypatch):
    editor, _ = new_domain(tmp_path)
    new = parse_scheme(scheme_json(["background", "skin", "mouth", "eye"]))
    assert save_scheme(editor.bundle, new).labels == new and open_bundle(tmp_path / "bundle").labels == new
    (backup,) = (tmp_path / "bundle" / "backup").glob("label_scheme-*.json")
    assert LabelScheme.from_json(json.loads(backup.read_text())) == SCHEME

    editor, _ = packaged(tmp_path, monkeypatch)
    manifest = (tmp_path / "pkg" / "pkgbundle" / "manifest.json").read_bytes()
    assert editor.bundle.packaged and save_scheme(editor.bundle, new).labels == new
    assert (tmp_path / "home" / "bundles" / "pkgbundle" / "label_scheme.json").is_file()
    assert (tmp_path / "pkg" / "pkgbundle" / "manifest.json").read_bytes() == manifest


# ---------------------------------------------------------------------- training
def test_holdout_split_rule():
    ids = [f"a{i}" for i in range(10)]
    train, held = holdout_split(ids, 0.2, seed=4)
    assert len(held) == 2 and sorted(train + held) == ids and holdout_split(ids, 0.2, seed=4) == (train, held)
    assert holdout_split(ids[:2], 0.2, 0)[1] and len(holdout_split(ids[:2], 0.9, 0)[0]) == 1
    assert holdout_split(ids[:1], 0.2, 0) == (ids[:1], []) and holdout_split(ids, 0.0, 0) == (ids, [])


def numpy_iou(pred: np.ndarray, truth: np.ndarray, k: int) -> list:
    out = []
    for c in range(k):
        inter = int(np.sum((pred == c) & (truth == c)))
        union = int(np.sum((pred == c) | (truth == c)))
        out.append(None if union == 0 else round(inter / union, 6))
    return out


def test_held_out_iou_matches_a_plain_count(tmp_path):
    editor, store = new_domain(tmp_path)
    annotate(editor, store, range(5))
    ids, wplus, masks, tunings = store.training_data()
    assert tunings == [None] * 5  # samples: drawn by G
    seg, report = train_from_annotations(editor.generator, ids, wplus, masks, SCHEME, FAST, members=2, holdout=0.4)
    train, held = holdout_split(ids, 0.4, FAST.seed)
    assert report["held_out"] == held and len(held) == 2 and report["training"]["steps"] == FAST.max_steps
    # referee: the same probe trained by hand, its predictions counted pixel by pixel
    probe = new_segmenter(editor.generator, 3, 2, FAST.seed)
    feats = extract_features(editor.generator, wplus, probe.config)
    tr, te = [ids.index(i) for i in train], [ids.index(i) for i in held]
    train_segmenter(probe, [f[tr] for f in feats], masks[tr], FAST)
    pred = np.stack([render_and_segment(editor.generator, probe, wplus[i:i + 1])[1].labels[0].numpy() for i in te])
    expected = numpy_iou(pred, masks[te].numpy(), 3)
    assert [report["iou"][n] for n in SCHEME.names] == pytest.approx(expected)
    defined = [v for v in expected if v is not None]
    assert report["mean_iou"] == pytest.approx(sum(defined) / len(defined), abs=1e-6)


def test_install_for_a_packaged_bundle_goes_to_the_user_folder(tmp_path, monkeypatch):
    editor, store = packaged(tmp_path, monkeypatch)
    annotate(editor, store, [0, 1, 2])
    assert store.root == tmp_path / "home" / "bundles" / "pkgbundle" / "annotations"
    first = train_and_install(editor.bundle, editor.generator, store, SCHEME, FAST, members=2, holdout=0)
    assert first["backup"] is None and first["mean_iou"] is None
    assert not (tmp_path / "pkg" / "pkgbundle" / "segmenter.json").exists()
    assert editor.bundle.segmenter_dir == tmp_path / "home" / "bundles" / "pkgbundle"
    second = train_and_install(editor.bundle, editor.generator, store, SCHEME,
                               TrainSettings(max_steps=5, batch_pixels=64, seed=9), members=2, holdout=0)
    (backup,) = (tmp_path / "home" / "bundles" / "pkgbundle" / "backup").glob("segmenter-*")
    assert str(backup) == second["backup"] and sorted(p.name for p in backup.iterdir()) == [
        "segmenter.json", "segmenter.safetensors"]
    editor.reload()
    seg, scheme = editor.bundle.segmenter()
    assert scheme == SCHEME and json.loads((store.root.parent / "segmenter.json").read_text())[
        "provenance"]["settings"]["seed"] == 9
    torch.testing.assert_close(editor.segmenter.w1, seg.w1)


# ---------------------------------------------------------------------- suggestions
def test_suggestions_rank_by_directly_computed_uncertainty(tmp_path):
    editor, store = new_domain(tmp_path)
    annotate(editor, store, [2])
    train_and_install(editor.bundle, editor.generator, store, SCHEME, FAST, members=3, holdout=0)
    editor.reload()
    found = suggest_seeds(editor.generator, editor.segmenter, store, count=3, candidates=6, start_seed=0)
    direct = {s: float(editor.segment(editor.sample(s), uncertainty=True)[1].mean()) for s in (0, 1, 3, 4, 5, 6)}
    best = sorted(direct, key=lambda s: -direct[s])[:3]
    assert found["rule"] == "uncertainty" and [x["seed"] for x in found["suggestions"]] == best
    assert [x["score"] for x in found["suggestions"]] == pytest.approx([direct[s] for s in best], abs=1e-6)


def test_farthest_point_rule_against_brute_force():
    gen = torch.Generator().manual_seed(0)
    cand, annotated, w_avg = torch.randn(12, 4, generator=gen), torch.randn(2, 4, generator=gen), torch.zeros(4)
    picks = farthest_points(cand, annotated, 4, w_avg)
    chosen, expected = [a.numpy() for a in annotated], []
    for _ in range(4):
        dist = [min(np.linalg.norm(c.numpy() - x) for x in chosen) if i not in expected else -1
                for i, c in enumerate(cand)]
        expected.append(int(np.argmax(dist)))
        chosen.append(cand[expected[-1]].numpy())
    assert [i for i, _ in picks] == expected
    first = farthest_points(cand, torch.zeros(0, 4), 1, w_avg)
    assert first[0][0] == int(np.argmin(np.linalg.norm(cand.numpy(), axis=1)))


# ---------------------------------------------------------------------- CLI
def test_cli_export_import_round_trip_and_refusals(tmp_path, capsys):
    editor, store = new_domain(tmp_path)
    annotate(editor, store, [4, 7])
    zip_path = tmp_path / "set.zip"
    assert main(["annotations", "export", "--bundle", str(tmp_path / "bundle"), "--out", str(zip_path)]) == 0
    assert main(["annotations", "export", "--bundle", str(tmp_path / "bundle"), "--out", str(tmp_path / "dir")]) == 0
    other, other_store = new_domain(tmp_path, "other")
    assert main(["annotations", "import", "--bundle", str(tmp_path / "other"), str(zip_path)]) == 0
    for m in store.list():
        a, b = store.get(m["id"]), other_store.get(m["id"])
        np.testing.assert_array_equal(a.labels, b.labels)
        torch.testing.assert_close(a.wplus, b.wplus)
        assert b.meta["source"] == a.meta["source"] and b.meta["created"] == a.meta["created"]
        assert store.image_path(m["id"]).read_bytes() == other_store.image_path(m["id"]).read_bytes()
    capsys.readouterr()
    assert main(["annotations", "import", "--bundle", str(tmp_path / "other"), str(tmp_path / "dir")]) == 1
    assert "annotation ids already in this bundle: a0001, a0002" in capsys.readouterr().err
    assert main(["annotations", "list", "--bundle", str(tmp_path / "other")]) == 0
    assert "2 annotations" in capsys.readouterr().out
    assert main(["annotations", "train", "--bundle", str(tmp_path / "other"), "--max-steps", "3", "--members", "2",
                 "--holdout", "0.5"]) == 0
    assert "held-out mean IoU" in capsys.readouterr().out and open_bundle(tmp_path / "other").segmenter_dir

    fresh, _ = new_domain(tmp_path, "fresh")

    def refused(edit, message):
        with zipfile.ZipFile(zip_path) as z:
            files = {n: z.read(n) for n in z.namelist()}
        edit(files)
        with zipfile.ZipFile(tmp_path / "broken.zip", "w") as z:
            for n, data in files.items():
                z.writestr(n, data)
        capsys.readouterr()
        assert main(["annotations", "import", "--bundle", str(tmp_path / "fresh"), str(tmp_path / "broken.zip")]) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
        assert AnnotationSet.of_bundle(fresh.bundle, fresh.generator.config).list() == []  # nothing was added

    def png(array):
        buf = io.BytesIO()
        Image.fromarray(array.astype(np.uint8)).save(buf, format="PNG")
        return buf.getvalue()

    refused(lambda f: f.update({"masks/a0001.png": png(np.zeros((16, 16)))}),
            "broken.zip/masks/a0001.png is 16x16 (HxW), the segmenter labels 32x32 pixels")
    refused(lambda f: f.update({"masks/a0002.png": png(np.full((32, 32), 9))}), "has labels [9] outside scheme")
    refused(lambda f: f.pop("masks/a0001.png"), "missing or ambiguous: ['a0001']")
    refused(lambda f: f.update({"annotations.json": f["annotations.json"].replace(b'"skin"', b'"hair"')}),
            "uses labels that mean other parts in this bundle: 1 is 'hair' there but 'skin' here")
    plain = tmp_path / "plain"  # a `train segmenter --latents --masks` folder: ids from the latents
    shutil.copytree(tmp_path / "dir", plain)
    (plain / "annotations.json").unlink()
    shutil.rmtree(plain / "images")
    assert main(["annotations", "import", "--bundle", str(tmp_path / "fresh"), str(plain)]) == 0
    imported = AnnotationSet.of_bundle(fresh.bundle, fresh.generator.config).list()
    assert [(m["id"], m["source"]) for m in imported] == [("a0001", "import plain"), ("a0002", "import plain")]
    capsys.readouterr()
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    assert main(["annotations", "import", "--bundle", str(tmp_path / "other"), str(tmp_path / "junk.zip")]) == 1
    assert "is not a readable zip" in capsys.readouterr().err


def test_cli_bundle_from_a_converted_generator_then_scheme_delete_suggest(tmp_path, capsys):
    editor, _ = new_domain(tmp_path)
    editor.generator.save_pretrained(tmp_path / "converted")
    (tmp_path / "scheme.json").write_text(json.dumps(scheme_json(["background", "wheel"])))
    out = tmp_path / "cars"
    assert main(["bundle", "create", "--generator", str(tmp_path / "converted"), "--domain", "cars",
                 "--scheme", str(tmp_path / "scheme.json"), "--out", str(out)]) == 0
    bundle = open_bundle(out)
    assert bundle.labels.names == ("background", "wheel") and bundle.segmenter_dir is None
    assert "segmenter: none yet" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text(json.dumps(scheme_json(["background"])))
    assert main(["bundle", "create", "--generator", str(tmp_path / "converted"), "--domain", "cars",
                 "--scheme", str(tmp_path / "bad.json"), "--out", str(tmp_path / "x")]) == 1
    assert "2..256 labels, got 1" in capsys.readouterr().err
    assert main(["bundle", "create", "--domain", "cars", "--out", str(tmp_path / "x")]) == 1
    assert "either --run" in capsys.readouterr().err

    assert main(["annotations", "suggest", "--bundle", str(out), "--count", "2", "--candidates", "5"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["rule"] == "farthest_w" and len(found["suggestions"]) == 2
    (tmp_path / "more.json").write_text(json.dumps(scheme_json(["background", "wheel", "window"])))
    assert main(["annotations", "scheme", "--bundle", str(out), "--set", str(tmp_path / "more.json")]) == 0
    assert open_bundle(out).labels.names == ("background", "wheel", "window")
    assert main(["annotations", "delete", "--bundle", str(out), "nope"]) == 1
    assert "no annotation 'nope'" in capsys.readouterr().err
    assert main(["annotations", "train", "--bundle", str(out)]) == 1
    assert "no annotations in" in capsys.readouterr().err
