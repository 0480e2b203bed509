"""The web tool on the tiny editable world (edit_fixtures): an Editor with its own vector library,
and helpers to follow a job and decode what the API returns."""

import base64
import io
import json

import numpy as np
from PIL import Image

import editgan
from conftest import make_tiny_generator
from edit_fixtures import make_tiny_segmenter, write_edit_bundle
from editgan.bundle import MANIFEST
from editgan.files import read_json, write_json


def tiny_editor(tmp_path, **manifest):
    """An Editor on the tiny bundle (32 px, labels background/skin/mouth), library in tmp_path/vectors;
    `manifest`: entries added to its manifest (e.g. embedding="faithful", fidelity={...})."""
    generator = make_tiny_generator()
    write_edit_bundle(tmp_path / "bundle", generator, make_tiny_segmenter(generator))
    if manifest:
        path = tmp_path / "bundle" / MANIFEST
        write_json(path, {**read_json(path), **manifest})
    return editgan.load(tmp_path / "bundle", vectors=tmp_path / "vectors")


def png_array(data: bytes | str) -> np.ndarray:
    """PNG bytes or a data URL -> uint8 array as stored ([H, W, 3] or [H, W])."""
    if isinstance(data, str):
        data = base64.b64decode(data.split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im)


def labels_array(b64: str, shape) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype=np.uint8).reshape(shape).astype(np.int64)


def labels_b64(labels) -> str:
    return base64.b64encode(np.asarray(labels, dtype=np.uint8).tobytes()).decode()


def follow(client, job_id: str) -> list[dict]:
    """All events of a job, read from its SSE stream until the final one."""
    events = []
    with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


def suggested(client, **body) -> dict:
    """Run a suggest job (POST /api/annotations/suggest) to its end -> its final event."""
    r = client.post("/api/annotations/suggest", json=body)
    assert r.status_code == 202, r.text
    return follow(client, r.json()["job_id"])[-1]
