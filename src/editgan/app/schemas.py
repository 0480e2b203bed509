"""JSON request bodies of the web API (validated by pydantic; violations answer 422 with a message).
Types are strict: a boolean or a numeric string is not a number (an integer is accepted as a float)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from editgan.edit.settings import PAPER, PRESETS

MAX_SEED = 2**53 - 1  # Number.MAX_SAFE_INTEGER: every seed the API takes or returns is exact in JavaScript
MAX_EDIT_STEPS = 1000
MAX_REFINE_STEPS = 500
MAX_SCALE = 10.0  # |scale| of one vector; the shipped vectors are learned for about 1

Scale = Annotated[float, Field(ge=-MAX_SCALE, le=MAX_SCALE)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class SampleRequest(Strict):
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="z seed; omitted or null: a random seed")
    psi: float = Field(1.0, ge=0.0, le=2.0, description="truncation psi")


class RestoreRequest(Strict):
    source: str = Field("", max_length=300, description="what the image was (shown on the page)")
    wplus: str = Field(..., max_length=1 << 20, description="base64 of the image's w+, float32 little-endian "
                                                            "[1, num_ws, w_dim] (GET .../state gives it)")


class EditRequest(Strict):
    labels: str = Field(..., description="the painted label map: base64 of H*W uint8 label indices, row-major, "
                                         "on the segmenter's grid (see /api/info label_size)")
    parts: list[str] | None = Field(None, description="label names to edit (Q_edit); omitted or empty: inferred "
                                                      "from the repainted pixels")
    steps: int | None = Field(None, ge=1, le=MAX_EDIT_STEPS,
                              description=f"optimisation steps (default: the bundle's settings; paper {PAPER.steps})")
    lr: float | None = Field(None, gt=0.0, le=1.0, description=f"Adam learning rate (paper {PAPER.lr})")
    buffer: int | None = Field(None, ge=0, le=64,
                               description=f"edit region buffer in label pixels (paper {PAPER.buffer})")
    preset: Literal[tuple(sorted(PRESETS))] | None = Field(None,
                                                          description="edit settings preset (default: the bundle's)")


class TuningRequest(Strict):
    use: bool = Field(..., description="true: the tuned generator G' draws the upload; false: the bundle's G "
                                       "draws its W+ pivot")


class ApplyRequest(Strict):
    scales: dict[str, Scale] = Field(default_factory=dict,
                                     description=f"{{vector name: scale}}, |scale| <= {MAX_SCALE:g}; scales are summed "
                                                 "(composition); an empty map shows the original")


class RefineRequest(ApplyRequest):
    steps: int | None = Field(None, ge=1, le=MAX_REFINE_STEPS,
                              description=f"self-supervised refinement steps (default: the bundle's; paper "
                                          f"{PAPER.refine_steps})")
    preset: Literal[tuple(sorted(PRESETS))] | None = Field(None, description="refinement settings preset")


class SaveVectorRequest(Strict):
    name: str = Field(..., description="1-64 of [A-Za-z0-9_.-], starting with a letter or digit")
    overwrite: bool = False


class RenameVectorRequest(Strict):
    new_name: str
    overwrite: bool = False
