"""The cache's own maintenance: refresh, gc, warm and health, as tasks and as commands.

Defaults come from the config's ``[maintenance]`` table (validated here)::

    [maintenance]
    enabled = true              # register the built-in tasks in `lazyext scheduler`
    refresh-every = "1h"        # refresh expired installs (a new generation each)
    gc-every = "1d"             # collect the cache
    warm-every = "6h"           # install configured extensions that are missing
    health-every = "1d"         # import each extension in a child process
    gc-grace = "1h"             # keep superseded/invalidated installs this long
    unused-days = 30            # evict installs unused this long (0: never)
    max-size = "0"              # evict least recently used beyond this ("5G"; 0: no limit)
    health-timeout = "60s"      # per extension
    election-interval = "10s"   # how soon another process takes over as runner

Durations are seconds or a number with ``s``, ``m``, ``h``, ``d`` or ``w``; ``0``
turns a task off. Sizes are bytes or a number with ``K``, ``M``, ``G`` or ``T``.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Final

from lazyext._errors import LazyextError
from lazyext._settings.config import check_names
from lazyext._settings.maintenance import Maintenance, settings_of
from lazyext.tasks._errors import TaskError
from lazyext.tasks._spec import Task

if TYPE_CHECKING:
    from lazyext._settings.config import Config
    from lazyext._store.gc import GcReport
    from lazyext.tasks._runner import Clock
    from lazyext.tasks._store import SqliteTasks


class MaintenanceError(TaskError):
    """A maintenance task ran but could not do all of its work; ``report`` says what."""

    def __init__(self, message: str, *, report: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.report = report or {}


# -- the built-in tasks --------------------------------------------------------------

#: id -> (function path, interval setting, retries)
BUILTINS: Final = {
    "lazyext.refresh": ("lazyext.tasks._maintenance:refresh_task", "refresh_every", 2),
    "lazyext.gc": ("lazyext.tasks._maintenance:gc_task", "gc_every", 0),
    "lazyext.warm": ("lazyext.tasks._maintenance:warm_task", "warm_every", 2),
    "lazyext.health": ("lazyext.tasks._maintenance:health_task", "health_every", 0),
}


def install(store: SqliteTasks, config: Config, settings: Maintenance, clock: Clock) -> None:
    """Store the built-in tasks as configured (keeping their pause state and history)."""
    source = config.source if os.path.isfile(config.source) else None
    now = clock.time()
    for task_id, (func, setting, retries) in BUILTINS.items():
        every = float(getattr(settings, setting))
        existing = store.get(task_id)
        if not settings.enabled or every <= 0:
            if existing is not None and existing.builtin:
                store.delete(task_id)
            continue
        args = {"seconds": every}
        kwargs = {"config": source}
        same = (True, func, args, kwargs)
        if existing is not None and same == (
            existing.builtin,
            existing.func,
            dict(existing.trigger_args),
            dict(existing.kwargs),
        ):
            continue
        # Warm right away (a new config may name missing extensions); the rest can wait.
        first = now if task_id == "lazyext.warm" else now + every
        if existing is not None and existing.next_run is not None:
            first = min(existing.next_run, now + every)
        task = Task(
            id=task_id,
            name=f"maintenance: {task_id.partition('.')[2]}",
            func=func,
            trigger="interval",
            trigger_args=args,
            kwargs=kwargs,
            enabled=existing.enabled if existing is not None else True,
            max_retries=retries,
            builtin=True,
            next_run=first,
        )
        # Replace even when none was found: another process starting at the same moment
        # may have stored it since the look-up (an insert would fail on its row).
        store.add(task, replace_existing=True)


def load_config(config: Config | str | None) -> Config:
    from lazyext._settings.config import Config
    from lazyext._settings.load import load

    return config if isinstance(config, Config) else load(config, {})


def refresh_expired(
    config: Config,
    *,
    names: tuple[str, ...] | list[str] = (),
    force: bool = False,
    now: float | None = None,
) -> dict[str, Any]:
    """Resolve the environment again once it expired (``force``: now), then install the
    new closures of the installed (``names``: the named) extensions.

    Resolution prefers the newest releases; the old environment and its installs keep
    serving until the new ones are published, and after that for the processes that
    imported them (gc waits for them). With a lock file (``lock`` in the config) nothing
    changes version: only ``lazyext lock --upgrade`` does. Missing installs are left to
    ``warm``, disabled extensions alone.

    The report speaks of the extensions asked about only: another extension that cannot
    be resolved is left out of the environment without a warning here (``status`` and
    ``warm`` report it), so ``refresh NAME`` never prints an unrelated failure.
    """
    from lazyext._env.provision import environment, install
    from lazyext._report import status as _status
    from lazyext._store.bytecode import compile_target

    now = time.time() if now is None else now
    check_names(config, names)
    report: dict[str, Any] = {
        "refreshed": {},
        "failed": {},
        "fresh": [],
        "missing": [],
        "disabled": [],
    }
    env = _status.stored_environment(config)
    asked = [
        plan
        for plan in config.plans
        if (plan.name in names if names else plan.extension.enabled)
        and plan.extension.package is not None
        and plan.marker_ok
    ]
    report["disabled"] = [p.name for p in asked if not p.extension.enabled]
    plans = [p for p in asked if p.extension.enabled]
    installed = [p for p in plans if _status.closure_entries(config, p, env) is not None]
    report["missing"] = [p.name for p in plans if p not in installed]
    due = env is not None and (force or env.expired(now)) and not config.settings.lock
    if not due or not installed:
        report["fresh"] = [p.name for p in installed]
        return report
    try:
        with _without_left_out_warnings():
            environment(config, refresh=True)
    except LazyextError as error:
        report["failed"] = {p.name: str(error) for p in installed}
        return report
    for plan in installed:
        try:
            fresh = install(plan, config)
        except LazyextError as error:
            report["failed"][plan.name] = str(error)
        else:
            for entry in fresh.entries:
                compile_target(entry.target)  # ahead of the imports (lazyext._store.bytecode)
            main = fresh.main
            report["refreshed"][plan.name] = main.path if main is not None else ""
    return report


class _without_left_out_warnings:  # a statement: `with _without_left_out_warnings():`
    """Drop the resolver's warning that an extension was left out (lazyext._env.resolve)."""

    def __enter__(self) -> None:
        import logging

        from lazyext._env.resolve import LEFT_OUT

        def keep(record: logging.LogRecord) -> bool:
            return record.msg != LEFT_OUT

        self.filter = keep
        logging.getLogger("lazyext").addFilter(keep)

    def __exit__(self, *exc_info: object) -> None:
        import logging

        logging.getLogger("lazyext").removeFilter(self.filter)


def collect_garbage(
    config: Config,
    *,
    grace: float | None = None,
    unused_days: float | None = None,
    max_bytes: int | None = None,
    now: float | None = None,
) -> GcReport:
    """``lazyext._store.gc.collect`` with the ``[maintenance]`` defaults for what is not
    given (:func:`lazyext._env.upkeep.collect`)."""
    from lazyext._env import upkeep

    return upkeep.collect(
        config, grace=grace, unused_days=unused_days, max_bytes=max_bytes, now=now
    )


# -- task entry points (the manager passes its config, data dir and clock's time) ----


def refresh_task(
    config: Config | str | None = None, data_dir: str | None = None, now: float | None = None
) -> None:
    report = refresh_expired(load_config(config), now=now)
    if report["failed"]:
        raise MaintenanceError(
            "refresh failed for " + ", ".join(sorted(report["failed"])), report=report
        )


def gc_task(
    config: Config | str | None = None, data_dir: str | None = None, now: float | None = None
) -> None:
    collect_garbage(load_config(config), now=now)


def warm_task(
    config: Config | str | None = None, data_dir: str | None = None, now: float | None = None
) -> None:
    from lazyext._use import warm

    results = warm((), load_config(config))
    failed = {name: str(r) for name, r in results.items() if isinstance(r, BaseException)}
    if failed:
        raise MaintenanceError(
            "warm failed for " + ", ".join(sorted(failed)), report={"failed": failed}
        )


def health_task(
    config: Config | str | None = None, data_dir: str | None = None, now: float | None = None
) -> None:
    from lazyext.tasks._health import check_health

    loaded = load_config(config)
    timeout = settings_of(loaded).health_timeout
    results = check_health(loaded, timeout=timeout, data_dir=data_dir)
    failed = [result["name"] for result in results if not result["ok"]]
    if failed:
        raise MaintenanceError(
            "health check failed for " + ", ".join(failed), report={"results": results}
        )
