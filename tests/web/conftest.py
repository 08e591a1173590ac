"""Fixtures of the web tests: a config on the local wheelhouse, and live servers.

FastAPI, uvicorn and httpx are imported inside the fixtures only: the test modules
that need them skip first (``pytest.importorskip``) when the extra is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from webkit import LiveServer

from support import Wheelhouse


@pytest.fixture(autouse=True)
def _no_token_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAZYEXT_API_TOKEN", raising=False)


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    """A wheelhouse of this test's own (plugin distributions), next to the shared one."""
    path = tmp_path / "wheels"
    path.mkdir()
    return path


@pytest.fixture
def config_file(tmp_path: Path, wheelhouse: Wheelhouse, wheels: Path) -> Path:
    path = tmp_path / "lazyext.toml"
    path.write_text(
        f'find-links = ["{wheelhouse.path}", "{wheels}"]\n'
        "no-index = true\n"
        "[[extensions]]\n"
        'name = "tinyyaml"\n'
        'package = "TinyYaml>=6"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def serve(config_file: Path) -> Iterator[Callable[..., Any]]:
    """``serve(**create_app options)`` -> an httpx client of a live server."""
    import httpx

    from lazyext.web import create_app

    running: list[tuple[LiveServer, httpx.Client]] = []

    def start(app: Any = None, *, headers: dict[str, str] | None = None, **options: Any) -> Any:
        server = LiveServer(app or create_app(config_file, **options)).start()
        client = httpx.Client(base_url=server.url, headers=headers, timeout=60)
        running.append((server, client))
        return client

    yield start
    for server, client in reversed(running):
        client.close()
        server.stop()
