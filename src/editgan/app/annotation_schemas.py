"""JSON request bodies of the annotation API (`editgan.app.annotation_routes`)."""

from __future__ import annotations

from pydantic import Field

from editgan.annotate.suggest import MAX_CANDIDATES
from editgan.app.schemas import MAX_SEED, Strict


class SampleSource(Strict):
    """Which sample: a seed (with psi), or the image shown in an editing session (e.g. an upload)."""

    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="z seed of the GAN sample")
    psi: float = Field(1.0, ge=0.0, le=2.0, description="truncation psi (with seed)")
    session_id: str | None = Field(None, description="instead of seed: the session's current image (its w+)")


class CreateAnnotationRequest(SampleSource):
    labels: str = Field(..., description="base64 of H*W uint8 label indices, row-major (GET /api/annotations "
                                         "label_size)")
    id: str | None = Field(None, description="annotation id (1-64 of [A-Za-z0-9_-]); omitted: the next free a0001...")
    allow_duplicate: bool = Field(False, description="add it even when the seed (with that psi) is annotated "
                                                     "already; false: 409 naming that annotation")


class SaveLabelsRequest(Strict):
    labels: str = Field(..., description="the whole label map, as in CreateAnnotationRequest")
    version: int | None = Field(None, ge=1, description="the annotation's version this change started from (GET "
                                                        "gives it); another save since: 409, nothing written")


class CopyRequest(Strict):
    labels: str = Field(..., description="the label map of the copy, as in CreateAnnotationRequest")


class RestoreRequest(Strict):
    version: int | None = Field(None, ge=1, description="as in SaveLabelsRequest")


class PredictRequest(SampleSource):
    annotation_id: str | None = Field(None, description="instead of seed / session: a stored annotation's w+")


class SuggestRequest(Strict):
    count: int = Field(5, ge=1, le=100, description="how many suggestions")
    candidates: int = Field(50, ge=1, le=MAX_CANDIDATES, description="how many seeds to score")
    start_seed: int = Field(0, ge=0, le=MAX_SEED, description="candidates are start_seed, start_seed + 1, ... "
                                                              "(seeds already annotated are skipped)")
    psi: float = Field(1.0, ge=0.0, le=2.0)


class TrainRequest(Strict):
    holdout: float = Field(0.2, ge=0.0, lt=1.0, description="fraction held out for the IoU estimate (0: none)")
    members: int = Field(10, ge=1, le=32, description="ensemble size")
    max_steps: int = Field(4000, ge=1, le=200000, description="steps per phase at most (held-out estimate, then "
                                                               "final); about 0.1 s each for 10 members on one CPU "
                                                               "thread, and a phase stops early at a plateau")
    batch_pixels: int = Field(64, ge=1, le=65536, description="pixels per member per step")
    class_balance: float = Field(0.0, ge=0.0, le=1.0)
    lr: float = Field(1e-3, gt=0.0, le=1.0)
    seed: int = Field(0, ge=0, le=2**31 - 1, description="held-out split, initialisation and pixel draws")
