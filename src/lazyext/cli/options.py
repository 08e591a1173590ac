"""The global options of the command line: accepted before or after the verb.

``--config PATH``, ``--json``, ``--python PATH``, ``-v`` and ``--version`` are moved in
front of the verb (:func:`hoist`) before argparse sees the command line, so nested
verbs (``tasks add``, ``plugins info``) need not declare them. ``--python PATH`` runs
the command under that interpreter (:func:`for_python`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from lazyext.cli.output import UsageError

#: Options accepted anywhere on the command line (hoisted in front of the verb).
_GLOBAL_VALUES = ("--config", "--python")
_GLOBAL_FLAGS = ("--json", "--verbose", "--version")
#: The verbs ``--python`` applies to: they act on one interpreter's installs.
PYTHON_VERBS = frozenset({"status", "warm", "verify", "doctor", "lock"})


def hoist(argv: Sequence[str]) -> list[str]:
    """``argv`` with the global options moved in front of the verb (before ``--``)."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            rest += argv[index:]
            break
        name = arg.partition("=")[0]
        if name in _GLOBAL_VALUES:
            take = 1 if "=" in arg else 2
            front += argv[index : index + take]
            index += take
            continue
        if arg in _GLOBAL_FLAGS or (len(arg) > 1 and arg.strip("v") == "-"):
            front.append(arg)
        else:
            rest.append(arg)
            if _is_run_script(rest):  # `run [--with REQ] SCRIPT ARGS...`: ARGS are the script's
                rest += argv[index + 1 :]
                break
        index += 1
    return front + rest


def wants_json(hoisted: Sequence[str]) -> bool:
    """Does the command line (as :func:`hoist` left it) ask for ``--json``?"""
    if command_of(hoisted) == "run":  # after `run`: the script's own options
        return "--json" in hoisted[: hoisted.index("run")]
    return "--json" in hoisted[: hoisted.index("--")] if "--" in hoisted else "--json" in hoisted


def command_of(hoisted: Sequence[str]) -> str | None:
    """The verb of a hoisted command line (the first word after the global options)."""
    index = 0
    while index < len(hoisted):
        arg = hoisted[index]
        if arg in _GLOBAL_VALUES:
            index += 2
        elif arg.startswith("-"):
            index += 1
        else:
            return arg
    return None


def _is_run_script(rest: list[str]) -> bool:
    """Is the last of ``rest`` the SCRIPT of ``lazyext run``?"""
    positional = [
        arg
        for position, arg in enumerate(rest)
        if not arg.startswith("-") and (position == 0 or rest[position - 1] != "--with")
    ]
    return len(positional) == 2 and positional[0] == "run" and rest[-1] == positional[1]


def for_python(args: argparse.Namespace, given: list[str], main: Callable[[list[str]], int]) -> int:
    """Run this command line under another interpreter: ``PATH -m lazyext ...``; that
    one prints the output (and the ``--json`` document). Raises UsageError (exit 2)
    when it cannot."""
    import os
    import shutil
    import subprocess

    if args.command not in PYTHON_VERBS:
        verbs = ", ".join(sorted(PYTHON_VERBS))
        raise UsageError(f"--python applies to {verbs}, not to {args.command}")
    python = shutil.which(args.python) or args.python
    if not os.path.isfile(python) or not os.access(python, os.X_OK):
        raise UsageError(f"--python {args.python}: no such interpreter")
    if os.path.abspath(python) == os.path.abspath(sys.executable):
        args.python = None
        return main(_without_python(given))
    probe = subprocess.run(
        [python, "-c", "import lazyext.cli"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        raise UsageError(
            f"--python {python}: lazyext is not installed for that interpreter "
            f"(install it there: {python} -m pip install lazyext)"
        )
    done = subprocess.run([python, "-m", "lazyext", *_without_python(given)], check=False)
    return done.returncode


def _without_python(argv: list[str]) -> list[str]:
    hoisted = hoist(argv)
    out: list[str] = []
    skip = False
    for arg in hoisted:
        if skip:
            skip = False
            continue
        if arg == "--python":
            skip = True
            continue
        if arg.startswith("--python="):
            continue
        out.append(arg)
    return out
