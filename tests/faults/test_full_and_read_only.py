"""Issue 12 #9 and #10: a full disk is not a damaged database, and a read-only cache
gives a LazyextError that names the cause, never a traceback.

The full disk is real: a 1 MiB tmpfs mounted in a private mount namespace of a child
(``unshare -m``, root only). The read-only cache is real too: the tree is made
read-only and the commands run without the capability that lets root ignore modes
(``setpriv``, see ``faults.kit.unprivileged``).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import lazyext
from faults.kit import generations, unprivileged
from lazyext.tasks import TaskManager

from support import Wheelhouse, python_env

# -- #9: disk full versus damaged ------------------------------------------------------

FILL_THE_DISK = """
import os, sys
from lazyext import LazyextError
from lazyext.tasks import TaskManager

data = sys.argv[1]
manager = TaskManager(data_dir=data)
manager.add_task("os:getcwd", "interval", id="kept", seconds=60)
filler = os.path.join(data, "filler")
with open(filler, "wb") as handle:
    try:
        while True:
            handle.write(b"x" * 65536)
            handle.flush()
    except OSError:
        pass
try:
    manager.add_task("os:getcwd", "interval", id="big", seconds=60, kwargs={"blob": "x" * 400000})
except LazyextError as error:
    print("ERROR", type(error).__name__, str(error).replace("\\n", " "))
else:
    print("NO ERROR")
os.unlink(filler)
print("TASKS", sorted(task.id for task in manager.list_tasks()))
manager.shutdown(wait=False)
"""


def _unshare() -> str | None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    probe = subprocess.run(
        [unshare, "-m", "--propagation", "private", "true"], capture_output=True, check=False
    )
    return unshare if probe.returncode == 0 else None


def test_a_full_disk_is_reported_as_full_and_the_database_is_kept(tmp_path: Path) -> None:
    unshare = _unshare()
    if unshare is None:
        pytest.skip("needs root and unshare -m to mount a small tmpfs")
    data = tmp_path / "small-disk"
    data.mkdir(mode=0o700)
    script = tmp_path / "fill.py"
    script.write_text(FILL_THE_DISK, encoding="utf-8")
    command = (
        f"mount -t tmpfs -o size=1m,mode=0700 tmpfs {data} && exec {sys.executable} {script} {data}"
    )
    done = _run([unshare, "-m", "--propagation", "private", "sh", "-c", command])
    assert done.returncode == 0, done.stderr
    error_line, tasks_line = done.stdout.strip().splitlines()[-2:]
    assert error_line.startswith("ERROR StateError"), done.stdout
    assert "is full" in error_line
    assert "move it aside" not in error_line
    assert "untouched: keep it" in error_line
    assert tasks_line == "TASKS ['kept']"  # nothing lost


def test_a_damaged_database_is_called_damaged_and_a_copy_is_kept(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "state.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(lazyext.LazyextError, match="is damaged") as caught:
        TaskManager(data_dir=data).list_tasks()
    assert "Keep a copy" in str(caught.value)
    assert (data / "state.sqlite3").read_bytes().startswith(b"this is not")


def test_an_intact_database_is_never_called_damaged(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    manager = TaskManager(data_dir=data)
    manager.add_task("os:getcwd", "interval", id="kept", seconds=60)
    manager.shutdown(wait=False)
    from lazyext import _state

    error = _state.explain(sqlite3.OperationalError("disk I/O error"), data / "state.sqlite3")
    assert "intact" in str(error)
    assert "move it aside" not in str(error)


# -- #10: a read-only cache ------------------------------------------------------------


@pytest.fixture
def read_only_cache(
    cache_dir: Path, house: Wheelhouse, options: dict[str, Any]
) -> Iterator[list[str]]:
    prefix = unprivileged()
    if prefix is None:
        pytest.skip("root without setpriv: permission bits do not apply")
    Path("lazyext.toml").write_text(
        house.toml() + '[[extensions]]\nname = "tinyyaml"\npackage = "TinyYaml>=6"\n',
        encoding="utf-8",
    )
    lazyext.ensure("TinyYaml>=6", **options)
    lazyext.deactivate()
    assert generations(cache_dir)
    modes = {}
    for base, directories, files in os.walk(cache_dir):
        for name in [*directories, *files, ""]:
            path = os.path.join(base, name) if name else base
            if not os.path.islink(path):
                modes[path] = os.stat(path).st_mode & 0o777
                os.chmod(path, modes[path] & 0o555)
    try:
        yield prefix
    finally:
        for path, mode in modes.items():
            os.chmod(path, mode)


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=120, env=python_env(), check=False
    )


def _cli(prefix: list[str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return _run([*prefix, sys.executable, "-m", "lazyext", *arguments])


@pytest.mark.parametrize(
    "arguments", [("invalidate", "tinyyaml"), ("gc", "--grace", "0")], ids=["invalidate", "gc"]
)
def test_cli_commands_on_a_read_only_cache_name_the_cause(
    read_only_cache: list[str], arguments: tuple[str, ...]
) -> None:
    done = _cli(read_only_cache, *arguments)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    assert "read-only" in done.stderr, done.stderr


def test_the_invalidate_api_on_a_read_only_cache_raises_a_lazyext_error(
    read_only_cache: list[str], options: dict[str, Any]
) -> None:
    safe = {key: str(value) if isinstance(value, Path) else value for key, value in options.items()}
    code = textwrap.dedent(
        f"""
        import lazyext
        try:
            lazyext.invalidate("TinyYaml>=6", **{safe!r})
        except lazyext.LazyextError as error:
            print(type(error).__name__, isinstance(error, OSError), error)
        """
    )
    done = _run([*read_only_cache, sys.executable, "-c", code])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("CacheWriteError True "), done.stdout
    assert "read-only" in done.stdout
