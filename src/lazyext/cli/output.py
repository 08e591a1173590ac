"""What every verb shares: exit codes, the config it acts on, JSON and tables.

``--json`` (docs/cli.md): a command prints exactly one JSON document on stdout. While a
verb runs under ``--json`` (:class:`JsonOutput`), its stdout *is* stderr, at the file
descriptor: what user code prints (a task function, a plugin hook) and what the
processes it starts write go to stderr. The verb hands its document to
:func:`print_json`; :func:`lazyext.cli.main` writes it once the verb has returned,
with ``ok`` (true exactly when the exit code is 0), ``command``, and on a failure
``error`` (``{type, message, problems}``) and ``exit``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import IO, Any, Final

from lazyext._errors import LazyextError
from lazyext._settings.config import Config
from lazyext._settings.load import load, not_found_message

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2


class UsageError(LazyextError, ValueError):
    """The command line itself is wrong (an unknown option, a missing argument): exit 2."""


class Parser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors raise :class:`UsageError` instead of
    exiting, so that ``--json`` gets its error document like any other failure."""

    def error(self, message: str) -> Any:  # argparse's NoReturn
        self.print_usage(sys.stderr)
        raise UsageError(f"{self.prog}: error: {message}")


_active: JsonOutput | None = None  # the JsonOutput of the command running, if --json


class JsonOutput:
    """``with JsonOutput(True):`` around a verb: stdout goes to stderr meanwhile, and
    the document given to :func:`print_json` is kept for :meth:`write`."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.document: dict[str, Any] | None = None
        self._stdout: IO[str] | None = None  # sys.stdout as it was
        self._saved: tuple[int, int] | None = None  # (stdout's descriptor, its duplicate)

    def __enter__(self) -> JsonOutput:
        global _active
        if not self.enabled:
            return self
        _active = self
        self._stdout = sys.stdout
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout = sys.stderr
        try:  # the descriptors too: child processes and C code write there
            self._saved = (1, os.dup(1))
            os.dup2(2, 1)
        except OSError:  # closed (a daemon's): Python's own output is redirected
            self._saved = None
        return self

    def __exit__(self, *exc_info: object) -> None:
        global _active
        if not self.enabled:
            return
        _active = None
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            pass
        if self._saved is not None:
            out, copy = self._saved
            os.dup2(copy, out)
            os.close(copy)
            self._saved = None
        if self._stdout is not None:
            sys.stdout = self._stdout

    def keep(self, document: object) -> None:
        self.document = document if isinstance(document, dict) else {"result": document}

    def write(self, code: int, command: str) -> None:
        """Write the one document of this command, completed."""
        if not self.enabled:
            return
        document = dict(self.document or {})
        document["ok"] = code == EXIT_OK
        document.setdefault("command", command)
        if code != EXIT_OK:
            document["exit"] = code
            document.setdefault(
                "error",
                failure("Failed", f"lazyext {command} exited with status {code}".strip()),
            )
        _dump(document)


def print_json(data: object) -> None:
    """The document of this command: kept for the end under ``--json``, else printed."""
    if _active is not None:
        _active.keep(data)
    else:
        _dump(data)


def failure(kind: str, message: str, problems: Sequence[str] = ()) -> dict[str, Any]:
    """The ``error`` of a failed command's document."""
    return {"type": kind, "message": message, "problems": list(problems)}


def _dump(data: object) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")
    sys.stdout.flush()


def load_config(args: argparse.Namespace) -> Config:
    return load(args.config, {})


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
