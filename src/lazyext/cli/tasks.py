"""Commands of the task manager: ``lazyext tasks ...``, ``scheduler``, ``refresh``, ``health``.

(``lazyext gc`` lives in :mod:`lazyext.cli`; its eviction options come from here.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lazyext._errors import ConfigError
from lazyext._report import shapes
from lazyext.cli.output import (
    EXIT_FAILURE,
    EXIT_OK,
    failure,
    load_config,
    print_json,
    print_table,
)

if TYPE_CHECKING:
    import logging

    from lazyext.tasks import Task, TaskManager


def register(sub: Any) -> None:
    tasks = sub.add_parser("tasks", help="scheduled tasks: list, add, pause, resume, run, remove")
    verbs = tasks.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True

    listing = verbs.add_parser("list", help="every task with its schedule and last outcome")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=cmd_list)

    add = verbs.add_parser("add", help="store a task ('package.module:function')")
    add.add_argument("func", metavar="MODULE:FUNCTION", help="an importable function")
    add.add_argument("--id", help="task id (default: the function path)")
    add.add_argument("--name", help="a readable name")
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--every", metavar="DURATION", help="interval: 30s, 5m, 2h, 1d")
    when.add_argument("--cron", metavar="'M H DOM MON DOW'", help="crontab expression")
    when.add_argument("--at", metavar="ISO-DATETIME", help="once, at this time")
    add.add_argument(
        "--max-retries",
        type=int,
        default=3,
        metavar="N",
        help="retries of a failed run, with backoff (default: 3)",
    )
    add.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="abandon a run that takes longer, recorded as timed out (default: none)",
    )
    add.add_argument("--kwargs", default=None, metavar="JSON", help="keyword arguments")
    add.add_argument("--replace", action="store_true", help="replace a task with this id")
    add.add_argument("--json", action="store_true", help="machine-readable output")
    add.set_defaults(handler=cmd_add)

    for verb, handler, text in (
        ("pause", cmd_pause, "stop running a task (in every process)"),
        ("resume", cmd_resume, "run a paused task again"),
        ("run", cmd_run, "run a task now, here, and report its outcome"),
        ("remove", cmd_remove, "delete a task and its history"),
        ("show", cmd_show, "a task and its latest runs"),
    ):
        parser = verbs.add_parser(verb, help=text)
        parser.add_argument(
            "task_id", metavar="ID", help="the task's id (see `lazyext tasks list`)"
        )
        parser.add_argument("--json", action="store_true", help="machine-readable output")
        parser.set_defaults(handler=handler)

    scheduler = sub.add_parser(
        "scheduler", help="run the scheduler in the foreground (Ctrl-C or SIGTERM stops it)"
    )
    scheduler.add_argument(
        "--no-maintenance", action="store_true", help="do not register the maintenance tasks"
    )
    scheduler.set_defaults(handler=cmd_scheduler)

    refresh = sub.add_parser("refresh", help="reinstall expired extensions (new generation)")
    refresh.add_argument("names", nargs="*", metavar="NAME", help="extensions (default: all)")
    refresh.add_argument("--force", action="store_true", help="refresh even if not expired")
    refresh.add_argument("--json", action="store_true", help="machine-readable output")
    refresh.set_defaults(handler=cmd_refresh)

    health = sub.add_parser("health", help="import each extension in a child process")
    health.add_argument("names", nargs="*", metavar="NAME", help="extensions (default: all)")
    health.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="per extension (default: [maintenance] health-timeout, 60 s)",
    )
    health.add_argument("--last", action="store_true", help="show the recorded results only")
    health.add_argument("--json", action="store_true", help="machine-readable output")
    health.set_defaults(handler=cmd_health)


def _manager(args: argparse.Namespace, **options: Any) -> TaskManager:
    from lazyext.tasks import TaskManager

    return TaskManager(args.config, **options)


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def _iso(timestamp: float | None) -> str:
    """ISO 8601 in local time with its offset: ``2025-03-01T03:15:00+01:00``."""
    if timestamp is None:
        return "-"
    from datetime import datetime

    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


def _row(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "state": task.status if task.enabled else f"paused ({task.status})",
        "trigger": task.describe_trigger(),
        "next": _when(task.next_run) if task.enabled else "-",
        "last": _when(task.last_run),
        "runs": task.run_count,
        "error": task.last_error.splitlines()[0][:60] if task.last_error else "",
    }


def cmd_list(args: argparse.Namespace) -> int:
    from lazyext.tasks._leader import current_leader

    manager = _manager(args)
    tasks = manager.list_tasks()
    from pathlib import Path

    runner = current_leader(Path(manager.data_dir))
    if args.json:
        print_json({"runner": runner, "tasks": [task.as_dict() for task in tasks]})
        return EXIT_OK
    if runner is None:
        print("runner: none (start one with: lazyext scheduler)")
    else:
        print(f"runner: pid {runner.get('pid')} on {runner.get('host')}")
    print_table(
        [_row(task) for task in tasks], ("id", "state", "trigger", "next", "last", "runs", "error")
    )
    return EXIT_OK


def cmd_add(args: argparse.Namespace) -> int:
    from lazyext._settings.maintenance import parse_duration

    trigger_args: dict[str, Any]
    if args.every is not None:
        trigger, trigger_args = "interval", {"seconds": parse_duration(args.every, what="--every")}
    elif args.cron is not None:
        fields = args.cron.split()
        if len(fields) != 5:
            raise ConfigError(f"--cron {args.cron!r}: expected five fields 'M H DOM MON DOW'")
        names = ("minute", "hour", "day", "month", "day_of_week")
        trigger, trigger_args = "cron", dict(zip(names, fields, strict=True))
    else:
        trigger, trigger_args = "date", {"run_date": args.at}
    kwargs = None
    if args.kwargs is not None:
        try:
            kwargs = json.loads(args.kwargs)
        except ValueError as error:
            raise ConfigError(f"--kwargs is not JSON: {error}") from error
        if not isinstance(kwargs, dict):
            raise ConfigError("--kwargs must be a JSON object")
    from lazyext.tasks import TaskExistsError

    try:
        task = _manager(args).add_task(
            args.func,
            trigger,
            id=args.id,
            name=args.name,
            max_retries=args.max_retries,
            timeout=args.timeout,
            kwargs=kwargs,
            replace_existing=args.replace,
            **trigger_args,
        )
    except TaskExistsError as error:
        # The API's advice (replace_existing=True) means nothing on a command line.
        raise TaskExistsError(
            f"a task with id {error.task_id!r} exists already; add --replace to replace its "
            f"definition (its run history is kept), or choose another --id",
            task_id=error.task_id,
        ) from None
    return _print_task(args, task, "added")


def _print_task(args: argparse.Namespace, task: Task, verb: str) -> int:
    if args.json:
        print_json({"task": task.as_dict()})
    else:
        print(f"{verb} {task.id}: {task.describe_trigger()}, next run {_when(task.next_run)}")
    return EXIT_OK


def cmd_pause(args: argparse.Namespace) -> int:
    return _print_task(args, _manager(args).pause_task(args.task_id), "paused")


def cmd_resume(args: argparse.Namespace) -> int:
    return _print_task(args, _manager(args).resume_task(args.task_id), "resumed")


def cmd_remove(args: argparse.Namespace) -> int:
    _manager(args).remove_task(args.task_id)
    if args.json:
        print_json({"removed": args.task_id})
    else:
        print(f"removed {args.task_id}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    run = _manager(args).run_task(args.task_id)
    if args.json:
        document: dict[str, Any] = {"run": run.as_dict()}
        if not run.ok:
            message = f"task {run.task_id}: {run.status} after {run.attempts} attempt(s)"
            document["error"] = failure("TaskFailed", message, [run.error] if run.error else [])
        print_json(document)
    else:
        took = run.finished - run.started
        print(f"{run.task_id}: {run.status} after {run.attempts} attempt(s) in {took:.2f} s")
        if run.error:
            print(f"  {run.error}")
    return EXIT_OK if run.ok else EXIT_FAILURE


_TIMES = frozenset({"last_run", "next_run"})  # POSIX timestamps in Task.as_dict()


def cmd_show(args: argparse.Namespace) -> int:
    manager = _manager(args)
    task = manager.get_task(args.task_id)
    runs = manager.task_runs(args.task_id, limit=10)
    if args.json:
        print_json({"task": task.as_dict(), "runs": [run.as_dict() for run in runs]})
        return EXIT_OK
    for key, value in task.as_dict().items():
        print(f"{key:12} {_iso(value) if key in _TIMES else value}")
    rows = [
        {"started": _iso(r.started), "status": r.status, "attempts": r.attempts, "error": r.error}
        for r in runs
    ]
    print_table(rows, ("started", "status", "attempts", "error"))
    return EXIT_OK


def cmd_scheduler(args: argparse.Namespace) -> int:
    import signal
    import threading

    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    previous = {
        number: signal.signal(number, request_stop) for number in (signal.SIGINT, signal.SIGTERM)
    }
    manager = _manager(args, maintenance=not args.no_maintenance)
    logger, restore_logging = _service_logging(getattr(args, "verbose", 0))
    try:
        manager.start()
        role = "running the stored tasks" if manager.is_leader else "standing by (another runs)"
        logger.info("lazyext scheduler: pid %d, %s; Ctrl-C stops", os.getpid(), role)
        while not stop.wait(1.0):
            pass
    finally:
        manager.shutdown(wait=False)
        for number, handler in previous.items():
            signal.signal(number, handler)
        logger.info("lazyext scheduler: stopped")
        restore_logging()
    return EXIT_OK


def _service_logging(verbosity: int) -> tuple[logging.Logger, Callable[[], None]]:
    """A long-running process logs what it does with a timestamp, level and logger name
    (``lazyext.tasks``, ``lazyext.plugins``, ...) on stderr, INFO and up (``-vv``: DEBUG).
    Returns the scheduler's logger and the undo."""
    import logging

    root = logging.getLogger("lazyext")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    before = (root.level, root.propagate)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)
    root.propagate = False  # not twice through the CLI's plain "lazyext: ..." handler

    def restore() -> None:
        root.removeHandler(handler)
        root.setLevel(before[0])
        root.propagate = before[1]

    return logging.getLogger("lazyext.tasks"), restore


def cmd_refresh(args: argparse.Namespace) -> int:
    from lazyext._report.status import extension_rows
    from lazyext.tasks._maintenance import refresh_expired

    config = load_config(args)
    report = refresh_expired(config, names=args.names, force=args.force)
    if args.json:  # the CLI's one shape for per-extension results (lazyext._report.shapes)
        known = {row["name"]: row for row in extension_rows(config)}
        rows = []
        for state in ("refreshed", "failed", "fresh", "missing", "disabled"):
            for name in report[state]:
                row = known[name]
                # A missing one may carry its remembered failure: not this refresh's.
                row.update(ok=state != "failed", state=state)
                if state == "refreshed":
                    row["path"] = str(report["refreshed"][name])
                elif state == "failed":
                    row["detail"] = str(report["failed"][name])
                rows.append(row)
        document = shapes.report("refresh", config, rows)
        if report["failed"]:
            document["error"] = shapes.rows_error(rows)
        print_json(document)
    else:
        for name, path in report["refreshed"].items():
            print(f"refreshed {name}: {path}")
        for name, error in report["failed"].items():
            print(f"FAILED    {name}: {error}")
        for key, text in (
            ("fresh", "not expired"),
            ("missing", "not installed (`lazyext warm` installs it)"),
            ("disabled", "disabled"),
        ):
            if report[key]:
                print(f"{text}: {', '.join(report[key])}")
    return EXIT_FAILURE if report["failed"] else EXIT_OK


def cmd_health(args: argparse.Namespace) -> int:
    from lazyext._settings.maintenance import settings_of
    from lazyext.tasks._health import check_health
    from lazyext.tasks._store import SqliteTasks

    config = None
    if args.last:
        results = SqliteTasks().health()
        if args.names:
            results = [result for result in results if result["name"] in args.names]
    else:
        config = load_config(args)
        timeout = args.timeout or settings_of(config).health_timeout
        results = check_health(config, names=args.names, timeout=timeout)
    if args.json:  # the CLI's one shape for per-extension results (lazyext._report.shapes)
        rows = [
            shapes.extension(
                r["name"],
                ok=bool(r["ok"]),
                state="ok" if r["ok"] else "failed",
                detail=str(r["detail"]),
                installed_at=None,
            )
            for r in results
        ]
        document = shapes.report(
            "health", config, rows, checked_at=[r["checked_at"] for r in results]
        )
        if not all(row["ok"] for row in rows):
            document["error"] = shapes.rows_error(rows, "failed their health check")
        print_json(document)
    else:
        for result in results:
            mark = "ok" if result["ok"] else "FAILED"
            detail = str(result["detail"]).replace("\n", "\n       ")
            print(f"{mark:6} {result['name']} ({_when(result['checked_at'])}): {detail}")
        if not results:
            print("(no extensions to check)")
    return EXIT_OK if all(result["ok"] for result in results) else EXIT_FAILURE
