"""Helpers of the web tests: clients of the application in-process, and test plugins.

Nothing here imports FastAPI or the test client at module level, so the test modules
can skip cleanly (``pytest.importorskip``) when the ``web`` extra is not installed.
"""

from __future__ import annotations

import socket
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TOKEN = "test-token-0123456789abcdef"
#: What the in-process client calls: a loopback host, as a local client would.
BASE_URL = "http://127.0.0.1"


@contextmanager
def client_of(app: Any, *, headers: Mapping[str, str] | None = None) -> Iterator[Any]:
    """A client of ``app`` in this process, its lifespan run (managers started on
    entry, stopped on exit); server errors are raised, not answered with a 500."""
    from fastapi.testclient import TestClient

    with TestClient(app, base_url=BASE_URL, headers=dict(headers or {})) as client:
        yield client


def asgi_answer(
    app: Any,
    method: str,
    path: str,
    headers: Sequence[tuple[str, str]],
    chunks: Sequence[bytes] = (),
) -> tuple[int, bytes, int]:
    """Call ``app`` with a request whose body never ends: ``chunks``, then nothing.

    Returns the status, the response body and how many times the body was read. An
    application that waited for the rest of the body would never answer: a deadline
    fails the test instead of hanging it."""
    import anyio

    reads = 0
    sent: list[dict[str, Any]] = []
    pending = list(chunks)

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        if pending:
            return {"type": "http.request", "body": pending.pop(0), "more_body": True}
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            *((k.lower().encode(), v.encode()) for k, v in headers),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }

    async def call() -> None:
        with anyio.fail_after(30):
            await app(scope, receive, send)

    anyio.run(call)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, reads


def raw_request(port: int, head: bytes, body: bytes = b"") -> bytes:
    """Send ``head`` (and ``body``), leave the request unfinished, read the answer.

    A server that waited for the rest of the body would never answer: the socket's
    timeout fails the test instead of hanging it."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(head + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


ROUTER = """
from fastapi import APIRouter

router = APIRouter()


@router.get("/hello")
def hello(name: str = "world") -> dict:
    return {{"hello": name, "version": {version!r}}}
"""

PLUGIN = """
VERSION = {version!r}


class Plugin:
    {router_attribute}

    def on_enable(self):
        {on_enable}
"""


def plugin_files(
    package: str,
    *,
    version: str = "1.0",
    router_in: str = "package",
    on_enable: str = "pass",
    plugin_id: str | None = None,
) -> dict[str, str]:
    """A plugin whose ``router`` (GET /hello) lives in its package, on its entry
    object (``"entry"``), in its entry module (``"module"``), in a submodule named
    ``router`` (``"submodule"``) or nowhere (``"none"``)."""
    info = {"id": plugin_id or package, "version": version}
    init = f"PLUGIN_INFO = {info!r}\n"
    router_attribute = "pass"
    if router_in == "package":
        init += ROUTER.format(version=version)
    elif router_in == "entry":
        router_attribute = f"from {package}._routes import router"
    files = {
        f"{package}/__init__.py": init,
        f"{package}/run.py": PLUGIN.format(
            version=version, router_attribute=router_attribute, on_enable=on_enable
        ),
    }
    if router_in == "entry":
        files[f"{package}/_routes.py"] = ROUTER.format(version=version)
    elif router_in == "module":
        files[f"{package}/run.py"] += ROUTER.format(version=version)
    elif router_in == "submodule":
        files[f"{package}/router.py"] = ROUTER.format(version=version)
        files[f"{package}/run.py"] = (
            f"from {package} import router as _routes\n" + files[f"{package}/run.py"]
        )
    return files


def write_zip(path: Path, files: Mapping[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return path


def zip_bytes(path: Path, files: Mapping[str, str | bytes]) -> bytes:
    return write_zip(path, files).read_bytes()
