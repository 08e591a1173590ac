"""The work of ``lazyext search``, ``add`` and ``remove``: their contract and why they
are apart are in :mod:`lazyext.cli.registry`, which registers them."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from lazyext import _trust
from lazyext._env import stored
from lazyext._env.resolve import resolve_lock
from lazyext._env.stored import Environment, Locked
from lazyext._errors import ConfigError, InstallError, LockFileError
from lazyext._record import record, replace
from lazyext._registry import catalog, compat, edit, source
from lazyext._registry.catalog import Entry
from lazyext._report import shapes
from lazyext._settings import keys
from lazyext._settings.config import Config, Plan
from lazyext._settings.secrets import redact
from lazyext.cli import lock as lock_verb
from lazyext.cli.output import EXIT_FAILURE, EXIT_OK, load_config, print_json, print_table


def _entries(args: argparse.Namespace, config: Config, *, required: bool) -> tuple[Entry, ...]:
    locations = list(args.registry or config.settings.registry)
    if not locations:
        if not required:
            return ()
        raise ConfigError(
            f'no registry: add `registry = ["<path or https URL>"]` to {config.source}, '
            "or pass --registry PATH|URL"
        )
    given = [loc if "://" in loc else os.path.abspath(loc) for loc in args.registry or ()]
    settings = replace(config.settings, registry=tuple(given)) if given else config.settings
    return source.load(settings.registry, settings)


def cmd_search(args: argparse.Namespace) -> int:
    config = load_config(args)
    found = catalog.search(_entries(args, config, required=True), args.words)
    if args.json:
        print_json(
            {
                "command": "search",
                "ok": True,
                "words": args.words,
                "extensions": [entry.row() for entry in found],
            }
        )
        return EXIT_OK
    if not found:
        print(f"no extension matches {' '.join(args.words)!r}")
        return EXIT_OK
    rows = [
        {
            "name": entry.name,
            "package": entry.package or "(built-in)",
            "tags": ",".join(entry.tags),
            "description": entry.description,
        }
        for entry in found
    ]
    print_table(rows, ("name", "package", "tags", "description"))
    return EXIT_OK


def cmd_add(args: argparse.Namespace) -> int:
    config = load_config(args)
    path = _config_path(config)
    table = _table(args, config)
    _check_new(config, table)
    file = edit.read(path)
    try:
        added = _checked(file, table)
    except (InstallError, LockFileError) as error:
        return _refused(args, f"cannot add {table['name']!r} to {path}", error, path)
    locked = _store_lock(added.config, added.env, added.lock_text)
    edit.write(file, added.text)
    closure = added.closure()
    if args.json:
        print_json(
            {
                "command": "add",
                "ok": True,
                "config": path,
                "extension": {key: table.get(key) for key in ("name", "package", "modules")},
                "lock": locked,
                "distributions": [{"name": d.name, "version": d.version} for d in closure],
            }
        )
        return EXIT_OK
    modules = ", ".join(table.get("modules") or [table["name"]])
    print(
        f"added {table['name']} ({table.get('package') or 'built-in'}) to {path}; import {modules}"
    )
    for dist in closure:
        print(f"  {dist.name}=={dist.version}" + (" (host)" if dist.host else ""))
    if locked:
        print(f"updated the lock {locked}")
    return EXIT_OK


@record
class _Added:
    """The config's text with the new extension, checked."""

    text: str
    config: Config
    plan: Plan
    env: Environment | None = None  # None: a built-in extension, nothing to resolve
    lock_text: str = ""

    def closure(self) -> tuple[Locked, ...]:
        return (self.env.closure_of(self.plan.key) or ()) if self.env is not None else ()


def _checked(file: edit.ConfigFile, table: dict[str, Any]) -> _Added:
    """The edited text, once its config resolves with the new extension (InstallError,
    LockFileError if not). Without ``modules``, the table gets its wheel's names."""
    text = edit.added(file, table)
    candidate = edit.parse_text(file, text)
    plan = candidate.plan_for(table["name"])
    assert plan is not None  # the table just added
    if plan.extension.package is None:
        return _Added(text=text, config=candidate, plan=plan)
    env, lock_text = compat.check_added(candidate, plan)
    if "modules" not in table:
        table["modules"] = compat.module_names(candidate, plan, env, lock_text)
        text = edit.added(file, table)
        candidate = edit.parse_text(file, text)  # the same environment: modules only
    return _Added(text=text, config=candidate, plan=plan, env=env, lock_text=lock_text)


def _config_path(config: Config) -> str:
    """The file to edit: the discovered config, or a new lazyext.toml here."""
    if os.path.isfile(config.source):
        return config.source
    return os.path.join(os.getcwd(), "lazyext.toml")


def _table(args: argparse.Namespace, config: Config) -> dict[str, Any]:
    """The new [[extensions]] table: the registry's entry, else the requirement's."""
    entry = catalog.find(_entries(args, config, required=False), args.target)
    if entry is not None:
        table = entry.table()
    else:
        try:
            dist = keys.canonical_requirement(
                args.target, allow_direct_urls=config.settings.allow_direct_urls
            )[1]
        except ConfigError as error:
            what = "not a valid requirement"
            if args.registry or config.settings.registry:
                what = "neither an extension of the registries nor a valid requirement"
            raise ConfigError(f"{args.target!r} is {what}: {error}") from error
        table = {"name": dist, "package": args.target}
    if args.name:
        table["name"] = keys.check_extension_name(args.name)
    if args.modules:
        table["modules"] = [keys.check_module_name(module) for module in args.modules]
    return table


def _check_new(config: Config, table: dict[str, Any]) -> None:
    """An extension of that name, or of that distribution, is configured already."""
    name, package = table["name"], table.get("package")
    dist = keys.canonical_requirement(package, allow_direct_urls=True)[1] if package else ""
    for plan in config.plans:
        if plan.name == name or (dist and plan.dist == dist):
            raise ConfigError(
                f"{config.source} already has the extension {plan.name!r} "
                f"({plan.extension.package or 'built-in'}); to change it, `lazyext remove "
                f"{plan.name}` first"
            )


def cmd_remove(args: argparse.Namespace) -> int:
    config = load_config(args)
    if not os.path.isfile(config.source):
        raise ConfigError(f"no config file to remove {args.name!r} from ({config.source})")
    plan = config.plan_for(args.name) or _by_dist(config, args.name)
    if plan is None:
        known = ", ".join(sorted(p.name for p in config.plans)) or "none"
        raise ConfigError(
            f"no configured extension named {args.name!r} in {config.source} ({known})"
        )
    file = edit.read(config.source)
    text = edit.removed(file, plan.name)
    candidate = edit.parse_text(file, text)
    locked = None
    if candidate.settings.lock:
        try:
            env, lock_text = resolve_lock(candidate, previous=compat.previous_lock(candidate))
        except (InstallError, LockFileError) as error:
            return _refused(args, f"cannot remove {plan.name!r}", error, config.source)
        locked = _store_lock(candidate, env, lock_text)
    edit.write(file, text)
    if args.json:
        print_json(
            {
                "command": "remove",
                "ok": True,
                "config": config.source,
                "extension": plan.name,
                "lock": locked,
            }
        )
        return EXIT_OK
    print(f"removed {plan.name} ({plan.extension.package or 'built-in'}) from {config.source}")
    if locked:
        print(f"updated the lock {locked}")
    return EXIT_OK


def _by_dist(config: Config, text: str) -> Any:
    try:
        dist = keys.canonical_requirement(text, allow_direct_urls=True)[1]
    except ConfigError:
        return None
    matching = [plan for plan in config.plans if plan.dist == dist]
    return matching[0] if len(matching) == 1 else None


def _store_lock(config: Config, env: Environment | None, text: str) -> str | None:
    """Write the config's lock file (before the config: a lock that lists one
    distribution more is still valid, a config ahead of its lock is not)."""
    if not config.settings.lock or env is None:
        return None
    path = str(config.settings.lock)
    lock_verb._write(path, text)
    root = _trust.ensure_root(config.settings.cache_dir)
    stored.store(root, replace(env, source=stored.lock_identity(path)), text)
    return path


def _refused(args: argparse.Namespace, what: str, error: Exception, path: str) -> int:
    print(f"lazyext: {what}: {redact(str(error))}", file=sys.stderr)
    print(f"lazyext: {path} is unchanged", file=sys.stderr)
    if args.json:
        print_json(shapes.error(error, EXIT_FAILURE))
    return EXIT_FAILURE
