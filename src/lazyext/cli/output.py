"""What every verb shares: exit codes, the config it acts on, JSON and tables."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, Final

from lazyext._settings.config import Config
from lazyext._settings.load import load, not_found_message

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2


def load_config(args: argparse.Namespace) -> Config:
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


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)


def describe_source(args: argparse.Namespace, config: Config) -> str:
    """Which config file is used, and how it was found."""
    if args.config:
        return f"{config.source} (--config)"
    if os.environ.get("LAZYEXT_CONFIG"):
        return f"{config.source} (LAZYEXT_CONFIG)"
    if config.source == "<defaults>":
        return f"<defaults> ({not_found_message().partition(':')[2].partition(';')[0].strip()})"
    return f"{config.source} (found from {os.getcwd()})"
