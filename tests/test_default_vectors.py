"""`editgan bundle learn-vectors` on a tiny toonfaces-labelled bundle: which face, which parts, what is recorded."""

import numpy as np
import pytest
import torch

from conftest import make_tiny_generator
from editgan import load
from editgan.bundle import open_bundle, write_bundle
from editgan.cli import main
from editgan.edit.vectors import VectorLibrary
from editgan.errors import InputError
from editgan.io.segmenter_files import save_segmenter
from editgan.nn.segmenter import Segmenter
from editgan.nn.segmenter_config import SegmenterConfig
from editgan.toonfaces import TOONFACES_LABELS, edit_params, render
from editgan.toonfaces.dataset import split_seed
from editgan.toonfaces.params import sample_params
from editgan.toonfaces.vectors import DEFAULT_EDITS, DefaultEdit, default_edit, learn_default_vector, learning_faces


def test_learning_faces_have_room_for_the_edit():
    for edit, low, high in ((default_edit("smile"), -1, 1), (default_edit("close_eyes"), 0, 1),
                            (default_edit("gaze_left"), -1, 1)):
        values = [getattr(sample_params(split_seed("test", i)), edit.param) for i in range(100)]
        room = [i for i, v in enumerate(values) if edit.sign * (edit.value - v) >= (high - low) / 2]
        assert learning_faces(edit) == room[:1] and learning_faces(edit, 4) == room[:4]
    assert [e.name for e in DEFAULT_EDITS] == ["smile", "close_eyes", "raise_eyebrows", "enlarge_pupils",
                                               "open_mouth", "gaze_left"]
    with pytest.raises(InputError, match="unknown default edit"):
        default_edit("frown")
    with pytest.raises(InputError, match="asked for 100"):
        learning_faces(default_edit("smile"), 100)
    with pytest.raises(InputError, match="positive integer"):
        learning_faces(default_edit("smile"), 0)


@pytest.fixture
def toon_bundle(tmp_path):
    G = make_tiny_generator(resolution=64, channels={4: 16, 8: 16, 16: 8, 32: 8, 64: 8})
    write_bundle(tmp_path / "b", "toonfaces", G, labels=TOONFACES_LABELS, extra={"embedding": {"lr": 0.05}})
    seg = Segmenter(SegmenterConfig.for_generator(G.config, num_classes=15, num_members=2), seeds=[0, 1])
    with torch.no_grad():
        for w in (seg.w1, seg.w2, seg.w3):
            w.mul_(15)
    save_segmenter(seg.eval(), tmp_path / "b", TOONFACES_LABELS)
    return tmp_path / "b"


def test_learn_vectors_saves_them_with_their_provenance(toon_bundle, capsys):
    assert main(["bundle", "learn-vectors", "--bundle", str(toon_bundle), "--only", "open_mouth,gaze_left",
                 "--embed-steps", "2", "--edit-steps", "2"]) == 0
    lib = VectorLibrary(toon_bundle / "vectors")
    assert lib.list() == ["gaze_left", "open_mouth"]
    v = lib.get("open_mouth")
    assert v.parts == ("upper_lip", "lower_lip", "mouth_interior", "teeth") and v.default_scale == 1.0
    c = v.created
    assert [c["test_index"]] == c["test_indices"] == learning_faces(default_edit("open_mouth"))
    assert c["attribute"] == "mouth_open" and c["images"] == 1
    assert c["attribute_change"] == pytest.approx(c["attribute_after"] - c["attribute_before"])
    assert c["bundle"] == "b" and c["embed_steps"] == 2 and len(v.losses) == 3
    assert c["settings"]["region"] == "painted" and c["repaint_precision"] == [1.0] and c["repainted_pixels"][0] > 0
    assert lib.get("gaze_left").parts == ("sclera", "iris", "pupil")
    assert "gaze_x" in capsys.readouterr().out


def test_a_whole_face_edit_learns_inside_the_repainted_pixels_grown_by_the_buffer(toon_bundle, monkeypatch):
    editor = load(toon_bundle)
    seen, edit = {}, editor.edit

    def spy(*args, **kwargs):
        seen["result"], vector = edit(*args, **kwargs)
        return seen["result"], vector

    monkeypatch.setattr(editor, "edit", spy)
    widen = DefaultEdit("widen", "face_width", 1.0, "smile", +1)  # Q_edit: every part, Eq. 1's r: every pixel
    vector = learn_default_vector(editor, widen, embed_steps=1, edit_steps=1)
    result = seen["result"]
    before = sample_params(split_seed("test", vector.created["test_index"]))
    size = result.labels_before.shape[-1]
    labels_before, labels_after = render(before, size)[1], render(edit_params(before, face_width=1.0), size)[1]
    painted = (labels_before != labels_after) & (labels_after != result.labels_before[0].numpy())
    padded, grown = np.pad(painted, 5), np.zeros_like(painted)
    for dy in range(11):
        for dx in range(11):
            grown |= padded[dy:dy + size, dx:dx + size]
    assert np.array_equal(result.region[0, 0].numpy() > 0, grown) and 0 < grown.mean() < 1
    assert vector.parts == TOONFACES_LABELS.names and vector.created["repaint_precision"] == [1.0]


def test_one_vector_from_several_faces(toon_bundle, tmp_path, capsys):
    assert main(["bundle", "learn-vectors", "--bundle", str(toon_bundle), "--only", "smile", "--faces", "3",
                 "--vectors", str(tmp_path / "k3"), "--embed-steps", "2", "--edit-steps", "2"]) == 0
    v = VectorLibrary(tmp_path / "k3").get("smile")
    c = v.created
    assert c["test_indices"] == learning_faces(default_edit("smile"), 3) and c["images"] == 3
    G = open_bundle(toon_bundle).generator()
    assert "3 held-out toonfaces renders" in c["method"] and v.delta.shape == (G.num_ws, G.config.w_dim)
    assert "test faces " + ", ".join(map(str, c["test_indices"])) in capsys.readouterr().out
    assert not (toon_bundle / "vectors").exists()  # the bundle's own library is left alone


def test_learn_vectors_refuses_a_bad_number_of_faces(toon_bundle, capsys):
    assert main(["bundle", "learn-vectors", "--bundle", str(toon_bundle), "--faces", "0"]) == 1
    err = capsys.readouterr().err
    assert "--faces must be at least 1, got 0" in err and err.count("\n") == 1
    assert main(["bundle", "learn-vectors", "--bundle", str(toon_bundle), "--only", "smile", "--faces", "99"]) == 1
    last = capsys.readouterr().err.splitlines()[-1]  # after the progress bar, one line
    assert last.startswith("editgan bundle: error: only ") and last.endswith("leave room for smile; asked for 99")
    assert not (toon_bundle / "vectors").exists()


def test_learn_vectors_refuses_other_domains(tmp_path, capsys):
    write_bundle(tmp_path / "b", "cars", make_tiny_generator())
    assert main(["bundle", "learn-vectors", "--bundle", str(tmp_path / "b")]) == 1
    assert "no default vectors are defined for 'cars' bundles" in capsys.readouterr().err


def test_a_tuned_learning_face_is_refused_for_several_faces(tmp_path, capsys):
    from editgan.cli import main
    assert main(["bundle", "learn-vectors", "--bundle", "toonfaces", "--vectors", str(tmp_path / "v"), "--only",
                 "smile", "--faces", "2", "--tune-steps", "3"]) == 1
    err = capsys.readouterr().err
    assert "learn from one face when tuning" in err and len(err.strip().splitlines()) == 1
