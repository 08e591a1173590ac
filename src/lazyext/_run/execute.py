"""Running the script in this process, as ``python SCRIPT ARGS...`` would.

In this process rather than a child, so that the script starts without a second
interpreter's start-up and while its environment is prepared in a thread (see
:mod:`.pending`). What the script sees is what ``python SCRIPT`` gives it: ``__main__``,
``sys.argv``, ``sys.path[0]`` the script's directory; and what its caller sees too:

* its exit status (``sys.exit(n)`` leaves as ``SystemExit`` and ends the process with
  ``n``; an uncaught exception prints its traceback, from the script's frame on, through
  ``sys.excepthook``, and exits 1);
* signals: the process is the script's, so a signal sent to ``lazyext run`` reaches the
  script's handlers, and one it does not handle ends the process as it would end
  ``python``. An uncaught ``KeyboardInterrupt`` runs the ``atexit`` handlers, then ends
  the process with SIGINT, as CPython does.
"""

from __future__ import annotations

import os
import runpy
import sys
from collections.abc import Sequence
from types import TracebackType

EXIT_ERROR = 1


def run_path(script: str, args: Sequence[str]) -> int:
    """Run ``script`` as ``__main__`` with ``args``; its exit status (``SystemExit``
    propagates)."""
    real = os.path.abspath(script)
    sys.argv[:] = [script, *args]
    if sys.path:
        sys.path[0] = os.path.dirname(real)
    else:
        sys.path.insert(0, os.path.dirname(real))
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit:
        raise
    except KeyboardInterrupt as interrupt:
        _report(interrupt, real)
        return _die_by_sigint()
    except BaseException as error:
        _report(error, real)
        return EXIT_ERROR
    return 0


def _report(error: BaseException, script: str) -> None:
    """The traceback as Python prints it for a script: from the script's frames on."""
    first: TracebackType | None = error.__traceback__
    while first is not None and os.path.abspath(first.tb_frame.f_code.co_filename) != script:
        first = first.tb_next
    # The printed traceback is the exception's own: give it the shortened one.
    sys.excepthook(type(error), error.with_traceback(first), first)


def _die_by_sigint() -> int:
    import atexit
    import signal

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if not hasattr(signal, "SIGINT") or os.name != "posix":
        return 130
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)
    return 130  # not reached: the signal ends the process
