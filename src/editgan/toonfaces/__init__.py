"""Toonfaces: a procedural, part-labelled face domain with exact ground truth, as a plug-in of
the core (`plugin.register`; the core never imports this package).

`render(sample_params(seed))` gives an anti-aliased RGB image and its part-label map (labels in
TOONFACES_LABELS); `edit_params` changes expression or identity and `edit_target` builds the
label map a user would paint for that edit (`repaint_precision`: how much of it the renderer
changes). The measuring networks score images: expression attributes (`attribute_scores`,
`is_smiling`), identity (`identity_similarity`, `same_identity`) and set distances (`fd_toon`,
`kd_toon` on `toon_features`).
"""

from editgan.toonfaces.attributes import attribute_scores, is_smiling
from editgan.toonfaces.distances import fd_toon, kd_toon
from editgan.toonfaces.edits import PARAM_PARTS, changed_params, edit_target, edited_parts, repaint_precision
from editgan.toonfaces.params import (
    EXPRESSION_PARAMS,
    HAIR_STYLES,
    IDENTITY_PARAMS,
    PARAM_SPECS,
    SMILE_THRESHOLD,
    ToonParams,
    edit_params,
    sample_expression,
    sample_identity,
    sample_params,
)
from editgan.toonfaces.features import toon_features
from editgan.toonfaces.identity import identity_embedding, identity_similarity, same_identity
from editgan.toonfaces.render import render
from editgan.toonfaces.scheme import TOONFACES_LABELS

__all__ = [
    "EXPRESSION_PARAMS",
    "HAIR_STYLES",
    "IDENTITY_PARAMS",
    "PARAM_PARTS",
    "PARAM_SPECS",
    "SMILE_THRESHOLD",
    "TOONFACES_LABELS",
    "ToonParams",
    "attribute_scores",
    "changed_params",
    "edit_params",
    "edit_target",
    "edited_parts",
    "fd_toon",
    "identity_embedding",
    "identity_similarity",
    "is_smiling",
    "kd_toon",
    "render",
    "repaint_precision",
    "same_identity",
    "sample_expression",
    "sample_identity",
    "sample_params",
    "toon_features",
]
