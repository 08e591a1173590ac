"""The progress line: on a terminal (a real pty), plain lines on a pipe, log records when
logging shows them, off on request."""

from __future__ import annotations

import io
import os
import pty
import re
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lazyext._uv import progress

from support import Wheelhouse, python_env, run_python

#: A new environment's first import resolves it and installs at once (one line says
#: both): the extension's requirement, as written, not each distribution.
TINYYAML = "TinyYaml>=6"
CHILD = """
import lazyext
lazyext.activate({{"tinyyaml": "TinyYaml>=6"}}, find_links=[{wheels!r}], no_index=True)
import tinyyaml
print("VALUE", tinyyaml.load(""))
"""


def _in_pty(code: str, env: dict[str, str], cwd: Path) -> str:
    """Run ``code`` with stdin/stdout/stderr on a pseudo-terminal; return what it wrote."""
    pid, master = pty.fork()
    if pid == 0:  # the child: exec at once (no Python state of the test is used)
        os.chdir(cwd)
        os.execve(sys.executable, [sys.executable, "-c", code], env)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    os.close(master)
    output = b"".join(chunks).decode("utf-8", "replace")
    assert os.waitstatus_to_exitcode(status) == 0, output
    return output


def _env(cache_dir: Path, **extra: str) -> dict[str, str]:
    # LAZYEXT_PROGRESS_AFTER=0: the line shows however fast the local install is (no
    # timing in the test); the cache is empty, so the import installs.
    return python_env(LAZYEXT_CACHE_DIR=str(cache_dir), LAZYEXT_PROGRESS_AFTER="0", **extra)


def test_the_line_on_a_terminal(wheelhouse: Wheelhouse, cache_dir: Path, tmp_path: Path) -> None:
    code = textwrap.dedent(CHILD.format(wheels=str(wheelhouse.path)))
    output = _in_pty(code, _env(cache_dir), tmp_path)
    assert "VALUE 42" in output
    # The extension, not each distribution of its closure.
    assert "lazyext: installing tinydep" not in output
    # Resolving the environment and installing run together (lazyext._env.speculate).
    start = output.index(f"lazyext: installing {TINYYAML} for `import tinyyaml` ...")
    # Finished in place (carriage return, clear line), with the time taken, on one line.
    final = output.index(f"\r\x1b[Klazyext: installed {TINYYAML} for `import tinyyaml` in ", start)
    line = output[final:].split("\n", 1)[0]
    assert line.rstrip("\r").endswith(" s")
    assert output.index("VALUE") > final


def test_off_with_lazyext_progress_0(
    wheelhouse: Wheelhouse, cache_dir: Path, tmp_path: Path
) -> None:
    code = textwrap.dedent(CHILD.format(wheels=str(wheelhouse.path)))
    output = _in_pty(code, _env(cache_dir, LAZYEXT_PROGRESS="0"), tmp_path)
    assert "VALUE 42" in output
    assert "installing" not in output


def test_plain_lines_when_stderr_is_not_a_terminal(
    wheelhouse: Wheelhouse, cache_dir: Path, tmp_path: Path
) -> None:
    piped = run_python(
        textwrap.dedent(CHILD.format(wheels=str(wheelhouse.path))),
        cwd=tmp_path,
        env=_env(tmp_path / "other-cache"),
    )
    assert piped.returncode == 0, piped.stderr
    # A pipe, CI's log: whole lines, at the start and at the end, never in place.
    assert f"lazyext: installing {TINYYAML} for `import tinyyaml` ...\n" in piped.stderr
    assert f"lazyext: installed {TINYYAML} for `import tinyyaml` in " in piped.stderr
    assert "\r" not in piped.stderr
    assert "\x1b" not in piped.stderr
    quiet = run_python(
        textwrap.dedent(CHILD.format(wheels=str(wheelhouse.path))),
        cwd=tmp_path,
        env=_env(tmp_path / "third-cache", LAZYEXT_PROGRESS="0"),
    )
    assert quiet.returncode == 0, quiet.stderr
    assert "installing" not in quiet.stderr


def test_a_log_record_when_logging_shows_it(
    wheelhouse: Wheelhouse, cache_dir: Path, tmp_path: Path
) -> None:
    code = (
        "import logging\nlogging.basicConfig(level=logging.INFO, format='%(name)s %(message)s')\n"
    )
    code += textwrap.dedent(CHILD.format(wheels=str(wheelhouse.path)))
    logged = run_python(code, cwd=tmp_path, env=_env(cache_dir))
    assert logged.returncode == 0, logged.stderr
    assert f"lazyext installing {TINYYAML} for `import tinyyaml` ..." in logged.stderr
    assert f"lazyext installed {TINYYAML} for `import tinyyaml` in " in logged.stderr
    assert "lazyext: installing" not in logged.stderr  # not twice: no plain lines too


def test_a_plain_line_every_few_seconds_while_it_lasts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "EVERY_PLAIN", 0.05)  # instead of 5 s
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal
    monkeypatch.setenv("LAZYEXT_PROGRESS_AFTER", "0")
    with progress.installing("slowpkg", "`import slowpkg`"):
        # Until two updates were written, however long this machine takes for them
        # (the minute is only there so that a broken watcher cannot hang the suite).
        deadline = time.monotonic() + 60
        while sys.stderr.getvalue().count(" s\n") < 2:
            assert time.monotonic() < deadline, sys.stderr.getvalue()
            time.sleep(0.01)
    lines = sys.stderr.getvalue().splitlines()
    assert lines[0] == "lazyext: installing slowpkg for `import slowpkg` ..."
    assert re.fullmatch(r"lazyext: installing slowpkg for `import slowpkg` \.\.\. \d+ s", lines[1])
    assert re.fullmatch(r"lazyext: installed slowpkg for `import slowpkg` in [\d.]+ s", lines[-1])


def test_nothing_for_a_warm_import(wheelhouse: Wheelhouse, cache_dir: Path, tmp_path: Path) -> None:
    code = textwrap.dedent(CHILD.format(wheels=str(wheelhouse.path)))
    _in_pty(code, _env(cache_dir), tmp_path)
    again = _in_pty(code, _env(cache_dir), tmp_path)
    assert "VALUE 42" in again
    assert "installing" not in again


def test_parallel_installs_keep_one_line_each(
    wheelhouse: Wheelhouse, cache_dir: Path, tmp_path: Path
) -> None:
    config = tmp_path / "lazyext.toml"
    config.write_text(
        wheelhouse.toml()
        + '[[extensions]]\nname = "tinyyaml"\npackage = "TinyYaml>=6"\n'
        + '[[extensions]]\nname = "alpha"\npackage = "alpha"\n'
        + '[[extensions]]\nname = "pthpkg"\npackage = "pthpkg"\n',
        encoding="utf-8",
    )
    code = "import sys\nfrom lazyext import cli\nsys.exit(cli.main(['warm']))\n"
    output = _in_pty(code, _env(cache_dir), tmp_path)
    screen = output.replace("\r\n", "\n").replace("\x1b[K", "")
    lines = [line.split("\r")[-1] for line in screen.split("\n")]
    progress = [line for line in lines if "lazyext:" in line]
    assert all(line.count("lazyext:") == 1 for line in progress), progress
    finished = sorted(line.split(" in ")[0] for line in progress if "installed" in line)
    # What the three miss, in one uv run: one line (tinyyaml has a dependency).
    assert finished == [
        "lazyext: installed tinyyaml, alpha, pthpkg (4 distributions) for lazyext warm"
    ]
    assert "3 of 3 ready" in output
