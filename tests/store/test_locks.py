"""The per-key lock's semantics, run against both implementations (``lock_backend``:
``fcntl`` on POSIX's cold path, ``filelock`` elsewhere). The tests of the locks that
live with their subjects (test_cold_path, faults/test_damaged_cache, test_security,
test_spawn, test_races) take the same fixture."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from lazyext._errors import LockTimeout
from lazyext._store import locks as _locks

from support import python_env

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "cache"
    path.mkdir(mode=0o700)
    return path


def _child(code: str, *args: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=python_env(),
    )
    assert child.stdout is not None
    return child


def _free(root: Path) -> bool:
    with _locks.try_key_lock(str(root), "k") as free:
        return free


def test_the_backend_is_the_one_asked_for(lock_backend: str) -> None:
    code = "from lazyext._store import locks; print(locks.BACKEND)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=python_env()
    )
    assert done.stdout.strip() == lock_backend


def test_lock_file_is_private_and_the_holder_is_recorded(root: Path, lock_backend: str) -> None:
    with _locks.key_lock(str(root), "k", 5):
        lock = root / "locks" / "k.lock"
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600
        holder = (root / "locks" / "k.lock.holder").read_text(encoding="utf-8")
        assert holder.split()[0] == str(os.getpid())
        assert stat.S_IMODE((root / "locks").stat().st_mode) == 0o700
        assert _free(root) is False
    assert _free(root) is True


def test_a_timeout_is_finite_and_names_the_holder(root: Path, lock_backend: str) -> None:
    child = _child(
        """
        import sys
        from lazyext._store import locks as _locks
        with _locks.key_lock(sys.argv[1], "k", 30):
            print("held", flush=True)
            sys.stdin.readline()
        """,
        str(root),
    )
    assert child.stdout is not None
    try:
        assert child.stdout.readline() == "held\n"
        with (
            pytest.raises(LockTimeout, match=f"process {child.pid}") as caught,
            _locks.key_lock(str(root), "k", 0.1),
        ):
            pass
        assert caught.value.timeout == 0.1
    finally:
        child.communicate("\n", timeout=30)
    with _locks.key_lock(str(root), "k", 5):
        pass


FORK_AND_DIE = r"""
import os, signal, sys, time
from lazyext._store import locks as _locks
with _locks.key_lock(sys.argv[1], "k", 30):
    pid = os.fork()
    if pid == 0:
        # The child of a holder: it must not keep the key once its parent is gone.
        os.write(1, f"child {os.getpid()}\n".encode())  # one write: no interleaving
        time.sleep(60)
        os._exit(0)
    os.write(1, b"held\n")
    sys.stdin.readline()
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_forked_child_does_not_keep_the_lock_of_a_killed_parent(
    root: Path, lock_backend: str
) -> None:
    parent = _child(FORK_AND_DIE, str(root))
    assert parent.stdout is not None
    lines = [parent.stdout.readline(), parent.stdout.readline()]
    assert any(line.startswith("child") for line in lines), lines
    grandchild = int(next(line for line in lines if line.startswith("child")).split()[1])
    try:
        assert "held\n" in lines
        assert _free(root) is False
        assert parent.stdin is not None
        parent.stdin.write("\n")
        parent.stdin.close()
        # Not communicate(): the grandchild keeps the stdout pipe open.
        assert parent.wait(30) == -signal.SIGKILL
        os.kill(grandchild, 0)  # still running, with the parent's descriptors inherited
        with _locks.key_lock(str(root), "k", 10):
            pass
    finally:
        try:
            os.kill(grandchild, signal.SIGKILL)
        except ProcessLookupError:
            pass
        parent.stdout.close()
        parent.wait(30)


FORK_INSIDE = """
import os, sys
from lazyext._store import locks as _locks
with _locks.key_lock(sys.argv[1], "k", 30):
    pid = os.fork()
    if pid == 0:
        sys.exit(0)  # leaves the with block in the child
    os.waitpid(pid, 0)
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_a_child_forked_inside_the_lock_leaving_it_does_not_release_it(
    root: Path, lock_backend: str
) -> None:
    # The child runs the end of the ``with`` block too: the parent's lock stays held.
    parent = _child(FORK_INSIDE, str(root))
    assert parent.stdout is not None
    try:
        assert parent.stdout.readline() == "held\n"
        assert _free(root) is False
    finally:
        parent.communicate("\n", timeout=30)
    assert _free(root) is True


def test_threads_of_one_process_take_turns(root: Path, lock_backend: str) -> None:
    inside: list[int] = []
    overlaps: list[int] = []

    def work() -> None:
        for _ in range(20):
            with _locks.key_lock(str(root), "k", 30):
                inside.append(1)
                if len(inside) > 1:
                    overlaps.append(1)
                inside.pop()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert overlaps == []


def test_the_fcntl_lock_does_not_import_filelock(root: Path) -> None:
    code = f"""
        import sys
        from lazyext._store import locks as _locks
        assert _locks.BACKEND == "fcntl"
        with _locks.key_lock({str(root)!r}, "k", 5):
            pass
        print(sorted(m for m in ("filelock", "typing", "logging") if m in sys.modules))
    """
    env = python_env()
    env.pop("LAZYEXT_LOCK_BACKEND", None)
    if os.name != "posix":
        pytest.skip("POSIX only")
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
