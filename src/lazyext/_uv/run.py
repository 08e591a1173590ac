"""The one way lazyext runs uv: offline first, then online with retries, in a time limit.

uv revalidates its cached index pages online (one round trip per project, ~50-200 ms)
even when every file is cached, while ``--offline`` answers from its cache in ~20 ms;
a miss fails in ~10 ms and the next attempt goes online (benchmarks/README.md). Online
attempts are retried with exponential backoff only when the failure is transient (the
network, a 5xx, a timeout); a hash mismatch is never retried. ``install-timeout``
bounds all the attempts and the waits between them: it is the longest an ``import``
may block on the network. Only the tail of uv's output is kept, redacted.
"""

from __future__ import annotations

import time

from lazyext import _log
from lazyext._errors import InstallError
from lazyext._record import record
from lazyext._settings import secrets
from lazyext._settings.config import Settings
from lazyext._uv import command, spawn

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Final

_TAIL_LINES: Final = 40
#: Failures a retry may cure; anything else (no solution, hash mismatch) fails at once.
TRANSIENT: Final = (
    r"(?i)request failed after|error sending request|connection (refused|reset|closed)|"
    r"timed? ?out|dns error|failed to fetch|503 service|502 bad|504 gateway|"
    r"500 internal|temporarily unavailable|network is unreachable|broken pipe"
)
SECURITY: Final = r"(?i)hash mismatch|hashes? (do not|don't) match"


def matches(pattern: str, text: str) -> bool:
    """``re.search``, with ``re`` imported on a failure only: a first import that
    succeeds never loads it (~4 ms of the cold path; benchmarks/README.md)."""
    import re

    return re.search(pattern, text) is not None


@record
class Ran:
    """How a uv run (the last of its attempts) ended."""

    code: int  # exit status; negative: killed by that signal; 0: success
    tail: str  # the last lines uv wrote, credentials redacted
    timed_out: bool = False  # lazyext's wall-clock limit killed it
    limit: float = 0.0  # that limit, in seconds (0: none)

    @property
    def ok(self) -> bool:
        return self.code == 0 and not self.timed_out

    @property
    def transient(self) -> bool:
        """A retry may cure it (killed, timed out, the network)."""
        if self.security:
            return False
        return self.code < 0 or self.timed_out or matches(TRANSIENT, self.tail)

    @property
    def security(self) -> bool:
        return matches(SECURITY, self.tail)


def run_once(argv: list[str], settings: Settings, timeout: float | None) -> Ran:
    """Run ``argv`` once under ``timeout`` seconds (``None``: no limit)."""
    _log.debug("uv argv: %s", argv)
    started = time.monotonic()
    try:
        code, output = spawn.run(argv, command.environment(settings), timeout)
    except spawn.Timeout as error:
        return Ran(-1, _tail(error.output, settings), timed_out=True, limit=timeout or 0.0)
    except OSError as error:
        raise InstallError(
            f"cannot run uv ({error}); reinstall the uv package: pip install --force-reinstall uv"
        ) from error
    _log.debug("uv exited %s after %.3f s", code, time.monotonic() - started)
    return Ran(code, _tail(output, settings), limit=timeout or 0.0)


def run(
    argv_for: Callable[[bool], list[str]],
    settings: Settings,
    *,
    what: str,
    offline_first: bool = True,
    online: bool = True,
    reset: Callable[[], None] | None = None,
) -> Ran:
    """Run uv until it succeeds or a failure is final; the last attempt's outcome.

    ``argv_for(offline)`` builds the argv of one attempt. ``offline_first``: try uv's
    cache alone first, when the network could be used at all. ``online``: attempts
    that may use the network follow (``settings.retries`` retries of transient
    failures); without, one offline attempt only. ``reset`` runs after a failed
    attempt that another one follows (an install's half-written prefix). ``what`` is
    said in the retry warnings ("installing pyyaml>=6").
    """
    limit = settings.install_timeout if settings.install_timeout > 0 else None
    deadline = None if limit is None else time.monotonic() + limit
    modes = [True] if offline_first and online and command.may_use_network(settings) else []
    modes += [False] * (1 + max(0, settings.retries)) if online else [True]
    ran = Ran(0, "")
    retries = 0
    for index, offline in enumerate(modes):
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        ran = run_once(argv_for(offline), settings, left)
        if ran.ok or ran.security or index == len(modes) - 1:
            return ran
        if offline and not modes[index + 1]:
            _log.debug("not answered from uv's cache alone, going online: %s", ran.tail)
        else:
            retries += 1
            delay = min(8.0, 0.5 * 2 ** (retries - 1))
            out_of_time = deadline is not None and time.monotonic() + delay >= deadline
            if not ran.transient or out_of_time:
                return ran
            _log.warning(
                "%s failed (attempt %d of %d, transient); retrying in %.1f s",
                what,
                retries,
                len(modes) - modes.count(True),
                delay,
            )
            time.sleep(delay)
        if reset is not None:
            reset()
    return ran


def _tail(output: bytes | None, settings: Settings) -> str:
    if not output:
        return ""
    lines = output.decode("utf-8", "replace").splitlines()
    return secrets.redact("\n".join(lines[-_TAIL_LINES:]), secrets.secret_urls(settings))


def uv_version(settings: Settings) -> tuple[str, str | None, str | None]:
    """``(path, version, problem)`` of the uv lazyext runs (``lazyext doctor``)."""
    path = command.uv_binary()
    ran = run_once([path, "--version"], settings, 30.0)
    if ran.ok:
        return path, ran.tail.strip(), None
    problem = "timed out after 30 s" if ran.timed_out else ran.tail.strip()
    return path, None, f"cannot run uv: {problem or f'exit status {ran.code}'}"
