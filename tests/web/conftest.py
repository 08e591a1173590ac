"""Fixtures of the web tests: a config on the local wheelhouse, and in-process clients.

The API is called in-process (Starlette's TestClient: the ASGI application, its
lifespan included, without a socket); ``test_web_cli`` serves it once with uvicorn in
a child process. FastAPI and the test client are imported inside the fixtures only:
the test modules that need them skip first (``pytest.importorskip``) when the extra
is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from webkit import client_of

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
    """``serve(**create_app options)`` -> a started client of a new application;
    ``serve(app)`` for an application of the test's own (a host including router())."""
    from lazyext.web import create_app

    with ExitStack() as running:

        def start(app: Any = None, *, headers: dict[str, str] | None = None, **options: Any) -> Any:
            app = app if app is not None else create_app(config_file, **options)
            return running.enter_context(client_of(app, headers=headers))

        yield start
