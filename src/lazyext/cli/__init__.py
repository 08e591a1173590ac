"""The ``lazyext`` command (also ``python -m lazyext``).

The contract (README: The command line), pinned by tests/ux/test_cli_contract.py:

* exit codes: 0 success, 1 the operation failed, 2 usage error, bad configuration or
  an unknown name (extension, task, plugin, snapshot);
* ``--json`` prints one JSON document on stdout, in the shapes of :mod:`lazyext._report.shapes`;
* the global options ``--config PATH``, ``--json``, ``--python PATH`` and ``-v`` are
  accepted before or after the verb; ``--version``;
* ``--python PATH`` (status, warm, verify, doctor, lock) runs the command under that
  interpreter (``PATH -m lazyext ...``), so platform tags, installs and host checks are
  that interpreter's; lazyext must be installed for it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from lazyext._errors import ConfigError, LazyextError
from lazyext._report import shapes
from lazyext._settings.secrets import redact
from lazyext._version import __version__
from lazyext.cli import options
from lazyext.cli.output import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, print_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType


def verbs(command: str | None = None) -> tuple[ModuleType, ...]:
    """The modules of the verbs (each has ``register(subparsers)``); for ``lazyext run``
    its own only.

    The others import the stages that install, plugins and tasks, which a script would
    wait for before its first line: ``python -c`` importing every verb's module took
    399 ms, ``run``'s alone 154 ms (medians of 9 on a loaded 2-core VM, where ``python
    -c pass`` took 35 ms).
    """
    if command == "run":
        from lazyext.cli import run

        return (run,)
    from lazyext.cli import (
        cache,
        doctor,
        lock,
        pack,
        plugins,
        registry,
        run,
        tasks,
        verify,
        web,
    )

    return (cache, doctor, lock, pack, plugins, registry, run, tasks, verify, web)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
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

    for module in verbs(command):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    hoisted = options.hoist(given)
    parser = build_parser(options.command_of(hoisted))
    try:
        args = parser.parse_args(hoisted)
    except SystemExit as exit_:
        return int(exit_.code or 0) and EXIT_USAGE
    if args.version:
        print(f"lazyext {__version__} (Python {sys.version.split()[0]}, {sys.executable})")
        return EXIT_OK
    if args.command is None:
        parser.print_usage(sys.stderr)
        print("lazyext: error: a command is required", file=sys.stderr)
        return EXIT_USAGE
    args.json = bool(getattr(args, "json", False) or args.global_json)
    _configure_logging(args.verbose)
    if args.python is not None:
        return options.for_python(args, given, main)
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
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE


def _fail(args: argparse.Namespace, error: BaseException, code: int) -> int:
    print(f"lazyext: {redact(str(error))}", file=sys.stderr)
    if args.json:
        print_json(shapes.error(error, code))
    return code


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="lazyext: %(message)s", stream=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
