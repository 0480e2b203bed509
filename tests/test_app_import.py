"""Annotation imports over the API against what a fuzz found: hostile files inside the zip answer
400 naming the file (never 500 or 409), a malformed index entry is refused so it cannot poison later
requests, and an import runs as a job with progress that adds everything or nothing."""

import io
import json
import struct
import zipfile
import zlib

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from annotation_fixtures import annotate, new_domain
from app_fixtures import follow, suggested
from edit_fixtures import SCHEME

from editgan.annotate.transfer import export_annotations
from editgan.app.annotation_service import IMPORT_OWNER, AnnotationService
from editgan.app import create_app
from editgan.io.masks import read_mask


@pytest.fixture
def world(tmp_path):
    editor, store = new_domain(tmp_path)
    annotate(editor, store, [1, 2])
    export_annotations(store, SCHEME, tmp_path / "set.zip")
    for m in store.list():
        store.delete(m["id"])
    with TestClient(create_app(editor, max_upload_bytes=400_000)) as client:
        yield editor, client, store, (tmp_path / "set.zip").read_bytes()


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name: z.read(name) for name in z.namelist()}


def rezip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def post(client, data: bytes, name="set.zip"):
    return client.post("/api/annotations/import", files={"file": (name, data)})


def refused(r, text):
    assert r.status_code == 400, (r.status_code, r.text)
    detail = r.json()["detail"]
    assert text in detail and "\n" not in detail, detail


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def test_a_huge_mask_is_refused_from_its_header(world, tmp_path):
    _, client, store, data = world
    files = members(data)
    files["masks/a0001.png"] = png_claiming(30000, 30000)
    refused(post(client, rezip(files)), "set.zip/masks/a0001.png claims more pixels than PIL decodes safely")
    files["masks/a0001.png"] = png_claiming(5000, 4000)  # under PIL's bomb limit: refused by size, not decoded
    refused(post(client, rezip(files)), "set.zip/masks/a0001.png is 4000x5000 (HxW), the segmenter labels 32x32")
    np.save(tmp_path / "big.npy", np.zeros((1, 1), np.uint8))
    header = (tmp_path / "big.npy").read_bytes().replace(b"(1, 1)", b"(30000, 30000)")
    files["masks/a0001.npy"] = header
    del files["masks/a0001.png"]
    refused(post(client, rezip(files)), "set.zip/masks/a0001.npy")  # never allocated: the header is read alone
    assert store.list() == []


def test_read_mask_checks_the_header_before_decoding(tmp_path, monkeypatch):
    (tmp_path / "m.png").write_bytes(png_claiming(30000, 30000))
    decoded = []
    monkeypatch.setattr("editgan.io.masks._decode", lambda *a: decoded.append(a))
    with pytest.raises(Exception, match="claims more pixels"):
        read_mask(tmp_path / "m.png", SCHEME, (32, 32))
    Image.new("L", (64, 32)).save(tmp_path / "w.png")
    with pytest.raises(Exception, match="is 32x64"):
        read_mask(tmp_path / "w.png", SCHEME, (32, 32))
    assert decoded == []


def test_a_deeply_nested_index_is_a_400(world):
    _, client, store, data = world
    files = members(data)
    files["annotations.json"] = b"[" * 100_000 + b"]" * 100_000
    refused(post(client, rezip(files)), "set.zip/annotations.json nests too deep to read")
    files["annotations.json"] = b'{"format": "editgan-annotations", "annotations": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    refused(post(client, rezip(files)), "annotations.json nests too deep")
    files["annotations.json"] = b"{not json"
    refused(post(client, rezip(files)), "set.zip/annotations.json is not valid JSON")
    assert store.list() == []


@pytest.mark.parametrize("field, value, message", [
    ("seed", [1], "annotation 'a0001': seed must be an integer in [0, 2^63 - 1] or null, got a JSON array"),
    ("seed", True, "seed must be an integer"),
    ("seed", 2**64, "seed must be an integer"),
    ("seed", -1, "seed must be an integer"),
    ("seed", 1.5, "seed must be an integer"),
    ("psi", "1", "psi must be a number in [0, 2] or null, got \"1\""),
    ("psi", 1e308 * 10, "psi must be a number"),
    ("source", {"a": 1}, "source must be a text"),
    ("source", "x" * 1000, "source must be a text of at most 200 characters"),
    ("created", 5, "created must be an ISO 8601 time"),
    ("created", "yesterday", "created must be an ISO 8601 time"),
])
def test_every_imported_field_is_validated(world, field, value, message):
    _, client, store, data = world
    files = members(data)
    index = json.loads(files["annotations.json"])
    index["annotations"]["a0001"][field] = value
    files["annotations.json"] = json.dumps(index).encode()
    refused(post(client, rezip(files)), message)
    assert store.list() == []
    assert suggested(client, count=1, candidates=3)["event"] == "done"


def test_a_malformed_stored_seed_never_breaks_suggest(world):
    _, client, store, data = world
    follow(client, post(client, data).json()["job_id"])
    index = json.loads((store.root / "annotations.json").read_text())
    index["annotations"]["a0001"]["seed"] = [1]  # written by an older release, or by hand
    (store.root / "annotations.json").write_text(json.dumps(index))
    for _ in range(2):
        done = suggested(client, count=2, candidates=4)
        assert done["event"] == "done" and len(done["suggestions"]) == 2


def test_a_bad_entry_or_file_is_400_not_409(world):
    _, client, store, data = world
    files = members(data)
    index = json.loads(files["annotations.json"])
    index["annotations"]["a0001"] = 7
    refused(post(client, rezip({**files, "annotations.json": json.dumps(index).encode()})),
            "annotation 'a0001': its index entry must be a JSON object")
    refused(post(client, rezip({**files, "latents.safetensors": b"garbage"})), "set.zip/latents.safetensors")
    refused(post(client, rezip({**files, "tunings/a0001.safetensors": b"garbage"})), "set.zip/tunings/a0001")
    index = json.loads(files["annotations.json"])
    index["scheme"] = 5
    refused(post(client, rezip({**files, "annotations.json": json.dumps(index).encode()})), "set.zip")
    assert store.list() == []


def test_import_is_a_job_with_progress_and_all_or_nothing(world):
    editor, client, store, data = world
    r = post(client, data)
    assert r.status_code == 202 and r.json()["count"] == 2
    events = follow(client, r.json()["job_id"])
    steps = [e["step"] for e in events if e["event"] == "progress"]
    assert steps == [1, 2] and all(e["total"] == 2 for e in events if e["event"] == "progress")
    assert events[-1]["event"] == "done" and [m["id"] for m in events[-1]["imported"]] == ["a0001", "a0002"]
    assert [m["seed"] for m in store.list()] == [1, 2]
    refused(post(client, data), "set.zip: annotation ids already in this bundle: a0001, a0002")



def test_a_cancelled_import_adds_nothing(world, monkeypatch):
    _, client, store, data = world
    jobs = client.app.state.service.jobs
    render = AnnotationService._image

    def cancelling(self, *args):  # the user cancels while the first image renders
        jobs.cancel(jobs.active(IMPORT_OWNER).id)
        return render(self, *args)
    monkeypatch.setattr(AnnotationService, "_image", cancelling)
    events = follow(client, post(client, data).json()["job_id"])
    assert events[-1]["event"] == "cancelled" and [e["step"] for e in events if e["event"] == "progress"] == [1]
    assert store.list() == [] and not (store.root / "masks" / "a0002.png").exists()
