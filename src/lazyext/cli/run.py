"""``lazyext run SCRIPT [ARGS...]``: a script with PEP 723 inline metadata.

The script's ``dependencies``, ``--with`` and the discovered config's extensions are
one environment; the script starts at once, and each import installs (on first use on
this machine) only the closure it needs: one never reached installs nothing. See
:mod:`lazyext._run` for the parts, and docs/cli.md for the contract.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from lazyext import _api, _trust
from lazyext._errors import ConfigError
from lazyext._run import execute, keys, script
from lazyext._run.script import Metadata
from lazyext._settings.config import Config
from lazyext.cli.output import load_config


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "run",
        help="run a script with PEP 723 inline metadata; each import installs what it needs",
        description="Run SCRIPT with its `# /// script` dependencies and the discovered "
        "config's extensions as one environment. Exit status and signals are the script's.",
    )
    parser.add_argument(
        "--with",
        dest="with_",
        action="append",
        default=[],
        metavar="REQ",
        help="one more requirement (repeatable), as `uv run --with`",
    )
    parser.add_argument("script", metavar="SCRIPT", help="the Python file to run")
    parser.add_argument(
        "args", nargs=argparse.REMAINDER, metavar="ARGS", help="the script's arguments"
    )
    parser.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    _logging_for_lazyext_only()
    path = args.script
    try:
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        why = getattr(error, "strerror", None) or error
        raise ConfigError(f"cannot run {path}: {why}") from error
    base = load_config(args)
    block = script.find_block(source, path)
    if block is None and not args.with_:
        if os.path.isfile(base.source):  # the discovered config alone
            _activate(base.source)
        return execute.run_path(path, args.args)
    real = os.path.abspath(path)
    root = _trust.ensure_root(base.settings.cache_dir)
    key = keys.script_key(block.text if block else "", args.with_, base, os.path.dirname(real))
    done = keys.finished(root, key)
    if done is None:
        meta = script.parse(block, path) if block is not None else Metadata()
        if _first_run(base, meta, args.with_, real, keys.directory(root, key)):
            return execute.run_path(path, args.args)
        done = keys.finished(root, key)
    if done is not None:
        _activate(done)
    return execute.run_path(path, args.args)


def _first_run(base: Config, meta: Metadata, with_: list[str], script: str, folder: str) -> bool:
    """Make the script's config; if it has an environment, prepare that in a thread
    while the script starts (True: started), else write it now (False)."""
    # Only on a script's first run: the modules that parse, resolve and read wheels
    # (packaging, tomllib, urllib, the resolution stage) took 190 ms more than the warm
    # path's (``python -c``, medians of 9, 382 against 192 ms on a loaded 2-core VM).
    from lazyext._env.stored import environment_plans
    from lazyext._run import prepare
    from lazyext._run.pending import Pending

    made = prepare.script_config(base, meta, with_, script, folder)
    if not environment_plans(made.config):
        prepare.finish(made)  # nothing to resolve: written now, activated by the caller
        return False
    configured = {
        module
        for plan in made.config.plans
        for module in plan.extension.modules
        if not module.startswith(keys.PLACEHOLDER)
    }
    # The script's own lazyext.activate() meanwhile: this environment, names pending.
    os.environ["LAZYEXT_CONFIG"] = prepare.pending(made)
    Pending(lambda: _activate(prepare.finish(made)), configured).start()
    return True


def _activate(config_path: str) -> None:
    # The script's own lazyext.activate(), and its child processes, get this config.
    os.environ["LAZYEXT_CONFIG"] = config_path
    _api.activate(config_path)


def _logging_for_lazyext_only() -> None:
    """The command line configured the root logger; the script's logging is its own
    (its ``logging.basicConfig()`` must work): lazyext's records keep the handler."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    level = root.level
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    own = logging.getLogger("lazyext")
    for handler in handlers:
        own.addHandler(handler)
    own.setLevel(level)
    own.propagate = False
