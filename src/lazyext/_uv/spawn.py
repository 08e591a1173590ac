"""Run uv as a child process without importing ``subprocess`` on the import path.

The first import of an uncached extension runs uv once. ``subprocess`` (with the
``signal``, ``selectors``, ``threading``, ``locale`` and ``contextlib`` it imports)
cost that import 5-9 ms of CPU on the benchmark machine (benchmarks/README.md,
"Cold path profile"), more than everything else lazyext does there. On POSIX the
child is started with ``os.posix_spawn`` (the way ``subprocess`` itself starts
children when it can), its output read from a pipe under a deadline with
``select.poll``; elsewhere, ``subprocess``.

Same contract either way: stdin is ``/dev/null``, stdout and stderr go to one pipe,
the child leads a new session (so its whole process group can be killed), and
whatever it left running in that group is killed once it exits or times out.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: POSIX fixes SIGKILL at 9 (``signal`` would import ``enum`` for the name).
_SIGKILL = 9
#: Bytes of output kept (the tail): uv runs with --quiet, errors end its output.
_KEEP = 1 << 16


class Timeout(Exception):
    """The child outlived ``timeout``; it and its process group were killed."""

    def __init__(self, output: bytes) -> None:
        super().__init__("timed out")
        self.output = output


def run(argv: Sequence[str], env: Mapping[str, str], timeout: float | None) -> tuple[int, bytes]:
    """Run ``argv`` to completion; return (exit status or ``-signal``, output).

    Raises :class:`Timeout` after ``timeout`` seconds, ``OSError`` if it cannot start.
    """
    if os.name != "posix" or not hasattr(os, "posix_spawn"):
        return _with_subprocess(argv, env, timeout)
    try:
        return _with_posix_spawn(argv, env, timeout)
    except NotImplementedError:  # a libc without POSIX_SPAWN_SETSID
        return _with_subprocess(argv, env, timeout)


def _with_posix_spawn(
    argv: Sequence[str], env: Mapping[str, str], timeout: float | None
) -> tuple[int, bytes]:
    import select

    deadline = None if timeout is None else time.monotonic() + timeout
    # Both ends and /dev/null are non-inheritable (PEP 446): only the dup2'd copies
    # reach the child.
    read_end, write_end = os.pipe()
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        try:
            pid = os.posix_spawn(
                argv[0],
                list(argv),
                dict(env),
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, null, 0),
                    (os.POSIX_SPAWN_DUP2, write_end, 1),
                    (os.POSIX_SPAWN_DUP2, write_end, 2),
                ],
                setsid=True,
            )
        finally:
            os.close(null)
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    output = bytearray()
    try:
        poller = select.poll()
        poller.register(read_end, select.POLLIN)
        while True:
            if deadline is None:
                ready = poller.poll()
            else:
                left = deadline - time.monotonic()
                ready = poller.poll(max(0, int(left * 1000) + 1)) if left > 0 else []
            if not ready:
                kill_group(pid)
                _reap(pid, None)
                raise Timeout(bytes(output))
            data = os.read(read_end, 65536)
            if not data:
                break
            output += data
            if len(output) > 2 * _KEEP:
                del output[:-_KEEP]
        status = _reap(pid, deadline)
        if status is None:  # closed its output but did not exit in time
            kill_group(pid)
            _reap(pid, None)
            raise Timeout(bytes(output))
    except BaseException:
        kill_group(pid)
        _reap(pid, None)
        raise
    finally:
        os.close(read_end)
    kill_group(pid)  # uv may have started children of its own: none may outlive it
    return status, bytes(output[-_KEEP:])


def _reap(pid: int, deadline: float | None) -> int | None:
    """Wait for ``pid``; its exit code (``-signal`` if killed), None at ``deadline``."""
    pause = 0.0005
    while True:
        try:
            done, status = os.waitpid(pid, 0 if deadline is None else os.WNOHANG)
        except ChildProcessError:
            return 0  # reaped elsewhere (a SIGCHLD handler): as subprocess does; the
            # install is checked by its result (provision verifies the dist-info)
        if done:
            return os.waitstatus_to_exitcode(status)
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(pause)
        pause = min(pause * 2, 0.01)


def kill_group(pid: int) -> None:
    """SIGKILL the process group ``pid`` leads, if any member is left."""
    if not hasattr(os, "killpg"):
        return
    try:
        os.killpg(pid, _SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _with_subprocess(
    argv: Sequence[str], env: Mapping[str, str], timeout: float | None
) -> tuple[int, bytes]:
    import subprocess

    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(env),
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process.pid)
        process.kill()
        output, _ = process.communicate()
        raise Timeout(output or b"") from None
    except BaseException:
        kill_group(process.pid)
        process.kill()
        process.wait()
        raise
    finally:
        kill_group(process.pid)
    return process.returncode, (output or b"")[-_KEEP:]
