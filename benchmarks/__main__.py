"""``python -m benchmarks [--quick] [--only B1,B3]``: run the suite, print one table."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time

from benchmarks.cases import Suite
from benchmarks.harness import table
from benchmarks.workspace import WORK, Workspace

ALL = ("B1", "B2", "B3", "B4", "B5", "B6")


def machine() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else ()
    return (
        f"{platform.node() or 'host'}: {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, "
        f"load average {' '.join(f'{x:.2f}' for x in load)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one repetition each: a smoke run")
    parser.add_argument("--only", default="", help="comma-separated ids, e.g. B1,B4")
    parser.add_argument(
        "--real",
        action="store_true",
        help="B4-real too: pandas (with numpy) from PyPI, uv cache warm (needs the network)",
    )
    parser.add_argument("--work", default=str(WORK), help="work directory (default: %(default)s)")
    args = parser.parse_args(argv)
    wanted = [item.strip().upper() for item in args.only.split(",") if item.strip()] or list(ALL)
    unknown = sorted(set(wanted) - set(ALL))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    from pathlib import Path

    suite = Suite(Workspace(Path(args.work)), quick=args.quick, log=log, real=args.real)
    started = time.monotonic()
    log(f"setup in {args.work}")
    suite.setup()
    for name in ALL:
        if name in wanted:
            log(f"{name} ({time.monotonic() - started:.0f} s)")
            getattr(suite, name.lower())()
    elapsed = time.monotonic() - started
    print(
        f"lazyext benchmarks{' (quick: one repetition, numbers meaningless)' if args.quick else ''}"
    )
    print(f"date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"machine: {machine()}")
    print(f"suite time: {elapsed:.0f} s\n")
    print(table(suite.rows))
    if suite.facts:
        print()
        for key, value in suite.facts.items():
            print(f"- {key}: {value}")
    missed = [row for row in suite.rows if not row.met]
    print(f"\n{len(suite.rows) - len(missed)} of {len(suite.rows)} targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
