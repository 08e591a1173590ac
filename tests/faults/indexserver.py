"""A local PEP 503 "simple" index on 127.0.0.1 with fault injection.

Serves the ``*.whl`` and ``*.tar.gz`` files of a directory::

    /simple/                    the project list
    /simple/<project>/          links to the project's files, with ``#sha256=`` fragments
    /files/<filename>           the file itself

Faults, set by the test while the server runs:

* ``fail(times, status=503)``: the next ``times`` requests answer ``status``;
* ``hold()``: every request waits (without answering) until ``release()`` or ``stop()``,
  a response slower than any install timeout;
* a *refused* address is :func:`refused_url`: a port on which nothing listens.

Every request is recorded (``requests``), so tests can prove retries, failure memory and
offline mode by counting.
"""

from __future__ import annotations

import hashlib
import html
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_MAX_HOLD = 120.0  # a held request never outlives a test run by much


def _project(filename: str) -> str:
    stem = filename[: -len(".whl")] if filename.endswith(".whl") else filename
    stem = stem.removesuffix(".tar.gz")
    name = stem.split("-")[0] if filename.endswith(".whl") else stem.rpartition("-")[0]
    return re.sub(r"[-_.]+", "-", name).lower()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # clients that hang up (uv after a timeout) are expected here


class IndexServer:
    """``with IndexServer(directory) as server: server.url`` is ``http://127.0.0.1:N/simple``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._failures: list[int] = []
        self._release = threading.Event()
        self._release.set()
        self.held = 0  # requests currently held
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server._handle(self, body=True)

            def do_HEAD(self) -> None:
                server._handle(self, body=False)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- lifecycle --------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple"

    def start(self) -> IndexServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> IndexServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults -----------------------------------------------------------------

    def fail(self, times: int, status: int = 503) -> None:
        with self._lock:
            self._failures.extend([status] * times)

    def hold(self) -> None:
        self._release.clear()

    def release(self) -> None:
        self._release.set()

    def count(self, prefix: str = "/") -> int:
        with self._lock:
            return sum(1 for path in self.requests if path.startswith(prefix))

    # -- serving ----------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler, *, body: bool) -> None:
        with self._lock:
            self.requests.append(request.path)
            status = self._failures.pop(0) if self._failures else None
        if not self._release.is_set():
            with self._lock:
                self.held += 1
            self._release.wait(_MAX_HOLD)
            return  # the client gave up long ago; answer nothing
        if status is not None:
            self._send(request, status, b"injected failure\n", "text/plain", head=not body)
            return
        path = request.path.split("?", 1)[0]
        if path in ("/simple", "/simple/"):
            self._send(request, 200, self._project_list(), "text/html", head=not body)
        elif path.startswith("/simple/"):
            page = self._project_page(path[len("/simple/") :].strip("/"))
            if page is None:
                self._send(request, 404, b"not found\n", "text/plain", head=not body)
            else:
                self._send(request, 200, page, "text/html", head=not body)
        elif path.startswith("/files/"):
            file = self.directory / path[len("/files/") :]
            if "/" in path[len("/files/") :] or not file.is_file():
                self._send(request, 404, b"not found\n", "text/plain", head=not body)
            else:
                self._send(
                    request, 200, file.read_bytes(), "application/octet-stream", head=not body
                )
        else:
            self._send(request, 404, b"not found\n", "text/plain", head=not body)

    def _files(self) -> list[Path]:
        return sorted(p for p in self.directory.iterdir() if p.name.endswith((".whl", ".tar.gz")))

    def _project_list(self) -> bytes:
        names = sorted({_project(p.name) for p in self._files()})
        links = "".join(f'<a href="/simple/{n}/">{n}</a>\n' for n in names)
        return f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode()

    def _project_page(self, project: str) -> bytes | None:
        wanted = re.sub(r"[-_.]+", "-", project).lower()
        files = [p for p in self._files() if _project(p.name) == wanted]
        if not files:
            return None
        links = "".join(
            f'<a href="/files/{html.escape(p.name)}#sha256='
            f'{hashlib.sha256(p.read_bytes()).hexdigest()}">{html.escape(p.name)}</a>\n'
            for p in files
        )
        return f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode()

    @staticmethod
    def _send(
        request: BaseHTTPRequestHandler, status: int, body: bytes, kind: str, *, head: bool
    ) -> None:
        request.send_response(status)
        request.send_header("Content-Type", kind)
        request.send_header("Content-Length", str(len(body)))
        # Like PyPI: pages may be cached for a while (so uv can work offline later),
        # failures never.
        request.send_header("Cache-Control", "max-age=600" if status == 200 else "no-store")
        request.end_headers()
        if not head:
            request.wfile.write(body)


def refused_url() -> str:
    """An index URL on 127.0.0.1 where nothing listens: connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/simple"
