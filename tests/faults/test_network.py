"""Network faults from a local index on 127.0.0.1, and offline mode.

uv retries failed requests itself (3 times by default, with backoff); these tests set
``UV_HTTP_RETRIES=0`` (passed through to uv) so that every fault reaches lazyext, whose
own retries are what is under test. Each test gets a cold uv cache, so every fetch is
a request the server counts.
"""

from __future__ import annotations

import importlib
import logging
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

import lazyext
from faults.indexserver import IndexServer, refused_url
from faults.kit import CountingUv, generations, pid_running, run, staging

from support import publications, python_env

EXTENSIONS = {"alpha": "alpha", "gamma": "gamma", "tinyyaml": "TinyYaml>=6", "missing": "alpha>=99"}


def _config(index: str, *, only: tuple[str, ...] = (), **settings: Any) -> Path:
    """``./lazyext.toml`` with the EXTENSIONS (``only`` some: the extensions of a config
    are resolved together, so a test of one extension's requests configures it alone)."""
    lines = [f'index-url = "{index}"']
    lines += [f"{key.replace('_', '-')} = {value}" for key, value in settings.items()]
    for name, requirement in EXTENSIONS.items():
        if name in only or not only:
            lines += ["[[extensions]]", f'name = "{name}"', f'package = "{requirement}"']
    path = Path.cwd() / "lazyext.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _import(name: str) -> Any:
    sys.modules.pop(name, None)
    return importlib.import_module(name)


@pytest.fixture(autouse=True)
def _no_uv_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")


def _online_runs(shim: CountingUv) -> list[str]:
    """The runs of uv that may ask the index: resolutions and installs, not ``--offline``."""
    return [run for run in shim.compiles() + shim.runs() if "--offline" not in run.split()]


def test_503_twice_then_success_is_retried_with_backoff(
    server: IndexServer, shim: CountingUv, caplog: pytest.LogCaptureFixture
) -> None:
    _config(server.url, only=("alpha",))
    lazyext.activate()
    server.fail(2, status=503)
    with caplog.at_level(logging.WARNING, logger="lazyext"):
        assert _import("alpha").NAME == "alpha"
    assert server.requests[:3] == ["/simple/alpha/"] * 3  # 503, 503, then the page
    # The resolution met the faults (it asks the index first): 503, 503, then the page.
    assert len([run for run in _online_runs(shim) if "compile" in run.split()]) == 3
    delays = [r.args[-1] for r in caplog.records if "retrying in" in r.getMessage()]
    assert delays == [0.5, 1.0]  # exponential backoff
    assert publications(Path(lazyext.activate().settings.cache_dir)) == {"alpha": 1}


def test_connection_refused_fails_after_bounded_retries(shim: CountingUv, cache_dir: Path) -> None:
    _config(refused_url(), retries=2)
    lazyext.activate()
    with pytest.raises(lazyext.InstallError) as caught:
        _import("alpha")
    error = caught.value
    assert error.transient
    assert not error.security
    assert "could not reach the package index" in str(error)
    assert "offline = true" in str(error)
    assert "Connection refused" in error.stderr_tail
    assert len(_online_runs(shim)) == 3  # 1 + retries, then it gives up
    # The failure is remembered: importing again does not run uv again.
    with pytest.raises(lazyext.InstallError, match="failed moments ago"):
        _import("alpha")
    assert len(_online_runs(shim)) == 3
    assert generations(cache_dir) == []
    assert staging(cache_dir) == []


def test_a_response_slower_than_the_install_timeout(
    server: IndexServer, shim: CountingUv, cache_dir: Path
) -> None:
    """The index accepts and never answers; the import fails at install-timeout,
    uv's whole process group is killed, and nothing is left behind."""
    _config(server.url, install_timeout=2, retries=2)
    lazyext.activate()
    server.hold()
    outcome: list[BaseException] = []

    def importer() -> None:
        try:
            _import("alpha")
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=importer, daemon=True)
    thread.start()
    thread.join(60)  # watchdog: the server would hold the request for 120 s
    assert not thread.is_alive(), "the import hung past its install-timeout"
    (error,) = outcome
    assert isinstance(error, lazyext.InstallError)
    assert "timed out after 2 s (install-timeout)" in str(error)
    assert server.held >= 1
    # The one online attempt used the whole budget: no retry after the deadline.
    assert len(_online_runs(shim)) == 1
    assert [pid for pid in shim.pids() if pid_running(pid)] == []
    assert generations(cache_dir) == []
    assert staging(cache_dir) == []


def test_an_unsatisfiable_requirement_is_not_retried_and_not_hammered(
    server: IndexServer, shim: CountingUv
) -> None:
    _config(server.url, only=("missing",), failure_ttl=30)
    lazyext.activate()
    with pytest.raises(lazyext.InstallError) as caught:
        _import("missing")
    assert not caught.value.transient
    assert "No solution found" in caught.value.stderr_tail
    assert len(_online_runs(shim)) == 1
    requests = server.count()
    assert requests == 1
    for _ in range(50):  # a program that retries the import in a loop
        with pytest.raises(lazyext.InstallError):
            _import("missing")
    assert server.count() == requests
    assert len(_online_runs(shim)) == 1
    # importlib.invalidate_caches() means "retry now".
    importlib.invalidate_caches()
    with pytest.raises(lazyext.InstallError):
        _import("missing")
    assert len(_online_runs(shim)) == 2


def test_the_failure_memory_lasts_failure_ttl(server: IndexServer, shim: CountingUv) -> None:
    _config(server.url, only=("missing",), failure_ttl=0)
    lazyext.activate()
    for _ in range(3):
        with pytest.raises(lazyext.InstallError):
            _import("missing")
    assert len(_online_runs(shim)) == 3  # nothing remembered: every import asks again


# -- offline --------------------------------------------------------------------------


def test_offline_serves_cached_entries_even_expired_and_never_asks_the_network(
    server: IndexServer, shim: CountingUv, cache_dir: Path
) -> None:
    _config(server.url, ttl_hours=0.000001)
    lazyext.activate()
    assert _import("tinyyaml").load("") == 42
    lazyext.deactivate()
    (entry_dir,) = [g for g in generations(cache_dir) if (g / "target" / "tinyyaml").is_dir()]
    from lazyext._store import entries as _cache

    entry = _cache.read_entry(str(entry_dir))
    assert entry is not None
    assert entry.expired(entry.installed_at + 1.0)  # the TTL is 3.6 ms: no wall-clock race
    server.requests.clear()
    runs = len(shim.runs())

    code = textwrap.dedent(
        """
        import lazyext
        lazyext.activate()
        import tinyyaml
        print(tinyyaml.load(""))
        try:
            import gamma
        except ImportError as error:
            print(type(error).__name__, error.transient, error)
        """
    )
    done = run(code, shim=shim, env=python_env(LAZYEXT_OFFLINE="1"))
    assert done.returncode == 0, done.stderr
    value, failure = done.stdout.splitlines()[:2]
    assert value == "42"
    # Not in uv's cache offline: the module is not available (a ModuleNotFoundError).
    assert failure.startswith("DistributionNotFound False cannot install gamma")
    assert "offline mode is on" in failure
    assert server.requests == []
    offline_runs = shim.runs()[runs:]
    assert len(offline_runs) == 1  # gamma, once: not cached, no retries
    assert "--offline" in offline_runs[0].split()


def test_offline_installs_from_uvs_cache_without_the_network(
    server: IndexServer, shim: CountingUv, tmp_path: Path
) -> None:
    """A wheel uv already has is installable offline (a new key: another cache)."""
    _config(server.url)
    lazyext.activate()
    assert _import("alpha").NAME == "alpha"
    lazyext.deactivate()
    server.requests.clear()
    other = tmp_path / "other-cache"
    code = "import lazyext\nlazyext.activate()\nimport alpha\nprint(alpha.NAME)\n"
    done = run(code, shim=shim, env=python_env(LAZYEXT_OFFLINE="1", LAZYEXT_CACHE_DIR=str(other)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["alpha"]
    assert server.requests == []
    assert len(generations(other)) == 1
