"""Progress on stderr while an install takes long: what is installed, and why.

``with installing("pandas>=2", "import pandas"):`` around an install. Nothing happens
for installs shorter than half a second. After that, on a terminal, one line::

    lazyext: installing pandas>=2 for `import pandas` ... 3 s

updated in place every second and finished with the time taken (``installed ... in
8.2 s`` or ``... failed after 2.1 s``). When stderr is not a terminal (a pipe, CI's
log), plain lines instead: one at the start, one every 5 seconds (``... 5 s``) and one
at the end, so a long install is never silent. A program whose logging shows the
``lazyext`` logger's INFO records (a service's logs) gets the start and the end as log
records instead of the plain lines. ``LAZYEXT_PROGRESS=0`` turns all of it off.

No progress library and no thread module: a ``_thread`` watcher waits on a lock with
a timeout, so an install that finishes in time costs one thread start and no output.
"""

from __future__ import annotations

import _thread
import os
import sys
import time

from lazyext import _log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType

AFTER = 0.5  # seconds before the line appears
EVERY = 1.0  # seconds between updates on a terminal
EVERY_PLAIN = 5.0  # seconds between the plain lines when stderr is not a terminal

_write_lock = _thread.allocate_lock()
_open: installing | None = None  # whose line is the last one written, without newline


def enabled() -> bool:
    return os.environ.get("LAZYEXT_PROGRESS", "").strip().lower() not in {"0", "false", "no", "off"}


class installing:  # a statement: `with installing(...)`
    """Context manager: show progress for one install if it takes longer than ``AFTER``."""

    def __init__(self, what: str, why: str = "", *, doing: str = "installing") -> None:
        self.doing = doing
        self.text = f"{doing} {what}" + (f" for {why}" if why else "")
        self.failed = False
        self._done: _thread.LockType | None = None
        self._finished = _thread.allocate_lock()

    def __enter__(self) -> installing:
        if not enabled():
            return self
        stream = sys.stderr
        tty = stream is not None and _isatty(stream)
        done = _thread.allocate_lock()
        done.acquire()
        self._done = done
        self._finished.acquire()
        after = _after()
        _thread.start_new_thread(self._watch, (done, tty, after, time.monotonic()))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        done = self._done
        if done is None:
            return
        self.failed = kind is not None
        done.release()
        self._finished.acquire()  # the final line is written before the caller goes on
        self._finished.release()

    def _watch(self, done: _thread.LockType, tty: bool, after: float, started: float) -> None:
        try:
            if done.acquire(timeout=after):
                return  # quick: nothing to say
            logged = not tty and _logging_shows_info()
            if tty:
                self._line(f"lazyext: {self.text} ...", final=False)
            elif logged:
                _log.info("%s ...", self.text)
            else:
                _plain(f"lazyext: {self.text} ...")
            while not done.acquire(timeout=EVERY if tty else EVERY_PLAIN):
                seconds = int(time.monotonic() - started)
                if tty:
                    self._line(f"lazyext: {self.text} ... {seconds} s", final=False)
                elif not logged:
                    _plain(f"lazyext: {self.text} ... {seconds} s")
            took = time.monotonic() - started
            if self.failed:
                final = f"{self.text}: failed after {took:.1f} s"
            else:
                past = self.doing[: -len("ing")] + "ed"  # installing -> installed
                final = self.text.replace(self.doing, past, 1) + f" in {took:.1f} s"
            if tty:
                self._line(f"lazyext: {final}", final=True)
            elif logged:
                _log.info("%s", final)
            else:
                _plain(f"lazyext: {final}")
        except Exception:  # progress must never break an install
            pass
        finally:
            self._finished.release()

    def _line(self, text: str, *, final: bool) -> None:
        """Write this install's line: in place while it is the open (last) line, on a
        line of its own when another install's line was written since."""
        global _open
        with _write_lock:
            if _open is self:
                _write(f"\r\033[K{text}", newline=final)
            elif _open is None:
                _write(text, newline=final)
            elif final or text.endswith("..."):
                _write(f"\n{text}", newline=final)  # close the other line first
            else:
                return  # an update while another line is open: skip it
            _open = None if final else self


def _plain(text: str) -> None:
    """One whole line (parallel installs never cut into each other's)."""
    with _write_lock:
        _write(text, newline=True)


def _logging_shows_info() -> bool:
    """Would a record on the ``lazyext`` logger at INFO be shown? Never without logging
    imported: nobody configured it then (lazyext._log)."""
    if "logging" not in sys.modules:
        return False
    import logging

    logger = logging.getLogger("lazyext")
    return logger.isEnabledFor(logging.INFO) and logger.hasHandlers()


def _after() -> float:
    try:
        return max(0.0, float(os.environ.get("LAZYEXT_PROGRESS_AFTER", AFTER)))
    except ValueError:
        return AFTER


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False


def _write(text: str, *, newline: bool) -> None:
    stream = sys.stderr
    if stream is None:
        return
    try:
        stream.write(text + ("\n" if newline else ""))
        stream.flush()
    except (OSError, ValueError):
        pass
