"""Editing with EditGAN: the region (Eq. 1), the objective (Eq. 2-5), the optimiser, editing vectors and their library."""

from editgan.edit.apply import apply_vectors
from editgan.edit.losses import (LEARNING_WEIGHTS, REFINEMENT_WEIGHTS, EditingLoss, LossWeights, consistency_loss,
                                 editing_objective, ensemble_logits, identity_loss, outside_l2, outside_perceptual,
                                 region_cross_entropy)
from editgan.edit.optimize import EditResult, learn_edit, refine
from editgan.edit.region import DEFAULT_BUFFER, dilate, edit_region
from editgan.edit.settings import PAPER, PRESETS, RELEASE, EditSettings, edit_settings
from editgan.edit.vectors import EditingVector, VectorLibrary, validate_name
