"""Helpers of the web tests: a real uvicorn server in a thread, and test plugins.

Nothing here imports FastAPI or uvicorn at module level, so the test modules can
skip cleanly (``pytest.importorskip``) when the ``web`` extra is not installed.
"""

from __future__ import annotations

import socket
import threading
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TOKEN = "test-token-0123456789abcdef"


class LiveServer:
    """``app`` served by uvicorn on 127.0.0.1, on a port bound before it starts."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start (see the log above)")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()
        assert not self.thread.is_alive(), "the server did not stop"


def port_of(client: Any) -> int:
    """The port of the server an httpx client talks to."""
    return int(client.base_url.port)


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
