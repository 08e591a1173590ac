"""Issue 12 #5: every request body is bounded, and a 413 comes before it is read.

A 300 MB ``POST /tasks`` used to be read whole, stored, and served back by every
``GET /tasks``. Now a declared length over ``[web] max-body-bytes`` (1 MiB by
default) is refused before a byte of the body is read, a chunked body as it passes
the limit, and nothing is stored. Uploads keep their own ``max-upload-bytes``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from webkit import asgi_answer, plugin_files, write_zip

MIB = 1024 * 1024


def _task(path: Path, padding: int = 0) -> dict[str, Any]:
    return {
        "func": "webfuncs:record",
        "trigger_args": {"hours": 1},
        "kwargs": {"path": str(path), "tag": "x" * padding},
    }


def test_a_declared_oversize_json_body_is_413_before_it_is_read(
    serve: Callable[..., Any],
) -> None:
    client = serve(scheduler=False)
    # 5 MiB declared, not one byte sent: an application that read the body would wait.
    headers = [("content-type", "application/json"), ("content-length", str(5 * MIB))]
    status, body, reads = asgi_answer(client.app, "POST", "/tasks", headers)
    assert status == 413, body[:300]
    assert reads == 0
    assert json.loads(body)["detail"]["error"] == "RequestTooLarge"
    assert client.get("/tasks").json() == []


def test_a_chunked_oversize_json_body_is_413_as_it_passes_the_limit(
    serve: Callable[..., Any],
) -> None:
    client = serve(scheduler=False)
    headers = [("content-type", "application/json"), ("transfer-encoding", "chunked")]
    chunk = b"[" + b" " * (64 * 1024)
    # Just past 1 MiB, and the request never ends (no last chunk).
    status, body, reads = asgi_answer(client.app, "POST", "/tasks", headers, [chunk] * 20)
    assert status == 413, body[:300]
    assert reads == -(-(MIB + 1) // len(chunk))  # refused at the chunk that passed the limit
    assert client.get("/tasks").json() == []


def test_a_real_oversize_body_is_refused_and_nothing_is_stored(
    serve: Callable[..., Any], tmp_path: Path
) -> None:
    client = serve(scheduler=False)
    big = client.post("/tasks", json=_task(tmp_path / "out", padding=3 * MIB))
    assert big.status_code == 413, big.text[:300]
    detail = big.json()["detail"]
    assert detail["error"] == "RequestTooLarge"
    assert str(MIB) in detail["message"]
    assert "max-body-bytes" in detail["fix"]
    assert client.get("/tasks").json() == []
    # Just under the limit: accepted.
    fits = client.post("/tasks", json=_task(tmp_path / "out", padding=MIB - 4096))
    assert fits.status_code == 201, fits.text[:300]


def test_the_limit_is_configurable(
    config_file: Path, serve: Callable[..., Any], tmp_path: Path
) -> None:
    with config_file.open("a", encoding="utf-8") as handle:
        handle.write("[web]\nmax-body-bytes = 4096\n")
    client = serve(scheduler=False)
    assert client.post("/tasks", json=_task(tmp_path / "o", padding=8192)).status_code == 413
    assert client.post("/tasks", json=_task(tmp_path / "o", padding=100)).status_code == 201
    # The argument wins over the table.
    other = serve(scheduler=False, max_body_bytes=16384)
    body = {**_task(tmp_path / "o", padding=8192), "id": "padded"}
    assert other.post("/tasks", json=body).status_code == 201


def test_a_plugin_route_is_bounded_and_an_upload_keeps_its_own_limit(
    serve: Callable[..., Any], tmp_path: Path
) -> None:
    client = serve(scheduler=False, max_body_bytes=4096)
    # A zip bigger than max-body-bytes (stored, not compressed): uploads are bounded
    # by max-upload-bytes (32 MiB) instead.
    files: dict[str, str | bytes] = {**plugin_files("bigplug"), "bigplug/blob.bin": os.urandom(MIB)}
    path = tmp_path / "bigplug.zip"
    write_zip(path, files)
    assert path.stat().st_size > MIB
    installed = client.post(
        "/plugins/upload", files={"file": ("bigplug.zip", path.read_bytes())}, params={"enable": 1}
    )
    assert installed.status_code == 201, installed.text[:300]
    assert client.get("/plugins/bigplug/hello").status_code == 200
    # The plugin's own routes are bounded like the API's.
    refused = client.post("/plugins/bigplug/hello", content=b"x" * 8192)
    assert refused.status_code == 413
    assert refused.json()["detail"]["error"] == "RequestTooLarge"
    headers = [("content-length", str(5 * MIB))]
    status, _body, reads = asgi_answer(client.app, "POST", "/plugins/bigplug/hello", headers)
    assert (status, reads) == (413, 0)
