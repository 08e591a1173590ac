"""The ``lazyext`` command (also ``python -m lazyext``).

The contract (docs/cli.md), pinned by tests/ux/test_cli_contract.py and
tests/ux/test_json_contract.py:

* exit codes: 0 success, 1 the operation failed, 2 usage error, bad configuration or
  an unknown name (extension, task, plugin, snapshot);
* ``--json`` prints exactly one JSON document on stdout, whatever happens (a usage
  error, an unknown name, a failure, a bug), with ``ok`` (the exit code is 0) and
  ``command``; a failure adds ``error`` (``{type, message, problems}``) and ``exit``.
  Meanwhile stdout is stderr, so user code's output cannot break it
  (:mod:`lazyext.cli.output`); the shapes are :mod:`lazyext._report.shapes`;
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
import traceback
from collections.abc import Callable, Sequence

from lazyext._errors import ConfigError, LazyextError
from lazyext._report import shapes
from lazyext._settings.secrets import redact
from lazyext._version import __version__
from lazyext.cli import options
from lazyext.cli.output import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    JsonOutput,
    Parser,
    UsageError,
)

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
        completion,
        doctor,
        lock,
        pack,
        plugins,
        registry,
        run,
        schema,
        tasks,
        verify,
        web,
    )

    return (
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
        completion,
        schema,
    )


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every verb (``command``: of that verb only, if it is ``run``)."""
    parser = Parser(
        prog="lazyext",
        description="Install configured extensions on first import, from a cache.",
        epilog="Global options may come before or after the command. Exit codes: 0 success, "
        "1 the operation failed, 2 usage error, bad configuration or unknown name.",
    )
    parser.add_argument("--config", metavar="PATH", help="config file (default: discover)")
    parser.add_argument(
        "--json",
        dest="global_json",
        action="store_true",
        help="print one JSON document on stdout (user code's output goes to stderr)",
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
    parser.set_defaults(parser=parser)  # for `lazyext completion`
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    hoisted = options.hoist(given)
    output = JsonOutput(options.wants_json(hoisted))
    try:
        parser = build_parser(options.command_of(hoisted))
        args = parser.parse_args(hoisted)
        if args.command is None and not args.version:
            parser.print_usage(sys.stderr)
            raise UsageError("lazyext: error: a command is required")
    except UsageError as error:
        print(redact(str(error)), file=sys.stderr)
        output.keep(shapes.error(error, EXIT_USAGE))
        output.write(EXIT_USAGE, "")
        return EXIT_USAGE
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0) and EXIT_USAGE
    if args.version:
        return _version(output)
    args.json = output.enabled
    command = " ".join(filter(None, (args.command, getattr(args, "verb", None))))
    _configure_logging(args.verbose)
    if args.python is not None:
        try:  # the other interpreter prints the document
            return options.for_python(args, given, main)
        except LazyextError as error:
            return _finish(output, command, _fail(output, error, EXIT_USAGE))
    with output:
        code = _run(args, output)
    return _finish(output, command, code)


def _run(args: argparse.Namespace, output: JsonOutput) -> int:
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except LazyextError as error:
        # Unknown names (a task, a plugin: LookupError) are usage errors, like bad input.
        usage = isinstance(error, (ConfigError, LookupError))
        return _fail(output, error, EXIT_USAGE if usage else EXIT_FAILURE)
    except KeyboardInterrupt as error:
        return _fail(output, error, 130, say="interrupted")
    except BrokenPipeError:
        # `lazyext ... | head`: the reader left. Point stdout at devnull so the flush at
        # exit does not raise again (the recipe of the signal module's docs).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except Exception as error:
        if not output.enabled:
            raise
        traceback.print_exc()  # a bug: its traceback on stderr, and still one document
        return _fail(output, error, EXIT_FAILURE)


def _finish(output: JsonOutput, command: str, code: int) -> int:
    try:
        output.write(code, command)
    except BrokenPipeError:  # as in _run
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    return code


def _fail(output: JsonOutput, error: BaseException, code: int, say: str = "") -> int:
    message = say or redact(str(error))
    print(f"lazyext: {message}", file=sys.stderr)
    document = shapes.error(error, code)
    document["error"]["message"] = message
    output.keep(document)
    return code


def _version(output: JsonOutput) -> int:
    if output.enabled:
        output.keep({"version": __version__, "python": sys.executable})
        output.write(EXIT_OK, "--version")
    else:
        print(f"lazyext {__version__} (Python {sys.version.split()[0]}, {sys.executable})")
    return EXIT_OK


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="lazyext: %(message)s", stream=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
