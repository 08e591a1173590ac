"""``lazyext search``, ``add`` and ``remove``: registries, and config edits checked first.

``add`` and ``remove`` edit the config file in place (comments and layout kept) only
after the edited config was checked: for ``add``, its environment resolves with the
new extension and the host, and the new extension has a wheel for this interpreter.
If the config has a ``lock``, the lock is written first, then the config. A refusal
says why (exit 1; exit 2 for a name that is neither a registry's nor a requirement)
and leaves every file as it was.

The parser is registered here; the work is in :mod:`lazyext.cli.registry_verbs`, loaded
only when one of these verbs runs: it brings the resolution stage, the registries and
what reads wheels (~50 ms of modules that every other verb's start-up paid before).
"""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    search = sub.add_parser(
        "search", help="find extensions in the registries by name, description and tags"
    )
    search.add_argument("words", nargs="+", metavar="WORD", help="every word must match")
    _registry_option(search)
    search.add_argument("--json", action="store_true", help="machine-readable output")
    search.set_defaults(handler=cmd_search)

    add = sub.add_parser(
        "add",
        help="add an extension to the config, once it resolves with the others and the host",
    )
    add.add_argument(
        "target",
        metavar="NAME|REQUIREMENT",
        help="a registry's extension, or a PEP 508 requirement",
    )
    add.add_argument(
        "--module",
        dest="modules",
        action="append",
        metavar="M",
        help="an import name that installs it (repeatable; default: the registry's, else "
        "the names its wheel provides)",
    )
    add.add_argument(
        "--name", help="the extension's name (default: the registry's, else the distribution's)"
    )
    _registry_option(add)
    add.add_argument("--json", action="store_true", help="machine-readable output")
    add.set_defaults(handler=cmd_add)

    remove = sub.add_parser("remove", help="take an extension out of the config (and its lock)")
    remove.add_argument("name", metavar="NAME", help="the extension's name or requirement")
    remove.add_argument("--json", action="store_true", help="machine-readable output")
    remove.set_defaults(handler=cmd_remove)


def _registry_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--registry",
        action="append",
        metavar="PATH|URL",
        help="use this registry instead of the config's `registry` (repeatable)",
    )


def cmd_search(args: argparse.Namespace) -> int:
    from lazyext.cli import registry_verbs

    return registry_verbs.cmd_search(args)


def cmd_add(args: argparse.Namespace) -> int:
    from lazyext.cli import registry_verbs

    return registry_verbs.cmd_add(args)


def cmd_remove(args: argparse.Namespace) -> int:
    from lazyext.cli import registry_verbs

    return registry_verbs.cmd_remove(args)
