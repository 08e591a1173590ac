"""The ``lazyext`` command (also ``python -m lazyext``).

The contract (README: The command line), pinned by tests/ux/test_cli_contract.py:

* exit codes: 0 success, 1 the operation failed, 2 usage error, bad configuration or
  an unknown name (extension, task, plugin, snapshot);
* ``--json`` prints one JSON document on stdout, in the shapes of :mod:`lazyext._shapes`;
* the global options ``--config PATH``, ``--json``, ``--python PATH`` and ``-v`` are
  accepted before or after the verb; ``--version``;
* ``--python PATH`` (status, warm, verify, doctor, lock) runs the command under that
  interpreter (``PATH -m lazyext ...``), so platform tags, installs and host checks are
  that interpreter's; lazyext must be installed for it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from lazyext._cli_options import hoist
from lazyext._errors import ConfigError, LazyextError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

#: Modules that add subcommands: each has ``register(subparsers)``.
_COMMAND_MODULES = (
    "lazyext._cli_doctor",
    "lazyext._cli_lock",
    "lazyext._cli_pack",
    "lazyext._cli_plugins",
    "lazyext._cli_tasks",
    "lazyext._cli_verify",
    "lazyext._cli_web",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lazyext",
        description="Install configured extensions on first import, from a cache.",
        epilog="Global options may come before or after the command. Exit codes: 0 success, "
        "1 the operation failed, 2 usage error, bad configuration or unknown name.",
    )
    parser.add_argument("--config", metavar="PATH", help="config file (default: discover)")
    parser.add_argument(
        "--json", dest="global_json", action="store_true", help="machine-readable output"
    )
    parser.add_argument(
        "--python",
        metavar="PATH",
        help="act for this interpreter (status, warm, verify, doctor, lock): runs "
        "`PATH -m lazyext ...`",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    parser.add_argument("--version", action="store_true", help="print lazyext's version")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

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
    given = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    try:
        args = parser.parse_args(hoist(given))
    except SystemExit as exit_:
        return int(exit_.code or 0) and EXIT_USAGE
    if args.version:
        from lazyext import __version__

        print(f"lazyext {__version__} (Python {sys.version.split()[0]}, {sys.executable})")
        return EXIT_OK
    if args.command is None:
        parser.print_usage(sys.stderr)
        print("lazyext: error: a command is required", file=sys.stderr)
        return EXIT_USAGE
    args.json = bool(getattr(args, "json", False) or args.global_json)
    _configure_logging(args.verbose)
    if args.python is not None:
        from lazyext._cli_options import for_python

        return for_python(args, given, main)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except LazyextError as error:
        # Unknown names (a task, a plugin: LookupError) are usage errors, like bad input.
        usage = isinstance(error, (ConfigError, LookupError))
        return _fail(args, error, EXIT_USAGE if usage else EXIT_FAILURE)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `lazyext ... | head`: the reader left. Point stdout at devnull so the flush at
        # exit does not raise again (the recipe of the signal module's docs).
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE


def _fail(args: argparse.Namespace, error: BaseException, code: int) -> int:
    from lazyext._secrets import redact

    print(f"lazyext: {redact(str(error))}", file=sys.stderr)
    if args.json:
        from lazyext import _shapes

        print_json(_shapes.error(error, code))
    return code


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
    """One extension result (:mod:`lazyext._shapes`) per configured extension."""
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
    from lazyext import _shapes
    from lazyext._status import distribution_rows, environment_summary

    config = load_config(args)
    rows = status_rows(config)
    dists = distribution_rows(config)
    summary = environment_summary(config)
    if args.json:
        print_json(_shapes.report("status", config, rows, environment=summary, distributions=dists))
        return EXIT_OK
    print(f"config: {describe_source(args, config)}")
    print(f"cache:  {config.settings.cache_dir} ({config.platform})")
    lock = summary["lock"] or summary.get("pylock", "not resolved yet (lazyext lock)")
    print(f"environment: {summary['state']}, lock {lock}")
    for row in rows:
        row["size"] = _human_size(row["size"]) if row["size"] else ""
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


def describe_source(args: argparse.Namespace, config: Any) -> str:
    """Which config file is used, and how it was found."""
    import os

    if args.config:
        return f"{config.source} (--config)"
    if os.environ.get("LAZYEXT_CONFIG"):
        return f"{config.source} (LAZYEXT_CONFIG)"
    if config.source == "<defaults>":
        from lazyext._load import not_found_message

        return f"<defaults> ({not_found_message().partition(':')[2].partition(';')[0].strip()})"
    return f"{config.source} (found from {os.getcwd()})"


def cmd_warm(args: argparse.Namespace) -> int:
    from lazyext import _shapes
    from lazyext._api import warm

    config = load_config(args)
    started = time.monotonic()
    results = warm(args.names, config, refresh=args.refresh, compile=args.compile)
    elapsed = time.monotonic() - started
    failed = {name: r for name, r in results.items() if isinstance(r, BaseException)}
    if args.json:
        from lazyext._status import extension_rows

        # Each result as `status` reports it after the warm (version, key, size, closure,
        # a recorded failure), with the outcome of this warm on top.
        known = {row["name"]: row for row in extension_rows(config)}
        rows = []
        for name, result in results.items():
            row = known.get(name) or _shapes.extension(name, ok=True, state="installed")
            if isinstance(result, BaseException):
                row.update(ok=False, state="failed", detail=str(result))
                if row["failure"] is None:
                    row["failure"] = {"type": type(result).__name__, "message": str(result)}
            else:
                row.update(ok=True, path=str(result), detail="")
            rows.append(row)
        print_json(_shapes.report("warm", config, rows, seconds=round(elapsed, 3)))
    else:
        for name, result in results.items():
            mark = "FAILED" if isinstance(result, BaseException) else "ok"
            print(f"{mark:6} {name}: {result}")
        print(f"{len(results) - len(failed)} of {len(results)} ready in {elapsed:.2f} s")
    return EXIT_FAILURE if failed else EXIT_OK


def cmd_invalidate(args: argparse.Namespace) -> int:
    import os

    from lazyext import _cache, _failures, _shapes
    from lazyext._api import closure_keys, plan_for

    config = load_config(args)
    root = _cache.ensure_root(config.settings.cache_dir)
    plans = {name: plan_for(name, config) for name in args.names}
    # A name that is neither configured nor an installed requirement is a typo: exit 2.
    unknown = [
        name
        for name, plan in plans.items()
        if config.plan_for(name) is None
        and not os.path.isdir(os.path.join(root, "entries", plan.key))
    ]
    if unknown:
        raise ConfigError(
            f"no configured extension or cached requirement named {', '.join(map(repr, unknown))}"
        )
    rows = []
    for name, plan in plans.items():
        keys = [plan.key, *closure_keys(config, plan)]  # its distributions' installs
        count = sum(_cache.invalidate_key(root, key) for key in keys)
        _failures.clear(root, plan.key)
        rows.append(
            _shapes.extension(
                name,
                ok=True,
                state="invalidated",
                requirement=plan.requirement,
                key=plan.key,
                detail=f"{count} install(s) invalidated",
            )
        )
    if args.json:
        print_json(_shapes.report("invalidate", config, rows))
    else:
        for row in rows:
            print(f"{row['name']}: {row['detail']}")
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
