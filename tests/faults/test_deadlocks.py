"""Deadlocks: nested lazy imports, imports from several threads, imports from .pth lines.

Each scenario runs in a child interpreter under a watchdog: a deadlock cannot be
undone inside a process, but a child that hangs is killed and the test fails.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from faults.kit import CountingUv, generations, run

from support import Wheelhouse, python_env

WATCHDOG = 60.0

_ACTIVATE = """
import json, os, sys, threading
import lazyext
names = {names!r}
lazyext.activate({{n: n for n in names}}, find_links=[{links!r}], no_index=True)
"""


def _child(house: Wheelhouse, names: list[str], body: str, shim: CountingUv, **env: str) -> dict:
    code = _ACTIVATE.format(names=names, links=str(house.path)) + body
    done = run(code, shim=shim, env=python_env(**env), timeout=WATCHDOG)
    assert done.returncode == 0, done.stderr
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_an_extension_whose_import_imports_another_cold_extension(
    house: Wheelhouse, shim: CountingUv, cache_dir: Path
) -> None:
    body = "import beta\nprint(json.dumps({'alpha': beta.ALPHA, 'beta': beta.NAME}))\n"
    result = _child(house, ["alpha", "beta"], body, shim)
    assert result == {"alpha": "alpha", "beta": "beta"}
    assert len(shim.runs()) == 2
    assert len(generations(cache_dir)) == 2


def test_threads_importing_different_cold_extensions_at_the_same_time(
    house: Wheelhouse, shim: CountingUv, tmp_path: Path
) -> None:
    """The two installs run at the same time (each uv waits for the other to start), one
    from a thread and one from the main thread, which also imports stdlib meanwhile."""
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    room = shlex.quote(str(meeting))
    shim.set_before(
        f"touch {room}/started.$$; n=0\n"
        f'while [ "$(ls {room} | grep -c started)" -lt 2 ] && [ $n -lt 600 ]; do\n'
        "  sleep 0.05; n=$((n+1)); done\n"
        f"ls {room} | grep -c started > {room}/saw.$$"
    )
    body = """
results = {}
def other():
    import gamma
    results["gamma"] = gamma.NAME
thread = threading.Thread(target=other)
thread.start()
import delta
import colorsys, decimal, fractions  # unrelated imports while both installs run
results["delta"] = delta.NAME
thread.join()
print(json.dumps(results))
"""
    result = _child(house, ["gamma", "delta"], body, shim)
    assert result == {"gamma": "gamma", "delta": "delta"}
    assert sorted(p.read_text().strip() for p in meeting.glob("saw.*")) == ["2", "2"]


def test_an_import_inside_a_pth_line_of_an_extension(
    house: Wheelhouse, shim: CountingUv, cache_dir: Path
) -> None:
    """pthimport's .pth file runs `import alpha`, another configured cold extension."""
    body = "import pthimport\nprint(json.dumps({'seen': pthimport.SEEN}))\n"
    result = _child(house, ["alpha", "pthimport"], body, shim)
    assert result == {"seen": "alpha"}
    assert len(shim.runs()) == 2


def test_a_pth_line_importing_while_another_thread_activates_a_cached_extension(
    house: Wheelhouse, shim: CountingUv, tmp_path: Path
) -> None:
    """Thread A runs pthslow's .pth lines; meanwhile thread B imports alpha, already in
    the cache, whose activation runs inside find_spec, under the global import lock.
    Then A's next .pth line imports a new module, which needs that global lock. If A
    held lazyext's activation lock while running .pth lines, B would wait for A under
    the global lock and A for B: a deadlock."""
    warm = _child(house, ["alpha"], "import alpha\nprint(json.dumps(alpha.NAME))\n", shim)
    assert warm == "alpha"
    started, go = tmp_path / "started", tmp_path / "go"
    body = f"""
import time
results = {{}}
def a():
    import pthslow
    results["pthslow"] = pthslow.HELPER
def b():
    import alpha
    results["alpha"] = alpha.NAME
first = threading.Thread(target=a)
first.start()
while not os.path.exists({str(started)!r}):
    time.sleep(0.01)
second = threading.Thread(target=b)
second.start()
time.sleep(0.2)  # let b reach lazyext's finder
open({str(go)!r}, "w").close()
first.join()
second.join()
print(json.dumps(results))
"""
    result = _child(
        house, ["alpha", "pthslow"], body, shim, PTHSLOW_STARTED=str(started), PTHSLOW_GO=str(go)
    )
    assert result == {"pthslow": "slow_helper", "alpha": "alpha"}
