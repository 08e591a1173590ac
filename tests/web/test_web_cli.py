"""``lazyext serve`` in a real process, and lazyext without the ``web`` extra.

The other web tests call the application in-process; the smoke test here is the one
that serves it with uvicorn on a socket: startup (the lifespan starts the scheduler),
requests, a body refused before it is sent, and a clean stop on SIGINT. The tests of
the missing extra run in child interpreters where ``fastapi`` (or ``uvicorn``) cannot
be imported, so they run whether or not the extra is installed.
"""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from webkit import TOKEN, raw_request

from support import python_env, run_python

BLOCK = "import sys\nsys.modules[{name!r}] = None  # importing it raises ImportError\n"


def test_without_the_extra_serve_names_the_extra_and_exits_2() -> None:
    for missing in ("fastapi", "uvicorn", "python_multipart"):
        result = run_python(
            BLOCK.format(name=missing) + "from lazyext.cli import main\nsys.exit(main(['serve']))\n"
        )
        assert result.returncode == 2, (missing, result.stderr)
        assert "pip install 'lazyext[web]'" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_without_the_extra_importing_lazyext_web_raises_a_lazyext_error() -> None:
    result = run_python(
        BLOCK.format(name="fastapi")
        + "import lazyext\n"
        + "try:\n    import lazyext.web\n"
        + "except lazyext.LazyextError as error:\n"
        + "    assert isinstance(error, ImportError)\n"
        + "    print(error)\n"
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'lazyext[web]'" in result.stdout
    assert "fastapi is missing" in result.stdout


def test_the_cli_never_imports_the_extra_unless_serving() -> None:
    result = run_python(
        "import sys\nfrom lazyext.cli import main\n"
        "code = main(['status'])\n"
        "heavy = [m for m in ('fastapi', 'starlette', 'pydantic', 'uvicorn', 'lazyext.web') "
        "if m in sys.modules]\n"
        "print('HEAVY', heavy)\nsys.exit(code)\n"
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout


def test_serve_refuses_a_public_bind_without_a_token(config_file: Path) -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    env = python_env()
    env.pop("LAZYEXT_API_TOKEN", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lazyext",
            "--config",
            str(config_file),
            "serve",
            "--host",
            "0.0.0.0",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "set an API token first" in result.stderr


def _lines(stream: object, into: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put(line)


def test_serve_runs_uvicorn_with_the_token_and_stops_cleanly(config_file: Path) -> None:
    """The live-server smoke test: everything else runs in-process."""
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    httpx = pytest.importorskip("httpx")
    env = python_env(LAZYEXT_API_TOKEN=TOKEN)
    command = [sys.executable, "-m", "lazyext", "--config", str(config_file), "serve"]
    with subprocess.Popen(
        [*command, "--port", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_lines, args=(child.stderr, lines), daemon=True).start()
        seen = []
        try:
            while True:
                line = lines.get(timeout=60)
                seen.append(line)
                found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
                if found:
                    break
            port = int(found.group(1))
            url = f"http://127.0.0.1:{port}"
            assert any("token required" in line for line in seen), seen
            assert httpx.get(f"{url}/tasks").status_code == 401
            auth = {"Authorization": f"Bearer {TOKEN}"}
            document = httpx.get(f"{url}/openapi.json", headers=auth).json()
            assert {"/tasks", "/tasks/{task_id}/run", "/plugins/upload"} <= set(document["paths"])
            assert httpx.get(f"{url}/tasks", headers=auth).json() == []
            health = httpx.get(f"{url}/healthz", headers=auth).json()
            assert health["scheduler"] == {"configured": True, "running": True}
            # Over the socket, a declared body over the limit is answered before it is
            # sent (the client never sends it: a server that waited would time out).
            head = (
                f"POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                "Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n"
            ).encode()
            assert raw_request(port, head).startswith(b"HTTP/1.1 413")
        finally:
            child.send_signal(signal.SIGINT)
            code = child.wait(timeout=60)
    assert code == 0, "".join(seen)
