"""Running one task: attempts in a daemon thread, retries with backoff, a timeout.

Python cannot kill a thread, so a run that passes its ``timeout`` is *abandoned*: it
is recorded as ``timed_out``, the scheduler thread is free again, and until the
abandoned attempt returns on its own every new run of that task is ``skipped``, so
runs never pile up. (Work that must be cut off hard, such as uv, carries its own
timeout: lazyext's installer kills uv's process group.) Attempts run in daemon
threads, so a hung task never keeps the interpreter from exiting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from lazyext.tasks._spec import Task, TaskRun

logger = logging.getLogger("lazyext.tasks")

#: Longest wait between two attempts.
MAX_BACKOFF: Final = 300.0

_context = threading.local()


def in_task() -> bool:
    """True on a thread that is running a task's function."""
    return bool(getattr(_context, "task", None))


class Clock:
    """Wall-clock time and waiting; tests pass a controllable one."""

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        """Wait ``seconds`` unless ``stop`` is set first; True if the whole wait passed."""
        return not stop.wait(seconds)


def backoff(attempt: int, base: float) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (0-based): doubling."""
    return float(min(base * 2**attempt, MAX_BACKOFF))


def describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


class Runner:
    """Runs tasks for one manager; ``stop`` ends waits and retries at shutdown."""

    def __init__(self, clock: Clock, retry_backoff: float) -> None:
        self.clock = clock
        self.retry_backoff = retry_backoff
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._active: set[str] = set()
        self._stragglers: dict[str, threading.Thread] = {}
        self._waiters: set[threading.Event] = set()

    def wake_all(self) -> None:
        """Stop waiting for running attempts (they are recorded as interrupted)."""
        with self._lock:
            waiters = list(self._waiters)
        for waiter in waiters:
            waiter.set()

    def _claim(self, task_id: str) -> str:
        """Take the task's slot; a non-empty answer says why it is busy."""
        with self._lock:
            straggler = self._stragglers.get(task_id)
            if straggler is not None and not straggler.is_alive():
                del self._stragglers[task_id]
                straggler = None
            if task_id in self._active:
                return "skipped: the previous run is still going"
            if straggler is not None:
                return "skipped: an earlier run that timed out is still going"
            self._active.add(task_id)
            return ""

    def run(
        self,
        task: Task,
        func: Callable[..., object],
        kwargs: Mapping[str, Any],
        on_start: Callable[[float], None] = lambda started: None,
    ) -> TaskRun:
        started = self.clock.time()
        busy = self._claim(task.id)
        if busy:
            return TaskRun(task.id, started, started, "skipped", 0, busy)
        try:
            on_start(started)
            status, error, attempts = self._attempts(task, func, kwargs)
        finally:
            with self._lock:
                self._active.discard(task.id)
        return TaskRun(task.id, started, self.clock.time(), status, attempts, error)

    def _attempts(
        self, task: Task, func: Callable[..., object], kwargs: Mapping[str, Any]
    ) -> tuple[str, str, int]:
        attempt = 0
        while True:
            status, error = self._attempt(task, func, kwargs)
            attempt += 1
            if status != "failed" or attempt > task.max_retries:
                return status, error, attempt
            delay = backoff(attempt - 1, self.retry_backoff)
            logger.info(
                "task %s failed (%s); attempt %d of %d in %.3g s",
                task.id,
                error,
                attempt + 1,
                task.max_retries + 1,
                delay,
            )
            if self.stop.is_set() or not self.clock.sleep(delay, self.stop):
                return "interrupted", f"{error} (shut down before the next attempt)", attempt

    def _attempt(
        self, task: Task, func: Callable[..., object], kwargs: Mapping[str, Any]
    ) -> tuple[str, str]:
        outcome: dict[str, BaseException | None] = {}
        done = threading.Event()

        def target() -> None:
            _context.task = task.id
            try:
                func(**kwargs)
                outcome["error"] = None
            except BaseException as error:  # a task must never take the scheduler down
                logger.info("task %s raised", task.id, exc_info=True)
                outcome["error"] = error
            finally:
                done.set()

        thread = threading.Thread(target=target, name=f"lazyext-task:{task.id}", daemon=True)
        with self._lock:
            self._waiters.add(done)
        try:
            thread.start()
            done.wait(task.timeout)
        finally:
            with self._lock:
                self._waiters.discard(done)
        if "error" in outcome:
            error = outcome["error"]
            return ("ok", "") if error is None else ("failed", describe(error))
        with self._lock:
            self._stragglers[task.id] = thread
        if self.stop.is_set():
            return "interrupted", "the task manager shut down while the task was running"
        logger.warning("task %s timed out after %g s", task.id, task.timeout)
        return "timed_out", f"timed out after {task.timeout:g} s (still running; abandoned)"
