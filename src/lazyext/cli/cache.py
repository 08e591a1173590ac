"""The verbs of the cache: status, warm, invalidate, gc."""

from __future__ import annotations

import argparse
import time
from typing import Any

from lazyext._errors import ConfigError
from lazyext._report import shapes
from lazyext._report.status import distribution_rows, environment_summary, extension_rows
from lazyext._use import invalidate_plan, known, plan_for, warm
from lazyext.cli.output import (
    EXIT_FAILURE,
    EXIT_OK,
    describe_source,
    human_size,
    load_config,
    print_json,
    print_table,
)


def register(sub: Any) -> None:
    status = sub.add_parser("status", help="each extension: state, version, size")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=cmd_status)

    warm = sub.add_parser("warm", help="install configured extensions now, in parallel")
    warm.add_argument("names", nargs="*", metavar="NAME", help="extensions (default: all)")
    warm.add_argument(
        "--refresh",
        action="store_true",
        help="resolve the environment again (newer releases) and install what changed",
    )
    warm.add_argument(
        "--no-compile",
        dest="compile",
        action="store_false",
        help="skip writing bytecode ahead (the interpreter then writes it on first import)",
    )
    warm.add_argument("--json", action="store_true", help="machine-readable output")
    warm.set_defaults(handler=cmd_warm)

    invalidate = sub.add_parser("invalidate", help="the next use of NAME reinstalls it")
    invalidate.add_argument(
        "names", nargs="+", metavar="NAME", help="extension name or requirement"
    )
    invalidate.add_argument("--json", action="store_true", help="machine-readable output")
    invalidate.set_defaults(handler=cmd_invalidate)

    gc = sub.add_parser("gc", help="remove staging leftovers and invalidated/superseded installs")
    gc.add_argument(
        "--grace",
        type=float,
        default=None,
        metavar="SECONDS",
        help="keep superseded or invalidated installs this long (default: [maintenance] "
        "gc-grace, 3600)",
    )
    gc.add_argument(
        "--unused-days",
        type=float,
        default=None,
        metavar="DAYS",
        help="evict installs not used for DAYS (0: never; default: [maintenance] unused-days, 30)",
    )
    gc.add_argument(
        "--max-size",
        default=None,
        metavar="SIZE",
        help="then evict least recently used installs until the cache fits SIZE (500M, 2G; "
        "default: [maintenance] max-size, no limit)",
    )
    gc.add_argument("--json", action="store_true", help="machine-readable output")
    gc.set_defaults(handler=cmd_gc)


def cmd_status(args: argparse.Namespace) -> int:
    config = load_config(args)
    rows = extension_rows(config)
    dists = distribution_rows(config)
    summary = environment_summary(config)
    if args.json:
        print_json(shapes.report("status", config, rows, environment=summary, distributions=dists))
        return EXIT_OK
    print(f"config: {describe_source(args, config)}")
    print(f"cache:  {config.settings.cache_dir} ({config.platform})")
    lock = summary["lock"] or summary.get("pylock", "not resolved yet (lazyext lock)")
    print(f"environment: {summary['state']}, lock {lock}")
    for row in rows:
        row["size"] = human_size(row["size"]) if row["size"] else ""
    print_table(rows, ("name", "state", "version", "size", "requirement"))
    for row in rows:
        if row["failure"] is not None:
            print(f"{row['name']}: {row['detail']}")
    if dists:
        print()
        for dist in dists:
            dist["pulled_in_by"] = ", ".join(dist["pulled_in_by"])
        print_table(dists, ("name", "version", "state", "pulled_in_by"))
    return EXIT_OK


def cmd_warm(args: argparse.Namespace) -> int:
    config = load_config(args)
    started = time.monotonic()
    results = warm(args.names, config, refresh=args.refresh, compile=args.compile)
    elapsed = time.monotonic() - started
    failed = {name: r for name, r in results.items() if isinstance(r, BaseException)}
    if args.json:
        # Each result as `status` reports it after the warm (version, key, size, closure,
        # a recorded failure), with the outcome of this warm on top.
        known = {row["name"]: row for row in extension_rows(config)}
        rows = []
        for name, result in results.items():
            row = known.get(name) or shapes.extension(name, ok=True, state="installed")
            if isinstance(result, BaseException):
                row.update(ok=False, state="failed", detail=str(result))
                if row["failure"] is None:
                    row["failure"] = {"type": type(result).__name__, "message": str(result)}
            else:
                row.update(ok=True, path=str(result), detail="")
            rows.append(row)
        report = shapes.report("warm", config, rows, seconds=round(elapsed, 3))
        if failed:
            report["error"] = shapes.rows_error(rows)
        print_json(report)
    else:
        for name, result in results.items():
            mark = "FAILED" if isinstance(result, BaseException) else "ok"
            print(f"{mark:6} {name}: {result}")
        print(f"{len(results) - len(failed)} of {len(results)} ready in {elapsed:.2f} s")
    return EXIT_FAILURE if failed else EXIT_OK


def cmd_invalidate(args: argparse.Namespace) -> int:
    config = load_config(args)
    plans = {name: plan_for(name, config) for name in args.names}
    # A name that is neither configured nor an installed requirement is a typo: exit 2.
    unknown = [name for name, plan in plans.items() if not known(config, plan)]
    if unknown:
        raise ConfigError(
            f"no configured extension or cached requirement named {', '.join(map(repr, unknown))}"
        )
    rows = []
    for name, plan in plans.items():
        count = invalidate_plan(config, plan)  # its distributions' installs
        rows.append(
            shapes.extension(
                name,
                ok=True,
                state="invalidated",
                requirement=plan.requirement,
                key=plan.key,
                detail=f"{count} install(s) invalidated",
            )
        )
    if args.json:
        print_json(shapes.report("invalidate", config, rows))
    else:
        for row in rows:
            print(f"{row['name']}: {row['detail']}")
    return EXIT_OK


def cmd_gc(args: argparse.Namespace) -> int:
    # The maintenance of lazyext.tasks, without its scheduler (apscheduler loads only there).
    from lazyext._settings.maintenance import parse_size
    from lazyext.tasks._maintenance import collect_garbage

    config = load_config(args)
    max_bytes = None if args.max_size is None else parse_size(args.max_size, what="--max-size")
    report = collect_garbage(
        config, grace=args.grace, unused_days=args.unused_days, max_bytes=max_bytes
    )
    if args.json:
        print_json(report.as_dict())
    else:
        for path in report.removed:
            print(f"removed {path}")
        for key in report.skipped_locked:
            print(f"skipped {key} (an install holds its lock)")
        for path in report.skipped_in_use:
            print(f"kept {path} (a running process uses it)")
        print(f"freed {human_size(report.freed_bytes)}")
    return EXIT_OK
