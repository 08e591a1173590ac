"""Shared fixtures: a local wheelhouse, an isolated cache, and a clean import system.

Every test gets its own cache and data directory, runs in its own working directory,
and leaves ``sys.path``, ``sys.meta_path``, ``sys.path_importer_cache`` and
``sys.modules`` as it found them. Wheels are built locally, so no test needs the
network: installs use ``find-links`` + ``no-index`` against the wheelhouse.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import lazyext
from lazyext import _trust
from lazyext._store import failures

from support import Wheelhouse, build_tinyyaml


def _standard_wheels(house: Wheelhouse) -> None:
    build_tinyyaml(house)
    house.build("TinyYaml", "5.4", {"tinyyaml/__init__.py": "__version__ = '5.4'\n"})
    house.build(
        "pthpkg",
        "1.0",
        {
            "pthpkg/__init__.py": "import pth_extra\nWHERE = pth_extra.WHERE\n",
            "pthlib/pth_extra.py": "WHERE = 'pth'\n",
            "pthpkg.pth": "pthlib\n",
        },
    )
    house.build(
        "pthexec",
        "1.0",
        {
            "pthexec/__init__.py": "import os\nMARK = os.environ.get('LAZYEXT_TEST_PTH_MARK')\n",
            "pthexec_hook.pth": "import os; os.environ['LAZYEXT_TEST_PTH_MARK'] = 'ran'\n",
        },
    )
    house.build("alpha", "1.0", {"alpha/__init__.py": "NAME = 'alpha'\n"})
    house.build("beta", "1.0", {"beta/__init__.py": "import alpha\nNAME = 'beta'\n"})
    house.build(
        "broken-import", "1.0", {"broken_import/__init__.py": "raise RuntimeError('boom')\n"}
    )


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Wheelhouse:
    house = Wheelhouse(tmp_path_factory.mktemp("wheelhouse"))
    _standard_wheels(house)
    return house


@pytest.fixture(scope="session", autouse=True)
def _uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One uv cache for the session: hermetic, and warm after the first install."""
    previous = os.environ.get("UV_CACHE_DIR")
    os.environ["UV_CACHE_DIR"] = str(tmp_path_factory.mktemp("uv-cache"))
    yield
    if previous is None:
        os.environ.pop("UV_CACHE_DIR", None)
    else:
        os.environ["UV_CACHE_DIR"] = previous


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    path = tmp_path / "cache"
    return path


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A private cache/data dir and working directory; the import system restored."""
    os.chmod(tmp_path, 0o700)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("LAZYEXT_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("LAZYEXT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LAZYEXT_CONFIG", raising=False)
    monkeypatch.delenv("LAZYEXT_OFFLINE", raising=False)
    saved_path = list(sys.path)
    saved_meta = list(sys.meta_path)
    saved_cache = dict(sys.path_importer_cache)
    saved_modules = set(sys.modules)
    try:
        yield
    finally:
        lazyext.deactivate()
        sys.path[:] = saved_path
        sys.meta_path[:] = saved_meta
        sys.path_importer_cache.clear()
        sys.path_importer_cache.update(saved_cache)
        for name in set(sys.modules) - saved_modules:
            if not name.startswith(("lazyext", "support")) and _from_a_test(sys.modules.get(name)):
                del sys.modules[name]
        _trust._checked_roots.clear()
        failures.forget_all()


@pytest.fixture(params=["fcntl", "filelock"])
def lock_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a lock test against both implementations of the per-key lock (issue 11), in
    this process and in the child processes it starts."""
    from lazyext._store import locks as _locks

    if request.param == "fcntl" and os.name != "posix":
        pytest.skip("the fcntl lock is POSIX-only")
    monkeypatch.setattr(_locks, "BACKEND", request.param)
    monkeypatch.setenv("LAZYEXT_LOCK_BACKEND", request.param)
    return str(request.param)


_SYSTEM = tuple({os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)})


def _from_a_test(module: object) -> bool:
    """Modules loaded from outside the interpreter's own trees (caches, tmp dirs)."""
    if module is None:
        return True
    locations = [getattr(module, "__file__", None) or ""]
    locations += list(getattr(module, "__path__", None) or [])
    real = [os.path.realpath(p) for p in locations if p]
    if not real:
        return False  # built-in or frozen
    return not any(p.startswith(_SYSTEM) for p in real)
