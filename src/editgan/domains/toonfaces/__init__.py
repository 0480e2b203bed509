"""Toonfaces: a procedural, part-labelled face domain with exact ground truth.

`render(sample_params(seed))` gives an anti-aliased RGB image and its part-label map (labels in
TOONFACES_LABELS); `edit_params` changes expression or identity and `edit_target` builds the
label map a user would paint for that edit.
"""

from editgan.domains.toonfaces.edits import PARAM_PARTS, changed_params, edit_target, edited_parts
from editgan.domains.toonfaces.params import (
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
from editgan.domains.toonfaces.render import render
from editgan.domains.toonfaces.scheme import TOONFACES_LABELS

__all__ = [
    "EXPRESSION_PARAMS",
    "HAIR_STYLES",
    "IDENTITY_PARAMS",
    "PARAM_PARTS",
    "PARAM_SPECS",
    "SMILE_THRESHOLD",
    "TOONFACES_LABELS",
    "ToonParams",
    "changed_params",
    "edit_params",
    "edit_target",
    "edited_parts",
    "render",
    "sample_expression",
    "sample_identity",
    "sample_params",
]
