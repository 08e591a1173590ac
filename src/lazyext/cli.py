"""The ``lazyext`` command (also ``python -m lazyext``).

Exit codes: 0 success, 1 failure (an install failed, a check found a problem),
2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from lazyext._errors import ConfigError, LazyextError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

#: Modules that add subcommands: each has ``register(subparsers)``.
_COMMAND_MODULES = (
    "lazyext._cli_lock",
    "lazyext._cli_pack",
    "lazyext._cli_plugins",
    "lazyext._cli_tasks",
    "lazyext._cli_verify",
    "lazyext._cli_web",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lazyext", description="Install configured extensions on first import, from a cache."
    )
    parser.add_argument("--config", metavar="PATH", help="config file (default: discover)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    status = sub.add_parser("status", help="each extension: state, version, size")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=cmd_status)

    warm = sub.add_parser("warm", help="install configured extensions now, in parallel")
    warm.add_argument("names", nargs="*", metavar="NAME", help="extensions (default: all)")
    warm.add_argument("--refresh", action="store_true", help="reinstall even if cached")
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

    import importlib

    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0) and EXIT_USAGE
    _configure_logging(args.verbose)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as error:
        print(f"lazyext: {error}", file=sys.stderr)
        return EXIT_USAGE
    except LazyextError as error:
        print(f"lazyext: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `lazyext ... | head`: the reader left. Point stdout at devnull so the flush at
        # exit does not raise again (the recipe of the signal module's docs).
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE


def _configure_logging(verbosity: int) -> None:
    import logging

    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="lazyext: %(message)s", stream=sys.stderr)


def load_config(args: argparse.Namespace) -> Any:
    from lazyext._load import load

    return load(args.config, {})


def print_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def print_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    if not rows:
        print("(none)")
        return
    widths = {c: max(len(c), *(len(str(row.get(c, ""))) for row in rows)) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())


def status_rows(config: Any) -> list[dict[str, Any]]:
    from lazyext._status import extension_rows

    return extension_rows(config)


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)


def cmd_status(args: argparse.Namespace) -> int:
    from lazyext._status import distribution_rows, environment_summary

    config = load_config(args)
    rows = status_rows(config)
    dists = distribution_rows(config)
    summary = environment_summary(config)
    if args.json:
        print_json(
            {
                "source": config.source,
                "cache_dir": str(config.settings.cache_dir),
                "platform": config.platform,
                "environment": summary,
                "extensions": rows,
                "distributions": dists,
            }
        )
        return EXIT_OK
    print(f"config: {config.source}\ncache:  {config.settings.cache_dir} ({config.platform})")
    lock = summary["lock"] or summary.get("pylock", "not resolved yet (lazyext lock)")
    print(f"environment: {summary['state']}, lock {lock}")
    for row in rows:
        row["size"] = _human_size(row["size"]) if row["size"] else ""
    print_table(rows, ("name", "state", "version", "size", "requirement"))
    if dists:
        print()
        for dist in dists:
            dist["pulled_in_by"] = ", ".join(dist["pulled_in_by"])
        print_table(dists, ("name", "version", "state", "pulled_in_by"))
    return EXIT_OK


def cmd_warm(args: argparse.Namespace) -> int:
    from lazyext._api import warm

    config = load_config(args)
    started = time.monotonic()
    results = warm(args.names, config, refresh=args.refresh, compile=args.compile)
    elapsed = time.monotonic() - started
    failed = {name: r for name, r in results.items() if isinstance(r, BaseException)}
    if args.json:
        print_json(
            {
                "seconds": round(elapsed, 3),
                "results": {
                    name: {"ok": not isinstance(r, BaseException), "detail": str(r)}
                    for name, r in results.items()
                },
            }
        )
    else:
        for name, result in results.items():
            mark = "FAILED" if isinstance(result, BaseException) else "ok"
            print(f"{mark:6} {name}: {result}")
        print(f"{len(results) - len(failed)} of {len(results)} ready in {elapsed:.2f} s")
    return EXIT_FAILURE if failed else EXIT_OK


def cmd_invalidate(args: argparse.Namespace) -> int:
    from lazyext import _cache
    from lazyext._api import closure_keys, plan_for

    config = load_config(args)
    root = _cache.ensure_root(config.settings.cache_dir)
    for name in args.names:
        plan = plan_for(name, config)
        count = sum(_cache.invalidate_key(root, key) for key in closure_keys(config, plan))
        print(f"{name}: {count} install(s) invalidated")
    return EXIT_OK


def cmd_gc(args: argparse.Namespace) -> int:
    from lazyext.tasks._maintenance import collect_garbage, parse_size

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
        print(f"freed {_human_size(report.freed_bytes)}")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
