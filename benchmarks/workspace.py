"""The benchmark workspace under ``benchmarks/.work``: wheels, caches, a local index.

Everything is built locally (no network): wheels with :func:`lazyext._wheels.build_wheel`,
served either as a ``find-links`` directory or by a PEP 503 index on 127.0.0.1 that
answers after a fixed delay (a stand-in for a real index's round trip). uv gets a
dedicated ``UV_CACHE_DIR`` inside the workspace: "uv cache warm" is that directory
populated, "cold" is an empty one.
"""

from __future__ import annotations

import http.server
import itertools
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from benchmarks.harness import quiet_env
from lazyext._uv.command import uv_binary
from lazyext._wheels import build_wheel

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "benchmarks" / ".work"

#: Extensions for B1, B2 and B7: ``bench-ext-NNN`` provides ``bextNNN``.
EXTENSIONS = 100
#: Extensions for B5.
WARM_SET = 8
#: Modules of B4's large wheel (``bench-big``).
BIG_MODULES = 1500


def ext_module(index: int) -> str:
    return f"bext{index:03d}"


def ext_requirement(index: int) -> str:
    return f"bench-ext-{index:03d}>=1"


def warm_module(index: int) -> str:
    return f"bwarm{index}"


def module_source(index: int, imports: str = "") -> str:
    """A plausible library module: functions, a class, a table (~80 lines)."""
    lines = [f'"""Generated module {index}."""', "import functools", imports, ""]
    for j in range(10):
        lines += [
            f"def function_{j}(value, *, scale={j}):",
            '    """Scale a value."""',
            "    total = 0",
            "    for item in range(scale):",
            "        total += item * value",
            f"    return total + {j}",
            "",
        ]
    lines += [
        f"class Thing{index}:",
        "    def __init__(self, x):",
        "        self.x = x",
        "",
        "    @functools.cached_property",
        "    def double(self):",
        "        return self.x * 2",
        "",
        "    def __repr__(self):",
        "        return f'Thing({self.x})'",
        "",
        "TABLE = {" + ", ".join(f"{k}: {k * k}" for k in range(40)) + "}",
        "",
    ]
    return "\n".join(lines)


def package_files(package: str, modules: int, imports: str = "") -> dict[str, str]:
    files = {f"{package}/m{i:02d}.py": module_source(i, imports) for i in range(modules)}
    body = "".join(f"from {package} import m{i:02d}\n" for i in range(modules))
    files[f"{package}/__init__.py"] = f'"""{package}."""\n{imports}\n{body}VERSION = "1.0"\n'
    return files


def build_wheels(directory: Path) -> None:
    """The benchmark wheels (pure Python, deterministic)."""
    for index in range(EXTENSIONS):
        module = ext_module(index)
        build_wheel(
            directory,
            f"bench-ext-{index:03d}",
            "1.0",
            {f"{module}/__init__.py": f"VALUE = {index}\n", f"{module}/util.py": "X = 1\n"},
        )
    # B3, B4, B6: a library of yaml's size (26 modules) with a dependency (8 modules).
    build_wheel(directory, "bench-realdep", "1.0", package_files("benchrealdep", 8))
    build_wheel(
        directory,
        "bench-real",
        "1.0",
        package_files("benchreal", 25, "import benchrealdep"),
        requires=["bench-realdep>=1"],
    )
    for index in range(WARM_SET):
        module = warm_module(index)
        build_wheel(directory, f"bench-warm-{index}", "1.0", package_files(module, 12))
    # B4's sizes: one module, and a package of 1,500 (issue 11).
    build_wheel(directory, "bench-one", "1.0", {"benchone.py": module_source(0)})
    big = {f"benchbig/m{i:04d}.py": module_source(i) for i in range(BIG_MODULES - 1)}
    big["benchbig/__init__.py"] = '"""1,500 modules; importing the package loads one."""\n'
    build_wheel(directory, "bench-big", "1.0", big)


class Workspace:
    """Paths, environments and the local index for one benchmark run."""

    def __init__(self, root: Path = WORK) -> None:
        self.root = root
        self.wheels = root / "wheels"
        self.uv_warm = root / "uv-cache"
        self.cache_warm = root / "lazyext-cache"
        self.cwd = root / "cwd"
        self.scratch = root / "scratch"
        self.uv = uv_binary()
        self._counter = itertools.count()
        self.index_url = ""

    # -- setup --------------------------------------------------------------------

    def prepare(self) -> None:
        for path in (self.wheels, self.scratch, self.cwd):
            shutil.rmtree(path, ignore_errors=True)
        # The wheels are rebuilt (new hashes): caches whose compiled config pinned the
        # old ones (a resolved environment is hash-checked) start over.
        if self.root.is_dir():
            for path in self.root.iterdir():
                if path.name.startswith(("cold-", "b3-", "b6-")) and path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        for path in (self.wheels, self.scratch, self.cwd):
            path.mkdir(mode=0o700)
        build_wheels(self.wheels)
        # Real installs ship .pyc files; this checkout is editable and the machine sets
        # PYTHONDONTWRITEBYTECODE=1, so lazyext's own modules are compiled explicitly.
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(REPO / "src" / "lazyext")],
            check=True,
        )

    def fresh(self, what: str) -> Path:
        """A new empty private directory under scratch/."""
        path = self.scratch / f"{what}-{next(self._counter)}"
        path.mkdir(mode=0o700)
        return path

    def cold_cache(self, name: str) -> Path:
        """A lazyext cache that has been used (its compiled config memo is kept) but
        holds no installs: the state in which an extension is first imported."""
        path = self.root / f"cold-{name}"
        path.mkdir(mode=0o700, exist_ok=True)
        for child in ("entries", "staging", "views", "locks"):
            shutil.rmtree(path / child, ignore_errors=True)
        return path

    def clean_scratch(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch.mkdir(mode=0o700)

    # -- environments -------------------------------------------------------------

    def env(
        self, *, cache: Path | None = None, uv_cache: Path | None = None, bytecode: bool = False
    ) -> dict[str, str]:
        """``bytecode``: let the interpreter write ``.pyc`` files (a user's default);
        otherwise ``PYTHONDONTWRITEBYTECODE=1``, as on the machines measured on."""
        env = quiet_env()
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if not bytecode:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["UV_CACHE_DIR"] = str(uv_cache or self.uv_warm)
        env["LAZYEXT_CACHE_DIR"] = str(cache or self.cache_warm)
        env["LAZYEXT_DATA_DIR"] = str(self.root / "data")
        return env

    def sources(self, *, index: bool = False) -> str:
        """``activate()`` keyword arguments (as source text) for the wheel source."""
        if index:
            return f"index_url={self.index_url!r}"
        return f"find_links=[{str(self.wheels)!r}], no_index=True"

    def uv_argv(
        self, requirement: str, target: Path, *more: str, index: bool | None = False
    ) -> list[str]:
        """The raw uv command a user would run instead of lazyext: ``uv pip install
        --target DIR REQ`` with uv's defaults (link mode, no bytecode), the same
        interpreter and sources. ``index=None``: uv's default index (PyPI)."""
        argv = [
            self.uv,
            "pip",
            "install",
            "--no-config",
            "--python",
            sys.executable,
            "--target",
            str(target),
            "--quiet",
            "--no-build",
        ]
        if index:
            argv += ["--index-url", self.index_url]
        elif index is not None:
            argv += ["--find-links", str(self.wheels), "--no-index"]
        return [*argv, "--", requirement, *more]

    def pip_argv(self, requirement: str, target: Path) -> list[str]:
        """pip's install into a site directory (pip compiles bytecode): B3's baseline."""
        return [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
            str(self.wheels),
            "--target",
            str(target),
            "--",
            requirement,
        ]

    # -- the local index ----------------------------------------------------------

    @contextmanager
    def index(self, latency: float) -> Iterator[str]:
        """Serve the wheels as a simple index on 127.0.0.1, each answer after ``latency``."""
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.wheels, latency))
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.index_url = f"http://127.0.0.1:{server.server_address[1]}/simple"
        try:
            yield self.index_url
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def _handler(wheels: Path, latency: float) -> type[http.server.BaseHTTPRequestHandler]:
    files: dict[str, list[str]] = {}
    for wheel in sorted(os.listdir(wheels)):
        project = wheel.split("-")[0].replace("_", "-").lower()
        files.setdefault(project, []).append(wheel)

    class Handler(http.server.BaseHTTPRequestHandler):
        """PEP 503 pages and wheel files with PyPI's caching headers, except that the
        pages are always stale (``max-age=0``): the usual state when an import comes
        along later than uv's 10-minute freshness window for PyPI pages."""

        protocol_version = "HTTP/1.1"

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, *, body: bool) -> None:
            time.sleep(latency)
            parts = [part for part in self.path.split("?")[0].split("/") if part]
            if len(parts) == 2 and parts[0] == "simple" and parts[1] in files:
                links = "".join(f'<a href="/files/{w}">{w}</a>\n' for w in files[parts[1]])
                data = f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode()
                etag = f'"{hash(data) & 0xFFFFFFFF:x}"'
                if self.headers.get("If-None-Match") == etag:
                    self._send(304, b"", {"ETag": etag}, body=False)
                    return
                headers = {"Content-Type": "text/html", "Cache-Control": "max-age=0", "ETag": etag}
                self._send(200, data, headers, body=body)
            elif len(parts) == 2 and parts[0] == "files" and (wheels / parts[1]).is_file():
                data = (wheels / parts[1]).read_bytes()
                headers = {
                    "Content-Type": "application/octet-stream",
                    "Cache-Control": "max-age=365000000, immutable, public",
                }
                self._send(200, data, headers, body=body)
            else:
                self._send(404, b"", {}, body=body)

        def _send(self, code: int, data: bytes, headers: Mapping[str, str], *, body: bool) -> None:
            self.send_response(code)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body and data:
                self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return None

    return Handler
