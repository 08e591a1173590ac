"""Fixtures of the fault tests: their own wheelhouse, a counting uv, an index server.

Everything the root conftest gives (isolated cache and data directory, restored import
system, a warm session uv cache) applies here too.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faults.indexserver import IndexServer
from faults.kit import CountingUv, make_sdist
from lazyext._uv import command as _installer

from support import Wheelhouse, build_tinyyaml


def _module(name: str, extra: str = "") -> dict[str, str]:
    return {f"{name}/__init__.py": f"NAME = {name!r}\n{extra}"}


@pytest.fixture(scope="session")
def house(tmp_path_factory: pytest.TempPathFactory) -> Wheelhouse:
    house = Wheelhouse(tmp_path_factory.mktemp("fault-wheels"))
    build_tinyyaml(house, sub_padding=50)
    for name in ("alpha", "gamma", "delta", "epsilon"):
        house.build(name, "1.0", _module(name))
    # An extension whose import imports another configured (cold) extension.
    house.build("beta", "1.0", _module("beta", "import alpha\nALPHA = alpha.NAME\n"))
    # An extension whose .pth file imports another configured (cold) extension.
    house.build(
        "pthimport",
        "1.0",
        {
            **_module("pthimport", "import sys\nSEEN = sys.modules['alpha'].NAME\n"),
            "pthimport.pth": "import alpha\n",
        },
    )
    # An extension whose .pth file blocks until told to go on, then imports a module
    # nobody imported yet (which needs the global import lock): see test_deadlocks.
    house.build(
        "pthslow",
        "1.0",
        {
            **_module("pthslow", "import slow_helper\nHELPER = slow_helper.NAME\n"),
            "slowlib/slow_helper.py": "NAME = 'slow_helper'\n",
            "pthslow.pth": (
                "slowlib\n"
                "import os; open(os.environ['PTHSLOW_STARTED'], 'w').close(); "
                "[__import__('time').sleep(0.01) for _ in range(6000) "
                "if not __import__('os').path.exists(__import__('os').environ['PTHSLOW_GO'])]\n"
                "import slow_helper\n"
            ),
        },
    )
    make_sdist(house.path, "sdistonly", "1.0", "WHERE = 'built from the sdist'\n")
    return house


@pytest.fixture
def shim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CountingUv:
    """The real uv behind a shim that logs every run (this process and children)."""
    counting = CountingUv(tmp_path / "uv-shim")
    monkeypatch.setattr(_installer, "uv_binary", lambda: str(counting.path))
    return counting


@pytest.fixture
def server(
    house: Wheelhouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[IndexServer]:
    """The wheelhouse as a local index; uv gets a cold cache, so every fetch is counted."""
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    with IndexServer(house.path) as index:
        yield index


@pytest.fixture
def options(house: Wheelhouse, cache_dir: Path) -> dict[str, Any]:
    """activate()/ensure() keywords: the fault wheelhouse as find-links, no index."""
    return house.options(cache_dir)


class SpawnAudit:
    """Records every process creation in this interpreter (PEP 578 audit events)."""

    EVENTS = frozenset(
        {"subprocess.Popen", "os.posix_spawn", "os.fork", "os.exec", "os.system", "os.spawn"}
    )

    def __init__(self) -> None:
        self.enabled = False
        self.seen: list[tuple[str, str]] = []
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if self.enabled and event in self.EVENTS:
            self.seen.append((event, repr(args)[:200]))


_AUDIT: SpawnAudit | None = None


@pytest.fixture
def spawns() -> Iterator[SpawnAudit]:
    """Process creations during the test (audit hooks cannot be removed: one per session)."""
    global _AUDIT
    if _AUDIT is None:
        _AUDIT = SpawnAudit()
    _AUDIT.seen.clear()
    _AUDIT.enabled = True
    try:
        yield _AUDIT
    finally:
        _AUDIT.enabled = False
