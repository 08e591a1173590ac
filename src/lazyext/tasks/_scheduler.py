"""The one place that drives APScheduler's ``BackgroundScheduler``.

Jobs live in APScheduler's memory store only (a job store cannot be shared between
processes); what a task is lives in lazyext's state. Every job runs one instance at a
time (``max_instances=1``), turns a backlog into one run (``coalesce=True``) and still
runs when it is up to ``misfire_grace_time`` late: APScheduler's default of 1 s drops
the runs of a busy or suspended host without a word.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apscheduler.schedulers.background import (  # type: ignore[import-untyped]
        BackgroundScheduler,
    )

#: Receives (job id, "missed" or "skipped") for runs APScheduler did not start.
Listener = Callable[[str, str], None]

_live: weakref.WeakSet[Scheduler] = weakref.WeakSet()
_exit_hook_lock = threading.Lock()
_exit_hook_registered = False


class Scheduler:
    """A started ``BackgroundScheduler`` behind the few calls the manager needs."""

    def __init__(
        self, grace: float | None, listener: Listener, on_exit: Callable[[], None]
    ) -> None:
        from apscheduler.events import (  # type: ignore[import-untyped]
            EVENT_JOB_MAX_INSTANCES,
            EVENT_JOB_MISSED,
        )
        from apscheduler.schedulers.background import BackgroundScheduler

        _register_exit_hook()
        self._listener = listener
        self.on_exit = on_exit
        self._missed = EVENT_JOB_MISSED
        self._aps: BackgroundScheduler = BackgroundScheduler(
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": grace},
            logger=logging.getLogger("lazyext.tasks.apscheduler"),
        )
        self._aps.add_listener(self._on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        self._aps.start()
        _live.add(self)

    def on_scheduler_thread(self) -> bool:
        return threading.current_thread() is getattr(self._aps, "_thread", None)

    def add(
        self,
        job_id: str,
        name: str,
        func: Callable[..., object],
        trigger: Any,
        next_run: float | None = None,
        *,
        grace: Any = ...,
    ) -> float | None:
        """(Re)place job ``job_id``; returns its next run time.

        ``next_run`` keeps a stored cadence: a time in the past (a run missed while no
        scheduler ran) means one run now.
        """
        options: dict[str, Any] = {}
        if next_run is not None:
            when = max(next_run, time.time())  # APScheduler runs on real time
            options["next_run_time"] = dt.datetime.fromtimestamp(when, self._aps.timezone)
        if grace is not ...:
            options["misfire_grace_time"] = grace
        job = self._aps.add_job(
            func, trigger, args=(job_id,), id=job_id, name=name, replace_existing=True, **options
        )
        return _timestamp(job.next_run_time)

    def add_tick(self, job_id: str, func: Callable[[], None], seconds: float) -> None:
        self._aps.add_job(
            func, "interval", seconds=seconds, id=job_id, name=job_id, misfire_grace_time=None
        )

    def remove(self, job_id: str) -> None:
        from apscheduler.jobstores.base import JobLookupError  # type: ignore[import-untyped]

        try:
            self._aps.remove_job(job_id)
        except JobLookupError:
            pass

    def next_run(self, job_id: str) -> float | None:
        job = self._aps.get_job(job_id)
        return _timestamp(getattr(job, "next_run_time", None))

    def shutdown(self, wait: bool) -> None:
        from apscheduler.schedulers import SchedulerNotRunningError  # type: ignore[import-untyped]

        _live.discard(self)
        try:
            self._aps.shutdown(wait=wait)
        except SchedulerNotRunningError:
            pass

    def _on_event(self, event: Any) -> None:
        self._listener(event.job_id, "missed" if event.code == self._missed else "skipped")


def _timestamp(when: dt.datetime | None) -> float | None:
    return when.timestamp() if when is not None else None


def _register_exit_hook() -> None:
    """Stop every scheduler before ``concurrent.futures`` refuses new work at exit.

    An ``atexit`` handler runs too late: by then ``concurrent.futures`` has shut its
    pools, and a job due at that moment ends in "cannot schedule new futures after
    interpreter shutdown" (APScheduler #918, #985). ``threading``'s exit hooks run
    first, newest first, so ours (registered after importing the executor module)
    runs before ``concurrent.futures``' own.
    """
    global _exit_hook_registered
    import concurrent.futures.thread  # noqa: F401  (its hook must be registered first)

    with _exit_hook_lock:
        if _exit_hook_registered:
            return
        register: Callable[[Callable[[], None]], None] = getattr(threading, "_register_atexit")  # noqa: B009
        register(_stop_all)
        _exit_hook_registered = True


def _stop_all() -> None:
    for scheduler in list(_live):
        try:
            scheduler.on_exit()
        except Exception:  # interpreter exit: never a traceback
            logging.getLogger("lazyext.tasks").debug("shutdown at exit failed", exc_info=True)
