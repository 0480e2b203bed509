"""The annotation API under /api/annotations (a FastAPI router; `create_app` includes it).

Label maps travel as in the editing API: base64 of H*W uint8 label indices, row-major, on the
label grid `label_size` (the generator's image size). Errors are one-line {"detail"}: 400 bad input,
404 unknown annotation or session, 409 no scheme / busy / a stale save or a second annotation of one
seed (with "id" and "version" of the current one), 413 too large, 422 schema violations.
Training and importing are jobs: follow them at /api/jobs/{id}/events like any other.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Body, File, UploadFile
from fastapi.responses import Response

from editgan.app.annotation_schemas import (CopyRequest, CreateAnnotationRequest, PredictRequest, RestoreRequest,
                                            SaveLabelsRequest, SuggestRequest, TrainRequest)
from editgan.app.annotation_service import AnnotationService


def annotation_router(annotations: AnnotationService) -> APIRouter:
    router = APIRouter(prefix="/api/annotations", tags=["annotations"])

    @router.get("", summary="The annotation set: metas, label grid, scheme, labels in use, segmenter")
    def overview():
        return annotations.overview()

    @router.post("", status_code=201, summary="Add an annotation: a sample (seed or session) and its painted map")
    def create(body: CreateAnnotationRequest):
        return annotations.create(body, body.labels, body.id)

    @router.get("/scheme", summary="The bundle's label scheme and the labels stored maps use")
    def get_scheme():
        return annotations.get_scheme()

    @router.put("/scheme", summary="Create or edit the label scheme: append, rename, recolour (labels in use "
                                   "cannot be removed or moved)")
    def put_scheme(body: dict = Body(..., examples=[{"name": "cars", "names": ["background", "wheel"],
                                                     "colors": [[0, 0, 0], [255, 0, 0]]}])):
        return annotations.put_scheme(body)

    @router.post("/predict", summary="Image and predicted label map of a sample, to start painting from")
    def predict(body: PredictRequest):
        return annotations.predict(body, body.annotation_id)

    @router.post("/suggest", status_code=202,
                 summary="Seeds to annotate next, as a job: most ensemble disagreement, or farthest in W without a "
                         "segmenter; the done event carries {rule, psi, suggestions: [{seed, score}]}")
    def suggest(body: SuggestRequest):
        return {"job_id": annotations.submit_suggest(body.count, body.candidates, body.start_seed, body.psi).id}

    @router.post("/train", status_code=202, summary="Train the segmenter on the annotations (a job): held-out "
                                                    "per-class IoU, then install it and reload the editor")
    def train(body: TrainRequest):
        return {"job_id": annotations.submit_train(body).id}

    @router.post("/import", status_code=202,
                 summary="Add the annotations of an exported zip: checked whole now (400 naming the bad file), "
                         "then rendered and added as a job (progress per annotation; all or nothing)")
    async def import_zip(file: UploadFile = File(...)):
        data = await file.read(annotations.service.max_upload_bytes + 1)
        job = await asyncio.to_thread(annotations.submit_import, data, file.filename or "upload.zip")
        return {"job_id": job.id, "count": job.total}

    @router.get("/{annotation_id}", summary="One annotation: meta, image (data URL), label map (base64)")
    def get(annotation_id: str):
        return annotations.get(annotation_id)

    @router.put("/{annotation_id}", summary="Autosave: replace the label map (the previous one is backed up); with "
                                            "the version it started from, 409 when another save came in between")
    def save(annotation_id: str, body: SaveLabelsRequest):
        return annotations.save(annotation_id, body.labels, body.version)

    @router.post("/{annotation_id}/copy", status_code=201,
                 summary="Save as a copy: a new annotation of the same sample with this label map")
    def copy(annotation_id: str, body: CopyRequest):
        return annotations.copy(annotation_id, body.labels)

    @router.get("/{annotation_id}/backups", summary="The earlier label maps kept of an annotation, newest first")
    def backups(annotation_id: str):
        return annotations.backups(annotation_id)

    @router.post("/{annotation_id}/backups/{name}/restore",
                 summary="Make a backup the current label map (the current one is backed up first)")
    def restore(annotation_id: str, name: str, body: RestoreRequest):
        return annotations.restore(annotation_id, name, body.version)

    @router.delete("/{annotation_id}", status_code=204, summary="Delete (moved to the annotation trash folder)")
    def delete(annotation_id: str):
        annotations.delete(annotation_id)
        return Response(status_code=204)

    @router.get("/{annotation_id}/labels.png", response_class=Response,
                responses={200: {"content": {"image/png": {}}}}, summary="The label map as a label-index PNG")
    def labels_png(annotation_id: str):
        return Response(annotations.labels_png(annotation_id), media_type="image/png")

    return router
