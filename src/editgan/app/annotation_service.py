"""Annotation mode of the web tool, independent of HTTP: the bundle's annotation set, its label
scheme, suggestions, prefilled predictions and training the segmenter as a job.

It shares the EditService's Editor, sessions and job worker; the training job installs the new
segmenter and reloads the Editor, so edits that follow use it. An editing session's image is
annotated as the Edit tab draws it: a tuned upload by its G', whose tuning the annotation keeps
(its training features then come from G').
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from editgan.annotate.scheme import check_scheme_change, parse_scheme, save_scheme
from editgan.annotate.store import AnnotationSet
from editgan.annotate.suggest import suggest_seeds
from editgan.annotate.training import train_and_install
from editgan.annotate.transfer import add_import, read_import
from editgan.app.annotation_schemas import SampleSource, TrainRequest
from editgan.app.codec import data_url, decode_labels, encode_labels, image_png, png_bytes
from editgan.app.jobs import Job
from editgan.app.schemas import MAX_SEED
from editgan.app.service import Busy, EditService, NotReady, UploadTooLarge
from editgan.editor import Editor
from editgan.errors import InputError
from editgan.io.images import to_uint8
from editgan.labels import LabelScheme
from editgan.nn.tuning import Tuning
from editgan.train.segmenter_training import TrainSettings

JOB_OWNER = "annotations"  # the session id of training jobs: one at a time
IMPORT_OWNER = "annotation-import"  # the session id of import jobs: one at a time
SUGGEST_OWNER = "annotation-suggest"  # the session id of suggest jobs
PROGRESS_EVENTS = 200  # about this many progress events per training phase


class AnnotationService:
    """The annotation API's operations (see `editgan.app.annotation_routes` for the routes)."""

    def __init__(self, service: EditService):
        self.service = service
        self.store = AnnotationSet.of_bundle(service.editor.bundle, service.editor.generator.config)

    @property
    def editor(self):
        return self.service.editor

    def scheme(self) -> LabelScheme:
        scheme = self.editor.bundle.labels
        if scheme is None:
            raise NotReady("this bundle has no label scheme yet: create one with PUT /api/annotations/scheme")
        return scheme

    def has_segmenter(self) -> bool:
        return self.editor.bundle.segmenter_dir is not None

    # ------------------------------------------------------------------ the set
    def overview(self) -> dict:
        scheme, folder = self.editor.bundle.labels, self.editor.bundle.segmenter_dir
        return {"annotations": self.store.list(), "label_size": list(self.store.label_size),
                "scheme": scheme.to_json() if scheme else None, "labels_in_use": sorted(self.store.labels_in_use()),
                "segmenter": {"present": folder is not None, "folder": str(folder) if folder else None},
                "folder": str(self.store.root)}

    def _labels(self, text: str, scheme: LabelScheme) -> torch.Tensor:
        return decode_labels(text, *self.store.label_size, scheme, scheme.num_classes)

    def _source(self, body: SampleSource, annotation_id: str | None = None) -> tuple[Editor, torch.Tensor, dict]:
        """(the Editor that draws it: tuned for a tuned upload, its w+ [1, num_ws, w_dim], its provenance
        {source, seed, psi}) of the sample a request names."""
        given = [body.seed is not None, body.session_id is not None, annotation_id is not None]
        if sum(given) != 1:
            raise InputError("name exactly one sample: seed, session_id or annotation_id")
        if annotation_id is not None:
            sample = self.store.get(annotation_id)
            return self.editor.tuned(sample.tuning), sample.wplus, {"source": f"annotation {annotation_id}"}
        if body.seed is not None:
            return self.editor, self.editor.sample(body.seed, psi=body.psi), {"source": f"seed {body.seed}",
                                                                               "seed": body.seed, "psi": body.psi}
        session = self.service.sessions.get(body.session_id)
        with session.lock:
            return session.drawn_by(self.editor), session.require_image(), {"source": session.source}

    def create(self, body, labels: str, annotation_id: str | None) -> dict:
        scheme = self.scheme()
        target = self._labels(labels, scheme)
        editor, wplus, origin = self._source(body)
        image = to_uint8(editor.render(wplus))[0]
        return self.store.create(wplus, image, target, scheme, annotation_id=annotation_id, tuning=editor.tuning,
                                 unique_seed=not body.allow_duplicate, **origin)

    def copy(self, annotation_id: str, labels: str) -> dict:
        """A new annotation of the same sample (w+, tuning, image) with `labels`: "save as a copy"."""
        scheme = self.scheme()
        sample = self.store.get(annotation_id)
        with Image.open(self.store.image_path(annotation_id)) as im:
            image = np.asarray(im.convert("RGB"))
        return self.store.create(sample.wplus, image, self._labels(labels, scheme), scheme, tuning=sample.tuning,
                                 source=f"copy of {annotation_id}", seed=sample.meta.get("seed"),
                                 psi=sample.meta.get("psi"))

    def backups(self, annotation_id: str) -> dict:
        """The earlier maps kept of an annotation, newest first: [{name, time (UTC ISO)}]."""
        self.store.meta(annotation_id)
        return {"backups": [{"name": p.stem, "time": datetime.strptime(p.stem, "%Y%m%dT%H%M%S%fZ").replace(
            tzinfo=timezone.utc).isoformat()} for p in reversed(self.store.backups(annotation_id))]}

    def restore(self, annotation_id: str, name: str, version: int | None) -> dict:
        """Make backup `name` the current map (the current one is backed up first, so this can be undone)."""
        scheme = self.scheme()
        return self.store.save_labels(annotation_id, self.store.backup(annotation_id, name), scheme, version)

    def get(self, annotation_id: str) -> dict:
        sample = self.store.get(annotation_id)
        return {**sample.meta, "version": sample.meta.get("version", 1), "image": data_url(self.store.image_path(annotation_id).read_bytes()),
                "labels": encode_labels(sample.labels), "label_size": list(self.store.label_size),
                "backups": len(self.store.backups(annotation_id))}

    def save(self, annotation_id: str, labels: str, version: int | None = None) -> dict:
        scheme = self.scheme()
        return self.store.save_labels(annotation_id, self._labels(labels, scheme), scheme, version)

    def delete(self, annotation_id: str) -> None:
        self.store.delete(annotation_id)

    def submit_import(self, data: bytes, filename: str) -> Job:
        """Read and check an uploaded export whole now (400 naming the file on the first problem; 409
        while another import runs), then render and add its annotations as a job: progress step n of
        N after each rendered image, then one commit (a cancelled or failed import adds nothing).
        The done event carries {"imported": their metas}."""
        if len(data) > self.service.max_upload_bytes:
            raise UploadTooLarge(f"the upload is {len(data)} bytes; at most {self.service.max_upload_bytes} "
                                 "are accepted")
        running = self.service.jobs.active(IMPORT_OWNER)
        if running is not None:
            raise Busy(f"an import is running already (job {running.id}); wait for it or cancel it")
        with tempfile.TemporaryDirectory(prefix="editgan-annotations-") as tmp:
            path = Path(tmp) / "upload.zip"
            path.write_bytes(data)
            plan = read_import(self.store, self.scheme(), path, shown=Path(filename).name)
        scheme = self.scheme()

        def work(job: Job) -> dict:
            def progress(done: int) -> None:
                job.progress(done, {}, "rendering")
                job.raise_if_cancelled()

            added = add_import(self.store, scheme, plan, self._image, progress)
            return {"imported": added}

        return self.service.jobs.submit(Job("import-annotations", IMPORT_OWNER, len(plan), work))

    def _image(self, wplus: torch.Tensor, tuning: Tuning | None) -> np.ndarray:
        return to_uint8(self.editor.tuned(tuning).render(wplus.to(self.editor.device)))[0]

    def labels_png(self, annotation_id: str) -> bytes:
        """The stored label map as a label-index PNG (mode L)."""
        return png_bytes(self.store.get(annotation_id).labels.astype(np.uint8))

    # ------------------------------------------------------------------ scheme
    def get_scheme(self) -> dict:
        scheme = self.editor.bundle.labels
        return {"scheme": scheme.to_json() if scheme else None, "labels_in_use": sorted(self.store.labels_in_use())}

    def put_scheme(self, data) -> dict:
        new = parse_scheme(data)
        bundle = self.editor.bundle
        check_scheme_change(bundle.labels, new, self.store.labels_in_use())
        save_scheme(bundle, new)
        self._reload()
        return self.get_scheme()

    def _reload(self) -> None:
        self.editor.reload()
        self.service.refresh_labels()

    # ------------------------------------------------------------------ helping the painter
    def predict(self, body, annotation_id: str | None) -> dict:
        """The sample's image and the segmenter's label map to start painting from (all background,
        `predicted` false, without a segmenter), with its mean uncertainty (nats)."""
        editor, wplus, origin = self._source(body, annotation_id)
        image = editor.render(wplus)
        labels, mean_unc = np.zeros(self.store.label_size, np.uint8), None
        if self.has_segmenter():
            predicted, unc = editor.segment(wplus, uncertainty=True)
            if tuple(predicted.shape[1:]) != self.store.label_size:
                raise InputError(f"the segmenter labels {list(predicted.shape[1:])} pixels, annotations "
                                 f"{list(self.store.label_size)}: retrain it from the annotations")
            labels, mean_unc = predicted[0].cpu().numpy(), round(float(unc.mean()), 6)
        return {**origin, "image": data_url(image_png(image)), "labels": encode_labels(labels),
                "label_size": list(self.store.label_size), "predicted": self.has_segmenter(),
                "mean_uncertainty": mean_unc}

    def submit_suggest(self, count: int, candidates: int, start_seed: int, psi: float) -> Job:
        """The seeds to annotate next (rule: `editgan.annotate.suggest`) as a job: progress over drawing
        the candidates, then scoring them with the segmenter's ensemble (seconds to a minute on a CPU);
        the done event carries {"rule", "psi", "suggestions": [{"seed", "score"}]}. Seeds stay within
        the web API's MAX_SEED (exact in JavaScript)."""
        seg = self.editor.segmenter if self.has_segmenter() else None
        scoring = seg is not None and seg.num_members > 1

        def work(job: Job) -> dict:
            def progress(done: int, total: int) -> None:
                job.emit("progress", step=done, total=total, losses={},
                         phase="scoring" if scoring and done > total // 2 else "drawing")
                job.raise_if_cancelled()

            return suggest_seeds(self.editor.generator, seg, self.store, count, candidates, start_seed, psi,
                                 progress, max_seed=MAX_SEED)

        return self.service.jobs.submit(Job("suggest", SUGGEST_OWNER, candidates * (2 if scoring else 1), work))

    # ------------------------------------------------------------------ training
    def submit_train(self, body: TrainRequest) -> Job:
        """Train on the annotations as they are when the job starts, install, reload the Editor."""
        scheme = self.scheme()
        n = len(self.store.training_data()[0])
        settings = TrainSettings(batch_pixels=body.batch_pixels, lr=body.lr, max_steps=body.max_steps,
                                 seed=body.seed, class_balance=body.class_balance)
        running = self.service.jobs.active(JOB_OWNER)
        if running is not None:
            raise Busy(f"a segmenter is being trained already (job {running.id}); wait for it or cancel it")
        phases = ["holdout", "final"] if body.holdout > 0 and n >= 2 else ["final"]
        every = max(1, body.max_steps // PROGRESS_EVENTS)

        def work(job: Job) -> dict:
            def progress(phase: str, step: int, loss: float) -> None:
                if step % every == 0 or step == body.max_steps:
                    job.emit("progress", phase=phase, step=phases.index(phase) * body.max_steps + step,
                             total=job.total, losses={"loss": round(loss, 6)})
                job.raise_if_cancelled()

            result = train_and_install(self.editor.bundle, self.editor.generator, self.store, scheme, settings,
                                       members=body.members, holdout=body.holdout, progress=progress)
            self._reload()
            return result

        return self.service.jobs.submit(Job("train-segmenter", JOB_OWNER, len(phases) * body.max_steps, work))
