"""The first import of an uncached extension: offline-first resolution, the per-key
lock, and what that path imports (tuned by the benchmarks, see benchmarks/README.md).
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import lazyext
from lazyext import _use
from lazyext._errors import LockTimeout
from lazyext._store import locks as _locks

from support import Wheelhouse, python_env, run_python


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Index:
    """The wheelhouse as a PEP 503 index whose pages are always stale (``max-age=0``), as
    a real index's are once uv's freshness window has passed; every request is counted."""

    def __init__(self, wheels: Path) -> None:
        self.requests: list[str] = []
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                self.answer(body=False)

            def do_GET(self) -> None:
                self.answer(body=True)

            def answer(self, *, body: bool) -> None:
                index.requests.append(self.path)
                parts = [p for p in self.path.split("/") if p]
                if parts[:1] == ["simple"] and len(parts) == 2:
                    # With the files' hashes, as PyPI's pages have them: a resolution
                    # into a lock with hashes then needs no download.
                    links = "".join(
                        f'<a href="/files/{w.name}#sha256={_sha256(w)}">{w.name}</a>\n'
                        for w in sorted(wheels.glob("*.whl"))
                        if w.name.split("-")[0].lower() == parts[1].replace("-", "_")
                    )
                    data, cache = links.encode(), "max-age=0"
                elif parts[:1] == ["files"] and (wheels / parts[-1]).is_file():
                    data, cache = (wheels / parts[-1]).read_bytes(), "max-age=31536000, immutable"
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                kind = "text/html" if parts[0] == "simple" else "application/octet-stream"
                self.send_header("Content-Type", kind)
                self.send_header("Cache-Control", cache)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def index(wheelhouse: Wheelhouse) -> Iterator[_Index]:
    served = _Index(wheelhouse.path)
    served.thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


def test_offline_first_installs_from_uv_cache_without_asking_the_index(
    index: _Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    first = lazyext.ensure("alpha", cache_dir=tmp_path / "one", index_url=index.url)
    assert index.requests  # uv's cache was empty: the offline try missed, uv went online
    assert (first / "alpha" / "__init__.py").is_file()
    index.requests.clear()
    second = lazyext.ensure("alpha", cache_dir=tmp_path / "two", index_url=index.url)
    assert (second / "alpha" / "__init__.py").is_file()
    assert index.requests == []  # served by uv's cache: not even a revalidation


def test_a_refresh_resolves_online(
    index: _Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lazyext import _api
    from lazyext._env import provision as _provision

    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    lazyext.ensure("alpha", cache_dir=tmp_path / "c", index_url=index.url)
    index.requests.clear()
    config = _api.config_for({"cache_dir": str(tmp_path / "c"), "index_url": index.url})
    plan = _use.plan_for("alpha", config)
    _provision.provision(plan, config.settings, config.platform, refresh=True)
    assert any(path.startswith("/simple/alpha") for path in index.requests)


def test_first_import_of_an_uncached_extension_stays_light(
    wheelhouse: Wheelhouse, cache_dir: Path
) -> None:
    code = f"""
        import os, sys, lazyext
        lazyext.activate({{"alpha": "alpha"}}, find_links=[{str(wheelhouse.path)!r}],
                         no_index=True)
        import alpha
        # (subprocess itself brings re, through locale. The per-key lock is fcntl's on
        # POSIX: filelock would bring logging, typing, inspect and pathlib, 35-40 ms.)
        heavy = ("packaging", "shutil", "platformdirs", "tomllib", "sqlite3", "apscheduler")
        if os.name == "posix":
            heavy += ("filelock", "typing", "logging", "inspect", "pathlib", "compileall")
            # posix_spawn instead of subprocess; entry.json without json; class-based
            # locks without contextlib (benchmarks/README.md, "Cold path profile").
            # (The RECORD check before publish reads plain lines without csv, hashes
            # without base64: both import re.)
            heavy += ("subprocess", "json", "contextlib", "signal", "threading", "re", "csv")
            # collections.abc brings collections (~3 ms), importlib its package and
            # warnings: the frozen importlib modules serve lazyext instead.
            heavy += ("collections", "importlib.machinery")
        print(alpha.NAME, sorted(m for m in heavy if m in sys.modules))
    """
    run_python(code)  # the first process compiles the config; the next is the common case
    lazyext.invalidate("alpha", **wheelhouse.options(cache_dir))
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split(None, 1) == ["alpha", "[]\n"]


HOLD = """
    import sys, time
    from lazyext._store import locks as _locks
    with _locks.key_lock(sys.argv[1], "k", 30):
        print("held", flush=True)
        sys.stdin.readline()
        if sys.argv[2] == "unlink":
            import os
            os.unlink(os.path.join(sys.argv[1], "locks", "k.lock"))
"""


def _holder(root: Path, mode: str = "") -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLD), str(root), mode or "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=python_env(),
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "held\n"
    return child


def _release(child: subprocess.Popen[str]) -> None:
    child.communicate("\n", timeout=30)  # also closes the pipes
    assert child.returncode == 0


def test_key_lock_and_gc_try_lock_exclude_each_other(tmp_path: Path, lock_backend: str) -> None:
    root = tmp_path / "cache"
    root.mkdir(mode=0o700)
    child = _holder(root)
    try:
        with _locks.try_key_lock(str(root), "k") as free:  # gc's filelock-based try-lock
            assert free is False
        with (
            pytest.raises(LockTimeout, match=f"process {child.pid}"),
            _locks.key_lock(str(root), "k", 0.2),
        ):
            pass
    finally:
        _release(child)
    with _locks.try_key_lock(str(root), "k") as free:
        assert free is True


def test_a_lock_file_unlinked_while_waiting_is_locked_anew(
    tmp_path: Path, lock_backend: str
) -> None:
    root = tmp_path / "cache"
    root.mkdir(mode=0o700)
    child = _holder(root, "unlink")
    got: list[bool] = []
    release = threading.Event()

    def wait_for_it() -> None:
        with _locks.key_lock(str(root), "k", 30):
            got.append(True)
            release.wait(30)

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    try:
        _release(child)  # unlinks the file it holds, then exits
        for _ in range(300):
            if got:
                break
            threading.Event().wait(0.01)
        assert got
        # The waiter holds the file now at that path, not the unlinked one.
        assert os.path.isfile(root / "locks" / "k.lock")
        with _locks.try_key_lock(str(root), "k") as free:
            assert free is False
    finally:
        release.set()
        waiter.join(30)
