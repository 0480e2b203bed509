"""Editor: sampling, segmenting, learning an edit by part name, applying (inverse, composition,
refinement), the library, and clear errors."""

import pytest
import torch

import editgan
from edit_fixtures import MOUTH, make_tiny_segmenter, painted_target, write_edit_bundle
from editgan.errors import InputError, MissingWeightsError


@pytest.fixture
def editor(tmp_path, tiny_generator):
    write_edit_bundle(tmp_path / "b", tiny_generator, make_tiny_segmenter(tiny_generator))
    return editgan.load(tmp_path / "b")


def test_sample_render_segment(editor):
    w = editor.sample(1)
    assert w.shape == (1, editor.generator.num_ws, 16) and torch.equal(w, editor.sample(1))
    assert editor.render(w).shape == (1, 3, 32, 32) and editor.render(w[0]).shape == (1, 3, 32, 32)
    labels, unc = editor.segment(w, uncertainty=True)
    assert labels.shape == unc.shape == (1, 32, 32) and labels.dtype == torch.int64
    with pytest.raises(InputError, match="w\\+ must be"):
        editor.render(torch.zeros(1, 3, 16))


def test_edit_apply_inverse_composition_refine(editor):
    w = editor.sample(1)
    target = painted_target(editor.generator, editor.segmenter, w)
    result, vector = editor.edit(w, target[0], ["mouth"], name="mouth_up", steps=15, lr=0.05, buffer=1)
    assert vector.parts == ("mouth",) and set(vector.thumbnails) == {"before", "after"}
    assert torch.equal(vector.delta, result.delta[0]) and vector.created["best_step"] == result.best_step
    editor.library.add(vector)
    assert editor.library.list() == ["mouth_up"]
    other = editor.sample(4)
    there, image = editor.apply(other, {"mouth_up": 1.0})
    assert torch.allclose(there, other + vector.delta) and torch.equal(image, editor.render(there))
    back, _ = editor.apply(there, {vector: -1.0})
    assert torch.allclose(back, other, atol=1e-6)
    second = editor.edit(w, target, [MOUTH], name="second", steps=3, buffer=1)[1]
    both, _ = editor.apply(other, {vector: 0.5, second: 2.0})
    assert torch.allclose(both, other + 0.5 * vector.delta + 2.0 * second.delta, atol=1e-6)
    refined, _ = editor.apply(other, {"mouth_up": 1.0}, refine_steps=3, buffer=1)
    assert refined.shape == other.shape and not torch.equal(refined, there)


def test_errors(editor, tmp_path, tiny_generator):
    w = editor.sample(1)
    target = painted_target(editor.generator, editor.segmenter, w)
    with pytest.raises(InputError, match="unknown label 'nose'"):
        editor.edit(w, target, ["nose"])
    with pytest.raises(InputError, match=r"target labels must be an integer tensor \[2, "):
        editor.edit(torch.cat([w, w]), target, ["mouth"])  # two images need two targets
    with pytest.raises(InputError, match="no editing vector named 'nope'"):
        editor.apply(w, {"nope": 1.0})
    write_edit_bundle(tmp_path / "bare", tiny_generator)
    bare = editgan.load(tmp_path / "bare", vectors=tmp_path / "lib")
    assert bare.render(bare.sample(0)).shape == (1, 3, 32, 32) and bare.library.directory == tmp_path / "lib"
    with pytest.raises(MissingWeightsError, match="no segmenter"):
        bare.segment(bare.sample(0))


def test_unknown_embedding_preset_is_refused(tmp_path, tiny_generator):
    from edit_fixtures import write_edit_bundle
    from editgan.bundle import open_bundle
    from editgan.editor import Editor
    from editgan.errors import InputError
    write_edit_bundle(tmp_path / "b", tiny_generator)
    editor = Editor(open_bundle(tmp_path / "b"))
    with pytest.raises(InputError, match="unknown embedding preset 'fast'"):
        editor.embed_settings("fast")
    assert editor.embed_settings("release").schedule == "rampdown"
