"""A tiny bundle without a segmenter (scheme background/skin/mouth) and annotations whose label maps
are the tiny random segmenter's predictions (so a trained segmenter can learn them)."""

import editgan
from conftest import make_tiny_generator
from edit_fixtures import SCHEME, make_tiny_segmenter, write_edit_bundle

from editgan.annotate.store import AnnotationSet
from editgan.io.images import to_uint8
from editgan.nn.segmenter import render_and_segment


def new_domain(tmp_path, name="bundle"):
    """(Editor, its AnnotationSet) of a fresh tiny bundle with SCHEME and no segmenter."""
    write_edit_bundle(tmp_path / name, make_tiny_generator())
    editor = editgan.load(tmp_path / name, vectors=tmp_path / "vectors")
    return editor, AnnotationSet.of_bundle(editor.bundle, editor.generator.config)


def teacher_labels(editor, wplus):
    """int64 [H, W]: what the tiny random segmenter predicts for w+ [1, num_ws, w_dim]."""
    return render_and_segment(editor.generator, make_tiny_segmenter(editor.generator), wplus)[1].labels[0]


def annotate(editor, store, seeds):
    """Store one annotation per seed (label map: teacher_labels); returns their metas."""
    out = []
    for seed in seeds:
        w = editor.sample(seed)
        out.append(store.create(w, to_uint8(editor.render(w))[0], teacher_labels(editor, w), SCHEME,
                                source=f"seed {seed}", seed=seed, psi=1.0))
    return out
