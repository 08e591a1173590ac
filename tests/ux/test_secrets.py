"""Credentials in index URLs never leave memory: not argv, not logs, not the cache.

The index requires HTTP basic auth, so an install that succeeds proves uv got the
credentials (through its environment); while uv talks to the index, the server reads
the command lines of every process (``/proc/<pid>/cmdline``) and the test greps them,
the logs and every file of the cache for the password.
"""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path
from typing import Any

import pytest

import lazyext
from faults.indexserver import IndexServer
from lazyext._settings import secrets as _secrets

from support import Wheelhouse

SECRET = "s3cret-Pa55"
USER = "bob"


class AuthIndex(IndexServer):
    """The fault-injecting index, behind basic auth; records every process's argv."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.expected = "Basic " + base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
        self.denied = 0
        self.authorized = 0
        self.cmdlines: list[bytes] = []

    def _handle(self, request: Any, *, body: bool) -> None:
        self.cmdlines += _all_cmdlines()  # uv is running: it sent this request
        if request.headers.get("Authorization") != self.expected:
            self.denied += 1
            request.send_response(401)
            request.send_header("WWW-Authenticate", 'Basic realm="private"')
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
        self.authorized += 1
        super()._handle(request, body=body)


def _all_cmdlines() -> list[bytes]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                found.append(Path(f"/proc/{pid}/cmdline").read_bytes())
            except OSError:
                continue
    return found


@pytest.fixture
def private_index(tmp_path: Path) -> Any:
    house = Wheelhouse(tmp_path / "private-wheels")
    house.build("privpkg", "1.0", {"privpkg/__init__.py": "OK = True\n"})
    with AuthIndex(house.path) as server:
        yield server


def _credentialed(url: str) -> str:
    return url.replace("http://", f"http://{USER}:{SECRET}@")


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to read uv's argv")
def test_the_secret_reaches_uv_and_nothing_else(
    private_index: AuthIndex,
    cache_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))  # a real index request
    url = _credentialed(private_index.url)
    config = tmp_path / "work" / "lazyext.toml"
    config.write_text(
        f'index-url = "{url}"\n[[extensions]]\nname = "privpkg"\npackage = "privpkg"\n'
        '[[extensions]]\nname = "nosuchpriv"\npackage = "nosuchpriv"\n',
        encoding="utf-8",
    )
    caplog.set_level(logging.DEBUG, logger="lazyext")
    lazyext.activate(config)
    import privpkg  # type: ignore[import-not-found]

    assert privpkg.OK
    assert private_index.authorized > 0  # uv authenticated: it had the credentials
    with pytest.raises(lazyext.InstallError) as failed:
        import nosuchpriv  # type: ignore[import-not-found]  # noqa: F401
    errors = str(failed.value) + repr(failed.value.__dict__)

    uv_argv = [line for line in private_index.cmdlines if b"pip\x00install" in line]
    assert uv_argv, "uv's command line was read while it talked to the index"
    assert not [line for line in uv_argv if SECRET.encode() in line]
    assert SECRET not in caplog.text
    assert "uv argv" in caplog.text  # the DEBUG records were there to grep
    assert SECRET not in errors
    leaked = [
        path
        for path in cache_dir.rglob("*")
        if path.is_file() and SECRET.encode() in path.read_bytes()
    ]
    assert leaked == []
    assert list(cache_dir.glob("compiled.marshal*")) == []  # nothing to leak


def test_the_cache_key_ignores_credentials(tmp_path: Path) -> None:
    plain = lazyext.activate({"privpkg": "privpkg"}, index_url="https://host.example/simple")
    secret = lazyext.activate(
        {"privpkg": "privpkg"}, index_url=f"https://{USER}:{SECRET}@host.example/simple"
    )
    assert plain.plans[0].key == secret.plans[0].key


def test_redaction() -> None:
    text = f"GET https://{USER}:{SECRET}@h/simple/x/ and https://tok3n@h/ ok"
    redacted = _secrets.redact(text)
    assert SECRET not in redacted
    assert "tok3n" not in redacted
    assert f"https://{USER}:***@h/simple/x/" in redacted
    assert _secrets.strip_credentials(f"https://{USER}:{SECRET}@h/s") == "https://h/s"


def test_config_errors_redact_credentials() -> None:
    with pytest.raises(lazyext.ConfigError) as caught:
        lazyext.activate({"a": "alpha"}, index_url=f"https://{USER}:{SECRET}@h/simple\n")
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value.problems)
    assert f"{USER}:***@h" in str(caught.value)
