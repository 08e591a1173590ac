"""Races: many processes and threads importing the same cold extension at once, and
processes importing different cold extensions in parallel."""

from __future__ import annotations

import importlib
import json
import shlex
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import lazyext
from fake_uv import failing_install_of
from faults.kit import CountingUv, generations, spawn, staging

from support import Wheelhouse, entry_of, publications

PROCESSES = 8
THREADS = 8

_RACER = """
import json, os, sys, threading, time
import lazyext
lazyext.activate({{"tinyyaml": "TinyYaml>=6"}}, find_links=[{links!r}], no_index=True)
open(os.path.join({ready!r}, str(os.getpid())), "w").close()
while not os.path.exists({go!r}):
    time.sleep(0.005)
barrier = threading.Barrier({threads})
results = []
def work():
    barrier.wait()
    try:
        import tinyyaml
        results.append(["ok", tinyyaml.load(""), tinyyaml.__file__])
    except BaseException as error:
        results.append(["error", repr(error), ""])
threads = [threading.Thread(target=work) for _ in range({threads})]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(results))
"""


def _wait_for(predicate: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"watchdog: still waiting for {what}"
        time.sleep(0.01)


def test_processes_and_threads_race_for_one_cold_extension(
    house: Wheelhouse, cache_dir: Path, tmp_path: Path, shim: CountingUv, lock_backend: str
) -> None:
    # uv takes a while, so every racer arrives while the install is in progress.
    shim.set_before("sleep 0.5")
    ready, go = tmp_path / "ready", tmp_path / "go"
    ready.mkdir()
    code = _RACER.format(links=str(house.path), ready=str(ready), go=str(go), threads=THREADS)
    children = [spawn(code, shim=shim) for _ in range(PROCESSES)]
    try:
        _wait_for(lambda: len(list(ready.iterdir())) == PROCESSES, "the racers to activate")
        assert not (cache_dir / "entries").exists()  # everyone starts cold
        go.touch()
        outputs = [child.communicate(timeout=120) for child in children]
    finally:
        for child in children:
            child.kill()
    results = []
    for child, (stdout, stderr) in zip(children, outputs, strict=True):
        assert child.returncode == 0, stderr
        results += json.loads(stdout.strip().splitlines()[-1])
    assert len(results) == PROCESSES * THREADS
    assert [r for r in results if r[0] != "ok"] == []
    assert {r[1] for r in results} == {42}
    assert len(shim.runs()) == 1, shim.runs()
    assert publications(cache_dir) == {"tinyyaml": 1, "tinydep": 1}
    assert len(list(cache_dir.glob("envs/*/*/env.marshal"))) == 1  # resolved once
    module = entry_of(cache_dir, "TinyYaml") / "target" / "tinyyaml" / "__init__.py"
    assert {r[2] for r in results} == {str(module)}
    assert staging(cache_dir) == []


def test_different_extensions_install_in_parallel(
    house: Wheelhouse, cache_dir: Path, tmp_path: Path, shim: CountingUv
) -> None:
    """Each uv waits until all of them have started: only possible if no install waits
    for another's lock. Serialized installs would each see only themselves."""
    names = ["alpha", "gamma", "delta", "epsilon"]
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    room = shlex.quote(str(meeting))
    shim.set_before(
        f"touch {room}/started.$$; n=0\n"
        f'while [ "$(ls {room} | grep -c started)" -lt {len(names)} ] && [ $n -lt 600 ]; do\n'
        "  sleep 0.05; n=$((n+1)); done\n"
        f"ls {room} | grep -c started > {room}/saw.$$"
    )
    children = []
    for name in names:
        code = (
            "import lazyext\n"
            f"lazyext.activate({{{name!r}: {name!r}}}, find_links=[{str(house.path)!r}], "
            "no_index=True)\n"
            f"import {name}\n"
            f"print({name}.NAME)\n"
        )
        children.append(spawn(code, shim=shim))
    try:
        outputs = [child.communicate(timeout=120) for child in children]
    finally:
        for child in children:
            child.kill()
    for child, (stdout, stderr), name in zip(children, outputs, names, strict=True):
        assert child.returncode == 0, stderr
        assert stdout.split() == [name]
    saw = sorted(int(p.read_text()) for p in meeting.glob("saw.*"))
    assert saw == [len(names)] * len(names)
    assert len(shim.runs()) == len(names)
    assert len(generations(cache_dir)) == len(names)


def _ensure_in_threads(requirement: str, options: dict[str, Any]) -> list[BaseException]:
    """``ensure(requirement)`` in THREADS threads at once (no module lock serializes
    them); the errors they raised."""
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def work() -> None:
        barrier.wait()
        try:
            lazyext.ensure(requirement, **options)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def test_threads_racing_on_a_failing_install_run_uv_once(
    house: Wheelhouse, cache_dir: Path, shim: CountingUv
) -> None:
    """Eight threads ask for a requirement whose install fails: the first failure is
    remembered before the key lock is released, so the seven that queued on the lock
    fail fast instead of re-running uv."""
    # All eight reach the key lock while uv runs; then uv fails.
    shim.set_before("sleep 0.3\n" + failing_install_of("alpha"))
    errors = _ensure_in_threads("alpha", house.options(cache_dir))
    assert len(errors) == THREADS
    assert all(isinstance(error, lazyext.InstallError) for error in errors)
    assert len(shim.runs()) == 1
    assert generations(cache_dir) == []
    assert staging(cache_dir) == []


def test_threads_racing_on_a_failing_resolution_resolve_once(
    house: Wheelhouse, cache_dir: Path, shim: CountingUv
) -> None:
    """The same for an unsatisfiable requirement, which fails at resolution: the seven
    threads queued on the environment's lock do not resolve it again."""
    options = house.options(cache_dir)
    lazyext.ensure("alpha", **options)  # the environment it joins is resolved
    before = len(shim.compiles())
    errors = _ensure_in_threads("alpha>=99", options)
    assert len(errors) == THREADS
    assert all(isinstance(error, lazyext.DistributionNotFound) for error in errors), errors
    raced = len(shim.compiles()) - before
    importlib.invalidate_caches()  # forget the failure: one thread, one resolution
    with pytest.raises(lazyext.DistributionNotFound):
        lazyext.ensure("alpha>=99", **options)
    assert raced == len(shim.compiles()) - before - raced
    # alpha's install only; each resolution (two) ran one speculative install beside it.
    locked = [run for run in shim.runs() if run not in shim.speculations()]
    assert locked == []  # alpha's own was its speculation, kept
    assert len(shim.speculations()) == 1 + 2
    assert staging(cache_dir) == []
