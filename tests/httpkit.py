"""A file server on 127.0.0.1 for registry and wheel tests: ETags, ranges, faults.

``Served(files)`` serves ``files`` (path -> bytes) at ``http://127.0.0.1:N/<path>``:

* an ``ETag`` per body; ``If-None-Match`` with it answers 304 (``not_modified`` counts);
* ``Range: bytes=-N`` and ``bytes=A-B`` answer 206 with ``Content-Range`` (unless
  ``ranges=False``, when the whole body answers 200, as some servers do);
* ``redirects`` maps a path to a ``Location`` (302); ``status`` forces an answer code.

Every request is recorded (``requests``: ``(path, headers)``), so tests prove a cache
hit or an offline run by counting.
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Served:
    def __init__(self, files: dict[str, bytes], *, ranges: bool = True) -> None:
        self.files = files
        self.ranges = ranges
        self.redirects: dict[str, str] = {}
        self.status: int | None = None
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.not_modified = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/{path}"

    def __enter__(self) -> Served:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.lstrip("/")
        self.requests.append((path, dict(request.headers.items())))
        if self.status is not None:
            return self._send(request, self.status, b"forced\n")
        if path in self.redirects:
            return self._send(request, 302, b"", {"Location": self.redirects[path]})
        body = self.files.get(path)
        if body is None:
            return self._send(request, 404, b"not found\n")
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            self.not_modified += 1
            return self._send(request, 304, b"", {"ETag": etag})
        wanted = request.headers.get("Range", "")
        if self.ranges and wanted.startswith("bytes="):
            first, _, last = wanted[len("bytes=") :].partition("-")
            if not first:
                start, end = max(0, len(body) - int(last)), len(body) - 1
            else:
                start, end = int(first), min(int(last or len(body) - 1), len(body) - 1)
            headers = {"Content-Range": f"bytes {start}-{end}/{len(body)}", "ETag": etag}
            return self._send(request, 206, body[start : end + 1], headers)
        return self._send(request, 200, body, {"ETag": etag})

    @staticmethod
    def _send(
        request: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        request.send_response(status)
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def count(self, path: str) -> int:
        return sum(1 for seen, _ in self.requests if seen == path)
