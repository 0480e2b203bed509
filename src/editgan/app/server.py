"""The FastAPI application: JSON API under /api, the page at /, static files, and the OpenAPI docs
at /docs (Swagger UI) and /redoc, served from fastapi-offline's bundled files (no CDN).

Errors: every EditGANError becomes a 4xx with {"detail": message} (server paths shown relative to the
bundle or library): 400 bad input, 403 a shipped (read-only) vector renamed or deleted, 404 unknown
session / job / vector, 409 busy or not ready, 413 body or upload too large (also while a chunked
body streams in), 503 every session slot busy; a body that is not JSON gets 400 and one that breaks
the schema 422, both with a readable "detail".
"""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from editgan.annotate.store import AnnotationConflict, AnnotationNotFound
from editgan.app.annotation_routes import annotation_router
from editgan.app.annotation_service import AnnotationService
from editgan.app.jobs import Job
from editgan.app.limits import BodyLimit
from editgan.app.schemas import (ApplyRequest, EditRequest, RefineRequest, RenameVectorRequest, RestoreRequest,
                                 SampleRequest, SaveVectorRequest, TuningRequest)
from editgan.app.service import (MAX_EMBED_STEPS, MAX_TUNE_STEPS, Busy, EditService, LibraryNotWritable, NotReady,
                                 UploadTooLarge, VectorNotFound)
from editgan.app.sessions import SessionNotFound, TooManySessions
from editgan.edit.vectors import ReadOnlyVector
from editgan.editor import Editor
from editgan.errors import CheckpointError, EditGANError, MissingWeightsError

STATIC = Path(__file__).parent / "static"
SSE_POLL_S = 0.05
SSE_HEARTBEAT_S = 10.0
BODY_SLACK = 64 * 1024  # multipart framing and form fields around an upload


def status_of(err: EditGANError) -> int:
    if isinstance(err, (SessionNotFound, VectorNotFound, AnnotationNotFound)):
        return 404
    if isinstance(err, ReadOnlyVector):
        return 403
    if isinstance(err, TooManySessions):
        return 503
    if isinstance(err, UploadTooLarge):
        return 413
    if isinstance(err, (Busy, NotReady, LibraryNotWritable, CheckpointError, MissingWeightsError, AnnotationConflict)):
        return 409
    return 400


def validation_message(exc: RequestValidationError) -> tuple[int, str]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "the request body is not valid JSON"
    parts = [f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg')}"
             for e in errors]
    return 422, "; ".join(parts)


def create_app(editor: Editor, **service_options) -> FastAPI:
    """The web tool for one Editor; service_options go to EditService (max_upload_bytes, session_ttl_s,
    max_sessions, session_recent_s). The service is at `app.state.service`; it stops its worker on shutdown."""
    service = EditService(editor, **service_options)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        service.close()

    app = FastAPIOffline(title="EditGAN web tool", version="1", lifespan=lifespan,
                         description="Interactive EditGAN editing: sample or upload an image, paint its "
                                     "segmentation, learn an edit, keep it as an editing vector and apply vectors "
                                     "with sliders. Long jobs stream progress as server-sent events at "
                                     "/api/jobs/{id}/events.")
    app.state.service = service

    app.add_middleware(BodyLimit, limit=service.max_upload_bytes + BODY_SLACK, shown=service.max_upload_bytes)

    @app.exception_handler(EditGANError)
    async def editgan_error(_: Request, err: EditGANError):
        return JSONResponse({"detail": service.public(str(err)), **getattr(err, "extra", {})},
                            status_code=status_of(err))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError):
        code, message = validation_message(exc)
        return JSONResponse({"detail": message}, status_code=code)

    def session(session_id: str):
        return service.sessions.get(session_id)

    def job_or_404(job_id: str) -> Job:
        job = service.jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r} (finished jobs are kept for a while only)")
        return job

    # ------------------------------------------------------------------ page
    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # ------------------------------------------------------------------ bundle and sessions
    @app.get("/api/info", summary="The bundle: image and label-map sizes, label names and colours, limits")
    def info():
        return service.info()

    @app.post("/api/sessions", status_code=201, summary="Start an editing session (one per browser tab)")
    def create_session():
        return {"session_id": service.sessions.create().id}

    @app.delete("/api/sessions/{session_id}", status_code=204, summary="End a session and cancel its jobs")
    def delete_session(session_id: str):
        service.sessions.delete(session_id)
        return Response(status_code=204)

    @app.get("/api/sessions/{session_id}", summary="The session's image and its original segmentation")
    def get_image(session_id: str):
        return service.image_payload(session(session_id))

    @app.get("/api/sessions/{session_id}/state",
             summary="What a tab keeps to restore its image after a reload or an eviction: {source, wplus, tuned}")
    def state(session_id: str):
        return service.session_state(session(session_id))

    @app.post("/api/sessions/{session_id}/restore",
              summary="Show a kept image ({source, wplus} from .../state) in this session, as a sample")
    def restore(session_id: str, body: RestoreRequest):
        return service.restore(session(session_id), body.source, body.wplus)

    @app.post("/api/sessions/{session_id}/sample", summary="Show a GAN sample (seed, or random when omitted)")
    def sample(session_id: str, body: SampleRequest):
        return service.sample(session(session_id), body.seed, body.psi)

    @app.post("/api/sessions/{session_id}/adopt",
              summary="Continue from the edited image: it becomes the image to edit (chains edits)")
    def adopt(session_id: str):
        return service.adopt_edited(session(session_id))

    @app.post("/api/sessions/{session_id}/upload", status_code=202,
              summary="Upload an image to embed into W+ with the bundle's embedding settings, then (when tuning) "
                      "pivotal tuning: one job with progress over both phases; the done event carries image, "
                      "labels and the reconstruction's fidelity")
    async def upload(session_id: str, file: UploadFile = File(...),
                     steps: int | None = Form(None, description=f"W+ embedding steps, 0-{MAX_EMBED_STEPS} (default: "
                                                                "the bundle's, /api/info defaults.embed_steps)"),
                     tune: bool | None = Form(None, description="pivotal tuning after the W+ embedding (default: the "
                                                               "bundle's choice, defaults.tune)"),
                     tune_steps: int | None = Form(None, description=f"pivotal tuning steps, 1-{MAX_TUNE_STEPS}, used "
                                                                     "when tuning (default: defaults.tune_steps)")):
        s = session(session_id)
        data = await file.read(service.max_upload_bytes + 1)
        job = await asyncio.to_thread(service.submit_upload, s, data, file.filename or "upload", steps, tune,
                                      tune_steps)
        return {"job_id": job.id}

    @app.post("/api/sessions/{session_id}/tuning",
              summary="For a tuned upload: edit it as drawn by its tuned generator G' (use true) or its W+ pivot "
                      "drawn by the bundle's G (false), to compare; returns the image and its segmentation")
    def tuning(session_id: str, body: TuningRequest):
        return service.use_tuning(session(session_id), body.use)

    # ------------------------------------------------------------------ editing
    @app.post("/api/sessions/{session_id}/edit", status_code=202,
              summary="Learn an edit from the painted label map (a job; the done event carries the result)")
    def edit(session_id: str, body: EditRequest):
        job = service.submit_edit(session(session_id), body.labels, body.parts, body.steps, body.lr, body.buffer,
                                  body.preset)
        return {"job_id": job.id}

    @app.get("/api/sessions/{session_id}/result", summary="The last edit: before, after, difference, new labels")
    def result(session_id: str):
        return service.result_payload(session(session_id))

    @app.post("/api/sessions/{session_id}/apply", response_class=Response,
              responses={200: {"content": {"image/png": {}}}},
              summary="Apply library vectors at the given scales: the edited image as PNG (the slider path); "
                      "header X-Compute-Ms gives the server time")
    def apply(session_id: str, body: ApplyRequest):
        png, ms = service.apply(session(session_id), body.scales)
        return Response(png, media_type="image/png", headers={"X-Compute-Ms": f"{ms:.2f}", "Cache-Control": "no-store"})

    @app.post("/api/sessions/{session_id}/refine", status_code=202,
              summary="Apply vectors then refine (a job; the done event carries the image)")
    def refine(session_id: str, body: RefineRequest):
        return {"job_id": service.submit_refine(session(session_id), body.scales, body.steps, body.preset).id}

    @app.get("/api/sessions/{session_id}/download/{what}.png", response_class=Response,
             responses={200: {"content": {"image/png": {}}}},
             summary="PNG downloads: edited, edited-mask (label indices), painted-mask (label indices), original; "
                     "colour=1: a mask in the label colours; scale=N (1-8): enlarged N times, nearest neighbour")
    def download(session_id: str, what: str, colour: bool = False, scale: int = 1):
        png = service.download(session(session_id), what, colour, scale)
        name = what + ("-colour" if colour else "") + (f"-x{scale}" if scale > 1 else "")
        return Response(png, media_type="image/png",
                        headers={"Content-Disposition": f'attachment; filename="{name}.png"'})

    @app.post("/api/sessions/{session_id}/vectors", status_code=201,
              summary="Save the last edit as a named vector in the library")
    def save_vector(session_id: str, body: SaveVectorRequest):
        return service.save_vector(session(session_id), body.name, body.overwrite)

    app.include_router(annotation_router(AnnotationService(service)))

    # ------------------------------------------------------------------ jobs
    @app.get("/api/jobs/{job_id}", summary="A job's status and, once finished, its final event")
    def job_status(job_id: str):
        return job_or_404(job_id).summary()

    @app.post("/api/jobs/{job_id}/cancel", summary="Ask a job to stop (an edit keeps its best step so far)")
    def cancel(job_id: str):
        job = job_or_404(job_id)
        service.jobs.cancel(job_id)
        return job.summary()

    @app.get("/api/jobs/{job_id}/events", response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}}}},
             summary="Server-sent events: queued, started, progress {step, total, losses[, phase]}, then done | "
                     "failed | cancelled; `after` skips that many events already seen. A finished job's stream "
                     "ends at once with its final event, even when `after` skips past it")
    async def events(job_id: str, after: int = 0):
        job = job_or_404(job_id)

        async def stream():
            seen, quiet = max(after, 0), 0.0
            while True:
                new, finished = job.since(seen)
                for event in new:
                    yield f"id: {event['seq']}\nevent: {event['event']}\ndata: {json.dumps(event)}\n\n"
                if finished:
                    return
                seen += len(new)
                quiet = 0.0 if new else quiet + SSE_POLL_S
                if quiet >= SSE_HEARTBEAT_S:
                    quiet = 0.0
                    yield ": keep-alive\n\n"
                await asyncio.sleep(SSE_POLL_S)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    # ------------------------------------------------------------------ library
    @app.get("/api/vectors", summary="The vector library (and unreadable entries under `problems`)")
    def list_vectors():
        return service.list_vectors()

    @app.delete("/api/vectors/{name}", status_code=204, summary="Delete a vector")
    def delete_vector(name: str):
        service.delete_vector(name)
        return Response(status_code=204)

    @app.post("/api/vectors/{name}/rename", summary="Rename a vector")
    def rename_vector(name: str, body: RenameVectorRequest):
        return service.rename_vector(name, body.new_name, body.overwrite)

    @app.get("/api/vectors/{name}/download", response_class=Response,
             responses={200: {"content": {"application/zip": {}}}},
             summary="The vector's two files (<name>.json, <name>.safetensors) as a zip")
    def download_vector(name: str):
        return Response(service.vector_zip(name), media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{name}.zip"'})

    @app.get("/api/vectors/{name}/thumbnail/{key}.png", response_class=Response,
             responses={200: {"content": {"image/png": {}}}}, summary="A vector's thumbnail (before / after)")
    def thumbnail(name: str, key: str):
        return Response(service.vector_thumbnail(name, key), media_type="image/png")

    return app
