"""`editgan serve`: its options reach the app (uvicorn itself is replaced by a recorder), bad ones exit 1."""

import uvicorn
from fastapi.testclient import TestClient

from edit_fixtures import make_tiny_segmenter, write_edit_bundle
from editgan.cli import main


def test_serve_builds_the_app_from_its_options(tmp_path, tiny_generator, monkeypatch, capsys):
    write_edit_bundle(tmp_path / "b", tiny_generator, make_tiny_segmenter(tiny_generator))
    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.update(app=app, **kw))
    assert main(["serve", "--bundle", str(tmp_path / "b"), "--vectors", str(tmp_path / "lib"), "--port", "8123",
                 "--max-upload-mb", "0.5", "--precision", "bf16"]) == 0
    assert started["host"] == "127.0.0.1" and started["port"] == 8123
    assert "open http://127.0.0.1:8123/" in capsys.readouterr().out
    with TestClient(started["app"]) as client:
        info = client.get("/api/info").json()
        assert info["bundle"] == "b" and info["max_upload_bytes"] == 512 * 1024
        assert info["precision"] == "bf16" and info["device"] == "cpu"
    assert started["app"].state.service.editor.library.directory == tmp_path / "lib"


def test_serve_refuses_bad_options(tmp_path, capsys):
    assert main(["serve", "--port", "70000"]) == 1
    assert "--port must be in 0..65535" in capsys.readouterr().err
    assert main(["serve", "--bundle", str(tmp_path / "missing")]) == 1
    assert "no bundle at" in capsys.readouterr().err
