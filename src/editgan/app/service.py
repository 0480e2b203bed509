"""The web tool's operations on one Editor, independent of HTTP.

One Editor (one copy of the networks) serves every session. Fast operations (sampling, applying
vectors: no gradients) run in the calling request thread; long ones (embedding an upload, learning
an edit, refinement) become Jobs on the single worker thread. A job captures its inputs when it is
submitted and stores its outcome in the session only if the session still shows the same image.

Uploads are embedded with the bundle's EmbedSettings (manifest "embedding"), whose steps and
pivotal tuning an upload may override. A tuned upload's session keeps the Editor view with its G'
(`Editor.tuned`): every render, segmentation, edit, refinement and vector application of that image
and of the edits adopted from it uses G', unless the session is switched to the W+ pivot drawn by G
(`use_tuning`) to compare.
"""

from __future__ import annotations

import colorsys
import contextlib
import io
import random
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from pathlib import Path

import numpy as np
import torch

from editgan.app.codec import (data_url, decode_labels, decode_latent, difference, encode_labels, encode_latent,
                               image_png, png_bytes)
from editgan.app.jobs import Job, JobQueue
from editgan.app.redact import Redactor
from editgan.app.schemas import MAX_SCALE
from editgan.app.sessions import Session, SessionStore
from editgan.edit.region import infer_parts
from editgan.edit.vectors import EditingVector
from editgan.editor import Editor
from editgan.errors import EditGANError, InputError
from editgan.inversion.optimize import EmbedResult
from editgan.inversion.settings import FAITHFUL, EmbedSettings
from editgan.io.images import load_image, to_uint8
from editgan.labels import LabelScheme

MAX_EMBED_STEPS = 2000
MAX_TUNE_STEPS = 2000
DOWNLOADS = ("edited", "edited-mask", "painted-mask", "original")
MAX_DOWNLOAD_SCALE = 8
# Decoding memory: an upload's pixels are counted from its header before decoding (at most
# MAX_UPLOAD_PIXELS: a 6000x4000 photo), and at most DECODE_SLOTS uploads decode at once (the rest wait
# up to DECODE_WAIT_S, then answer 409), on DECODE_SLOTS fixed threads. Decoding takes about 4 bytes
# per pixel (8 for a file that needs a mode conversion): measured, 8 concurrent 6000x4000 PNG uploads
# raise the server's peak memory by about 0.4 GB (0.75 GB when each decoded on its own request thread,
# whose allocator arena keeps what it freed), and 8000x8000 ones are refused from their headers.
MAX_UPLOAD_PIXELS = 24_000_000
DECODE_SLOTS = 2
DECODE_WAIT_S = 120.0


class Busy(EditGANError):
    """The session already has a long job queued or running (HTTP 409)."""


class LibraryNotWritable(EditGANError):
    """The vector library directory cannot be written (HTTP 409)."""


class VectorNotFound(InputError):
    """No vector of that name in the library (HTTP 404)."""


class NotReady(EditGANError):
    """Something asked for does not exist yet in this session, e.g. no edit result (HTTP 409)."""


def fallback_scheme(num_classes: int) -> LabelScheme:
    """Names "0".."K-1" and evenly spaced hues, for bundles without a label scheme."""
    colors = tuple(tuple(int(255 * c) for c in colorsys.hsv_to_rgb(i / num_classes, 0.65, 0.95))
                   for i in range(num_classes))
    return LabelScheme("labels", tuple(str(i) for i in range(num_classes)), colors)


class EditService:
    """Sessions, jobs and the vector library around one Editor (see module docstring)."""

    def __init__(self, editor: Editor, *, max_upload_bytes: int = 20 * 2**20, session_ttl_s: float = 3600.0,
                 max_sessions: int = 32, session_recent_s: float = 300.0,
                 max_upload_pixels: int = MAX_UPLOAD_PIXELS, decode_slots: int = DECODE_SLOTS):
        self.editor = editor
        self.max_upload_bytes = max_upload_bytes
        self.max_upload_pixels = max_upload_pixels
        # Uploads decode on these threads only, at most decode_slots at once (the rest wait): a few fixed
        # threads also keep the C allocator's per-thread arenas, which hold freed memory, few.
        self._decoder = ThreadPoolExecutor(max_workers=decode_slots, thread_name_prefix="editgan-decode")
        bundle = editor.bundle.path
        self.public = Redactor({bundle: bundle.name, editor.library.directory: "vectors"})
        self.jobs = JobQueue(public=self.public)
        self.sessions = SessionStore(ttl_s=session_ttl_s, max_sessions=max_sessions, on_drop=self.jobs.cancel_session,
                                     busy=lambda sid: self.jobs.active(sid) is not None, recent_s=session_recent_s)
        self._library_lock = threading.Lock()  # one library write at a time
        self._vectors: dict[str, tuple[Path, int, EditingVector]] = {}  # name -> (JSON, its mtime_ns, vector)
        self.refresh_labels()

    def refresh_labels(self) -> None:
        """Labels and label grid from the editor's segmenter or, for a bundle without one yet
        (annotation mode), from its scheme (else two unnamed labels) and the generator's image size."""
        editor = self.editor
        if editor.bundle.segmenter_dir is not None:
            self.num_classes, self.label_size = editor.segmenter.config.num_classes, \
                tuple(editor.segmenter.config.out_size)
        else:
            self.num_classes = editor.scheme.num_classes if editor.scheme else 2
            self.label_size = tuple(editor.generator.config.image_size)
        scheme = editor.scheme or fallback_scheme(self.num_classes)
        self.removed_labels = max(0, self.num_classes - scheme.num_classes)
        if self.removed_labels:  # labels removed from the scheme that the segmenter still predicts
            extra = fallback_scheme(self.num_classes)
            scheme = LabelScheme(scheme.name, scheme.names + tuple(f"removed label {i}" for i in range(
                scheme.num_classes, self.num_classes)), scheme.colors + extra.colors[scheme.num_classes:])
        self.scheme = scheme
        if self.num_classes > 256:
            raise InputError(f"the web tool handles at most 256 labels; this segmenter has {self.num_classes}")

    def scheme_note(self) -> str | None:
        """What the page says when the scheme and the segmenter disagree (None when they agree)."""
        if self.scheme.num_classes > self.num_classes:
            names = ", ".join(repr(n) for n in self.scheme.names[self.num_classes:])
            return (f"the segmenter predates label(s) {names}: it cannot show them nor edit with them until "
                    "it is retrained on annotations that use them (Annotate tab)")
        if self.removed_labels:
            return (f"the segmenter still predicts {self.removed_labels} label(s) removed from the scheme (shown as "
                    "'removed label N'): retrain it on the annotations (Annotate tab)")
        return None

    def check_segmented(self, labels: torch.Tensor, indices: list[int]) -> None:
        """InputError when a painted map or the parts use a label the segmenter does not predict yet."""
        used = sorted({int(v) for v in torch.unique(labels)} | set(indices))
        new = [self.scheme.names[i] for i in used if i >= self.num_classes]
        if new:
            raise InputError(f"the segmenter does not predict {', '.join(repr(n) for n in new)} yet: retrain it on "
                             "annotations that use it (Annotate tab) before editing with it")

    def close(self) -> None:
        self.jobs.close()
        self._decoder.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ description
    def info(self) -> dict:
        cfg = self.editor.generator.config
        size = cfg.image_size
        embedding, editing = self.editor.embed_settings(), self.editor.edit_settings()
        return {"bundle": self.editor.bundle.path.name, "domain": self.editor.bundle.domain,
                "image_size": list(size), "label_size": list(self.label_size),
                "num_ws": cfg.num_ws, "w_dim": cfg.w_dim,
                "device": str(self.editor.device), "precision": self.editor.precision,
                "labels": [{"index": i, "name": n, "color": list(c), "segmented": i < self.num_classes}
                           for i, (n, c) in enumerate(zip(self.scheme.names, self.scheme.colors))],
                "scheme_note": self.scheme_note(),
                "max_upload_bytes": self.max_upload_bytes, "max_upload_pixels": self.max_upload_pixels,
                "max_scale": MAX_SCALE,
                "max_embed_steps": MAX_EMBED_STEPS, "max_tune_steps": MAX_TUNE_STEPS,
                "defaults": {"edit_steps": editing.steps, "refine_steps": editing.refine_steps,
                             "embed_steps": embedding.steps, "tune": embedding.tunes,
                             "tune_steps": tune_steps_of(embedding)}}

    def image_payload(self, session: Session) -> dict:
        """The session's image (data URL, drawn by the session's generator), its original segmentation
        (base64 labels), whether it has a tuned generator (`tunable`) and whether that draws it (`tuned`)."""
        with session.lock:
            wplus = session.require_image()
            image = session.drawn_by(self.editor).render(wplus)
            return {"source": session.source, "image": data_url(image_png(image)),
                    "labels": encode_labels(session.labels), "label_size": list(self.label_size),
                    "tunable": session.tuned is not None, "tuned": session.use_tuned}

    # ------------------------------------------------------------------ images to edit
    def _set_image(self, session: Session, wplus: torch.Tensor, source: str, tuned: Editor | None = None,
                   use_tuned: bool = True) -> None:
        """Show w+ in the session, drawn by `tuned` (a tuned view, when use_tuned) or the bundle's G,
        with its segmentation (all background before a segmenter exists: annotation mode samples and
        embeds uploads for a new domain too)."""
        drawn_by = tuned if tuned is not None and use_tuned else self.editor
        labels = drawn_by.segment(wplus)[0].cpu() if self.editor.bundle.segmenter_dir is not None else \
            torch.zeros(self.label_size, dtype=torch.int64)
        with session.lock:
            session.set_image(wplus, labels, source, tuned, use_tuned)

    def session_state(self, session: Session) -> dict:
        """What a tab keeps (in its browser storage) to restore its image into a new session after a
        reload or an eviction: {source, wplus (`encode_latent`), tuned}. A tuned upload's G' is not
        part of it: restored, its W+ pivot is drawn by the bundle's G."""
        with session.lock:
            return {"source": session.source, "wplus": encode_latent(session.require_image()),
                    "tuned": session.tuned is not None}

    def restore(self, session: Session, source: str, wplus: str) -> dict:
        """Show a kept image (`session_state`) in `session`: as `sample` for that w+."""
        cfg = self.editor.generator.config
        self._set_image(session, decode_latent(wplus, cfg.num_ws, cfg.w_dim).to(self.editor.device),
                        source or "restored image")
        return self.image_payload(session)

    def sample(self, session: Session, seed: int | None, psi: float) -> dict:
        seed = random.randrange(2**31) if seed is None else seed
        self._set_image(session, self.editor.sample(seed, psi=psi), f"seed {seed}" + (f", psi {psi:g}" if psi != 1 else ""))
        return {"seed": seed, **self.image_payload(session)}

    def adopt_edited(self, session: Session) -> dict:
        """Make the edited image (last edit or slider result) the image to edit, to chain edits; it
        is drawn by the generator that drew the edit (an edit of a tuned image stays tuned)."""
        with session.lock:
            edited = session.edited
            if edited is None:
                raise NotReady("no edited image yet: run an edit or move a slider")
            source, tuned = f"edited {session.source}", session.tuned if session.use_tuned else None
        self._set_image(session, edited, source, tuned)
        return self.image_payload(session)

    def use_tuning(self, session: Session, on: bool) -> dict:
        """Draw the session's tuned upload by its G' (on) or its W+ pivot by the bundle's G (off), to
        compare; like a new image, the segmentation is redone and what derived from the other is dropped."""
        if self.jobs.active(session.id) is not None:
            raise Busy("this session has a job running on its image; wait for it or cancel it first")
        with session.lock:
            wplus, source, tuned = session.require_image(), session.source, session.tuned
            if tuned is None:
                raise NotReady("this image has no tuned generator: upload it with faithful (pivotal tuning) on")
        self._set_image(session, wplus, source, tuned, on)
        return self.image_payload(session)

    def upload_settings(self, steps: int | None = None, tune: bool | None = None,
                        tune_steps: int | None = None) -> EmbedSettings:
        """The bundle's EmbedSettings with an upload's choices: W+ steps (None: the bundle's), pivotal
        tuning on or off (None: the bundle's choice) and its steps (None: `tune_steps_of` the
        bundle's); InputError outside [0, MAX_EMBED_STEPS] and [1, MAX_TUNE_STEPS]."""
        if steps is not None and not 0 <= steps <= MAX_EMBED_STEPS:
            raise InputError(f"embedding steps must be in [0, {MAX_EMBED_STEPS}], got {steps}")
        if tune_steps is not None and not 1 <= tune_steps <= MAX_TUNE_STEPS:
            raise InputError(f"tuning steps must be in [1, {MAX_TUNE_STEPS}], got {tune_steps}")
        base = self.editor.embed_settings()
        tunes = base.tunes if tune is None else tune
        return base.replace(steps=steps, tune_steps=(tune_steps or tune_steps_of(base)) if tunes else 0)

    def submit_upload(self, session: Session, data: bytes, filename: str, steps: int | None = None,
                      tune: bool | None = None, tune_steps: int | None = None) -> Job:
        """Check the file and the settings (`upload_settings`) now (4xx on bad ones), then embed it as
        one job: the W+ embedding (progress steps 0..steps, phase "embedding"), then pivotal tuning
        (steps + 1..steps + tune_steps, phase "tuning"). The done event carries `fidelity_payload`."""
        settings = self.upload_settings(steps, tune, tune_steps)
        if len(data) > self.max_upload_bytes:
            raise UploadTooLarge(f"the upload is {len(data)} bytes; at most {self.max_upload_bytes} are accepted")
        decoding = self._decoder.submit(load_upload, data, filename, self.editor.generator.config.image_size,
                                        self.max_upload_pixels)
        try:
            target = decoding.result(timeout=DECODE_WAIT_S).to(self.editor.device)
        except FuturesTimeout:
            decoding.cancel()
            raise Busy("the server is decoding other uploads; try again in a minute") from None

        def work(job: Job) -> dict:
            def progress(step: int, values: dict) -> None:
                job.progress(step, values, "embedding" if step <= settings.steps else "tuning")
                job.raise_if_cancelled()

            result = self.editor.embed(target, settings=settings, progress=progress)
            tuned = self.editor.tuned(result.tunings[0]) if result.tunings else None
            self._set_image(session, result.wplus, f"upload {filename}", tuned)
            return {"loss": float(result.best_loss[0]), **self.fidelity_payload(result), **self.image_payload(session)}

        return self._submit(session, Job("embed", session.id, settings.steps + settings.tune_steps, work))

    def fidelity_payload(self, result: EmbedResult) -> dict:
        """An embedding of one image for the page: its settings' steps, its reconstruction's fidelity
        {psnr (dB), distance, perceptual (the distance's name)}, the W+ pivot's fidelity and image G(w+)
        when tuned (else None), and the plain-words warning when the generator cannot draw it (else None)."""
        tuned = result.tunings is not None
        return {"embed_steps": result.settings.steps, "tune_steps": result.settings.tune_steps,
                "fidelity": result.fidelity[0].to_json(),
                "pivot_fidelity": result.pivot_fidelity[0].to_json() if tuned else None,
                "pivot_image": data_url(image_png(result.pivot_reconstruction)) if tuned else None,
                "warning": result.warnings[0]}

    # ------------------------------------------------------------------ optimisation edit
    def submit_edit(self, session: Session, labels: str, parts: list[str] | None, steps: int | None = None,
                    lr: float | None = None, buffer: int | None = None, preset: str | None = None) -> Job:
        settings = self.editor.edit_settings(preset, steps=steps, lr=lr, buffer=buffer)
        with session.lock:
            wplus, original, editor = session.require_image(), session.labels, session.drawn_by(self.editor)
            target = decode_labels(labels, *self.label_size, self.scheme, self.scheme.num_classes)
            indices = self.scheme.indices(parts) if parts else infer_parts(original, target)
            self.check_segmented(target, list(indices))
            session.painted = target

        def work(job: Job) -> dict:
            result, vector = editor.edit(wplus, target, indices, settings=settings, progress=job.progress,
                                         cancel=job.should_stop)
            with session.lock:
                if session.wplus is not wplus:
                    raise NotReady("the image changed while the edit ran; its result was dropped")
                session.set_edited(result.wplus_after, wplus)
                session.result, session.vector = result, vector
            return self.result_payload(session)

        return self._submit(session, Job("edit", session.id, settings.steps, work))

    def result_payload(self, session: Session) -> dict:
        """Before / after / difference images and the edited segmentation of the last edit."""
        with session.lock:
            result, vector = session.result, session.vector
            if result is None:
                raise NotReady("no edit result in this session yet: paint and run an edit first")
        before, after = to_uint8(result.image_before)[0], to_uint8(result.image_after)[0]
        best = result.losses[result.best_step]
        return {"before": data_url(png_bytes(before)), "after": data_url(png_bytes(after)),
                "difference": data_url(png_bytes(difference(before, after))),
                "labels_after": encode_labels(result.labels_after[0]), "parts": list(vector.parts),
                "best_step": result.best_step, "steps": len(result.losses) - 1, "cancelled": result.cancelled,
                "losses": {"first": result.losses[0], "best": best}}

    # ------------------------------------------------------------------ vectors on the image
    def library_vector(self, name: str) -> EditingVector:
        """A library vector, read from disk only when its JSON changed since the last read."""
        path = self.editor.library.json_path(name)
        try:
            mtime = path.stat().st_mtime_ns if path is not None else None
        except OSError:  # removed meanwhile
            mtime = None
        if mtime is None:
            raise VectorNotFound(f"no editing vector named {name!r} in the library")
        cached = self._vectors.get(name)
        if cached is None or cached[:2] != (path, mtime):
            cached = (path, mtime, self.editor.library.get(name))
            self._vectors[name] = cached
        return cached[2]

    def _pairs(self, scales: dict[str, float]) -> dict[EditingVector, float]:
        return {self.library_vector(name): float(s) for name, s in scales.items()}

    def apply(self, session: Session, scales: dict[str, float]) -> tuple[bytes, float]:
        """w+ + Σ s_i δ_i rendered -> (PNG bytes, compute time in ms); the slider path (no gradients)."""
        t0 = time.perf_counter()
        pairs = self._pairs(scales)
        with session.lock:
            wplus, editor = session.require_image(), session.drawn_by(self.editor)
        with torch.no_grad():
            edited, image = editor.apply(wplus, pairs)
        with session.lock:
            session.set_edited(edited, wplus)
        png = image_png(image)
        return png, (time.perf_counter() - t0) * 1000

    def submit_refine(self, session: Session, scales: dict[str, float], steps: int | None = None,
                      preset: str | None = None) -> Job:
        settings = self.editor.edit_settings(preset)
        steps = steps or settings.refine_steps
        pairs = self._pairs(scales)
        if not pairs:
            raise InputError("refinement needs at least one vector with a scale")
        with session.lock:
            wplus, editor = session.require_image(), session.drawn_by(self.editor)

        def work(job: Job) -> dict:
            edited, image = editor.apply(wplus, pairs, refine_steps=steps, settings=settings,
                                         progress=job.progress, cancel=job.should_stop)
            with session.lock:
                session.set_edited(edited, wplus)
            return {"image": data_url(image_png(image))}

        return self._submit(session, Job("refine", session.id, steps, work))

    def _submit(self, session: Session, job: Job) -> Job:
        running = self.jobs.active(session.id)
        if running is not None:
            raise Busy(f"this session already has a job ({running.kind}, {running.status}); wait for it or cancel it")
        return self.jobs.submit(job)

    # ------------------------------------------------------------------ library
    def save_vector(self, session: Session, name: str, overwrite: bool) -> dict:
        with session.lock:
            vector = session.vector
            if vector is None:
                raise NotReady("no edit result to save: run an edit first")
            if not bool(torch.any(vector.delta != 0)):
                raise InputError("this edit changed nothing (its best step is its start, step 0, e.g. cancelled "
                                 "before any step improved it): there is no vector to save; run it longer")
        named = EditingVector(delta=vector.delta, name=name, parts=vector.parts,
                              default_scale=vector.default_scale, thumbnails=vector.thumbnails,
                              losses=vector.losses, created={**vector.created, "source": session.source})
        with self._writing():
            self.editor.library.add(named, overwrite=overwrite)
        return self.describe(named)

    def describe(self, vector: EditingVector) -> dict:
        """A vector for the page; `shipped`: it ships with the bundle (read-only: no rename, no delete),
        `shadows_shipped`: the user's vector hides a shipped one of its name (deleting it shows that one)."""
        library = self.editor.library
        return {"name": vector.name, "parts": list(vector.parts), "default_scale": vector.default_scale,
                "norm": round(float(vector.delta.norm()), 6), "thumbnails": sorted(vector.thumbnails),
                "created": vector.created.get("time"), "shipped": library.is_shipped(vector.name),
                "shadows_shipped": library.shadows_shipped(vector.name)}

    def list_vectors(self) -> dict:
        with self._library_lock:
            library = self.editor.library
            names = library.list()
            problems = [self.public(p) for p in library.problems]
        return {"vectors": [self.describe(self.library_vector(n)) for n in names], "problems": problems}

    def rename_vector(self, name: str, new_name: str, overwrite: bool) -> dict:
        self.library_vector(name)
        with self._writing():
            return self.describe(self.editor.library.rename(name, new_name, overwrite=overwrite))

    def delete_vector(self, name: str) -> None:
        if self.editor.library.json_path(name) is None and not self.editor.library.owns(name):
            raise VectorNotFound(f"no editing vector named {name!r} in the library")
        with self._writing():
            self.editor.library.delete(name)
        self._vectors.pop(name, None)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """One library write at a time; a disk refusal (read-only install, full disk) becomes a clear error."""
        with self._library_lock:
            try:
                yield
            except OSError as err:
                raise LibraryNotWritable(f"cannot write the vector library ({err.strerror or err}); start the "
                                         "server with --vectors DIR") from None

    def vector_zip(self, name: str) -> bytes:
        """`<name>.json` and `<name>.safetensors` in one zip (unzip into any vector library directory)."""
        self.library_vector(name)  # validates the name and the files
        directory = self.editor.library.json_path(name).parent
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for suffix in (".json", ".safetensors"):
                z.write(directory / f"{name}{suffix}", arcname=f"{name}{suffix}")
        return buf.getvalue()

    def vector_thumbnail(self, name: str, key: str) -> bytes:
        vector = self.library_vector(name)
        if key not in vector.thumbnails:
            raise InputError(f"vector {name!r} has no thumbnail {key!r}; it has {sorted(vector.thumbnails)}")
        return png_bytes(vector.thumbnails[key])

    # ------------------------------------------------------------------ downloads
    def download(self, session: Session, what: str, colour: bool = False, scale: int = 1) -> bytes:
        """PNG bytes of 'edited' (the image shown as edited), 'edited-mask' (its segmentation, label
        indices), 'painted-mask' (the last painted label map) or 'original'. colour: a mask in the
        label colours instead of indices; scale: enlarged that many times (nearest neighbour)."""
        if what not in DOWNLOADS:
            raise InputError(f"unknown download {what!r}; one of: {', '.join(DOWNLOADS)}")
        if colour and not what.endswith("-mask"):
            raise InputError(f"colour applies to the masks only, not to {what!r}")
        if not 1 <= scale <= MAX_DOWNLOAD_SCALE:
            raise InputError(f"scale must be in [1, {MAX_DOWNLOAD_SCALE}], got {scale}")
        pixels = self._download_pixels(session, what)
        if colour:
            pixels = np.asarray(self.scheme.colors, dtype=np.uint8)[pixels]
        return png_bytes(pixels.repeat(scale, axis=0).repeat(scale, axis=1))

    def _download_pixels(self, session: Session, what: str) -> np.ndarray:
        """uint8 [H, W, 3] for the images, [H', W'] label indices for the masks."""
        with session.lock:
            wplus, editor = session.require_image(), session.drawn_by(self.editor)
            edited, painted = session.edited, session.painted
        if what == "original":
            return to_uint8(editor.render(wplus))[0]
        if what == "painted-mask":
            if painted is None:
                raise NotReady("nothing painted has been sent with an edit yet")
            return painted.numpy().astype(np.uint8)
        if edited is None:
            raise NotReady("no edited image yet: run an edit or move a slider")
        if what == "edited":
            return to_uint8(editor.render(edited))[0]
        return editor.segment(edited)[0].cpu().numpy().astype(np.uint8)


def tune_steps_of(settings: EmbedSettings) -> int:
    """Pivotal tuning steps an upload takes when tuning: the settings' own when they tune, else the
    "faithful" preset's."""
    return settings.tune_steps if settings.tunes else FAITHFUL.tune_steps


class UploadTooLarge(InputError):
    """The upload exceeds the size limit (HTTP 413)."""


def load_upload(data: bytes, filename: str, size: tuple[int, int], max_pixels: int = MAX_UPLOAD_PIXELS
                ) -> torch.Tensor:
    """Uploaded bytes -> float [1, 3, H, W] in [-1, 1], (H, W) = size, via `load_image`'s checks (at
    most `max_pixels`, counted from the header); messages name the upload's file name, not the
    temporary file."""
    shown = Path(filename or "upload").name or "upload"
    with tempfile.TemporaryDirectory(prefix="editgan-upload-") as tmp:
        path = Path(tmp) / "upload"
        path.write_bytes(data)
        try:
            return load_image(path, size, max_pixels=max_pixels)
        except InputError as err:
            raise InputError(str(err).replace(str(path), shown)) from None
