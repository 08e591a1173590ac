"""The config a script runs with: the discovered config, the script's block, ``--with``.

The discovered config's settings and extensions, the ``[tool.lazyext]`` table of the
script's block (its settings win; relative paths are relative to the script), and one
extension per dependency (``dependencies`` and ``--with``), whose modules are the
import names of the distribution the environment locks for it (:mod:`.names`).

The result is written as an ordinary config file in the cache,
``<cache>/scripts/<key>/lazyext.toml``, keyed by everything it was made from (the
block's text, ``--with``, the discovered config file and its mtime, the script's
directory, the interpreter). The next run of the same script finds it, and activating
it costs what ``lazyext.activate(path)`` costs (its compiled form is memoized): no TOML
is parsed and nothing resolves. ``LAZYEXT_CONFIG`` names it while the script runs, so
the script's own ``lazyext.activate()`` and its child processes get the same config.

The discovered config's ``lock`` is left out (it pins that config's environment, not
one with the script's dependencies), and so is ``[web]`` (a script does not serve it).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from lazyext import _trust
from lazyext._env import provision, stored
from lazyext._env.stored import environment_plans
from lazyext._record import record
from lazyext._run import keys as keys_
from lazyext._run import names, tomlout
from lazyext._run.script import Metadata
from lazyext._settings import keys, parse
from lazyext._settings.config import Config
from lazyext._settings.names import DistName

_GUESSED: Final = "lazyext.guessed.toml"  # some names were guessed: made again next time
_PENDING: Final = "lazyext.pending.toml"  # until the names are known (first run)
_PATH_LISTS: Final = ("find-links", "cache-read", "registry")


@record
class Dependency:
    """One of the script's requirements, as the extension that serves it."""

    name: str  # the extension's name (the distribution's, made unique)
    requirement: str


@record
class Script:
    """A script's config, before its import names are known."""

    path: str  # where the finished config is written
    table: Mapping[str, Any]  # its TOML table, modules left out for the dependencies
    dependencies: tuple[Dependency, ...]
    config: Config  # the table parsed: its environment is the finished config's


def script_config(
    base: Config, meta: Metadata, with_: Sequence[str], script: str, folder: str
) -> Script:
    """The script's config with its dependencies' modules not yet known (ConfigError
    for a problem of the block, named by the script's path)."""
    table = base_table(base)
    own = _absolute_paths(dict(meta.lazyext), os.path.dirname(script))
    extensions = [*table.pop("extensions", []), *own.pop("extensions", [])]
    for key, value in own.items():
        if isinstance(value, dict) and isinstance(table.get(key), dict):
            table[key] = {**table[key], **value}
        else:
            table[key] = value
    taken = {str(item.get("name")) for item in extensions if isinstance(item, dict)}
    dependencies = []
    for requirement in (*meta.dependencies, *with_):
        dist = keys.canonical_requirement(requirement, allow_direct_urls=True)[1]
        name, number = str(dist), 1
        while name in taken:
            number += 1
            name = f"{dist}-{number}"
        taken.add(name)
        dependencies.append(Dependency(name=name, requirement=requirement))
        extensions.append(
            {"name": name, "package": requirement, "modules": [placeholder(DistName(dist))]}
        )
    table["extensions"] = extensions
    config = parse.parse_table(table, source=script, base=os.path.dirname(script), overrides={})
    return Script(
        path=os.path.join(folder, keys_.DONE),
        table=table,
        dependencies=tuple(dependencies),
        config=config,
    )


def placeholder(dist: DistName) -> str:
    """A module name nobody imports, for an extension whose names are not known yet
    (or all served by other extensions): its requirement still joins the environment."""
    return keys_.PLACEHOLDER + dist.replace("-", "_")


def pending(script: Script) -> str:
    """Write the script's config as it is before its import names are known, for the
    script's own ``lazyext.activate()`` while :func:`finish` runs (the same environment:
    only modules differ); return its path."""
    path = os.path.join(os.path.dirname(script.path), _PENDING)
    write(path, script.table, script.config.source)
    return path


def finish(script: Script) -> str:
    """Resolve the script's environment, read its dependencies' import names, write the
    finished config; return its path. Installs nothing."""
    config = script.config
    plans = {plan.name: plan for plan in config.plans}
    roots: dict[str, tuple[DistName, ...]] = {}
    found: Mapping[DistName, tuple[str, ...]] = {}
    guessed: frozenset[DistName] = frozenset()
    if environment_plans(config):
        # What reading the names needs (TLS, this interpreter's tags) is made ready
        # while uv resolves.
        threading.Thread(target=names.warm_up, name="lazyext-names", daemon=True).start()
        env = provision.environment(config)
        root = _trust.ensure_root(config.settings.cache_dir)
        for dependency in script.dependencies:
            dists = env.roots_of(plans[dependency.name].key) or ()  # () if it is missing
            roots[dependency.name] = tuple(d for d in dists if _installed(env.dist(d)))
        lock = os.path.join(stored.env_dir(root, env.key, env.platform), stored.LOCK_FILE)
        wanted = sorted({dist for dists in roots.values() for dist in dists})
        if wanted:
            try:
                text = Path(lock).read_text(encoding="utf-8")
            except OSError:  # an environment from a read-only layer: its names guessed
                text = ""
            found, guessed = names.import_names(text, wanted, root, offline=config.settings.offline)
    table = dict(script.table)
    table["extensions"] = _with_modules(table["extensions"], script.dependencies, roots, found)
    path = script.path if not guessed else os.path.join(os.path.dirname(script.path), _GUESSED)
    write(path, table, config.source)
    return path


def _installed(locked: Any) -> bool:
    return locked is not None and not locked.host  # the host's own: its import is the host's


def _with_modules(
    extensions: Sequence[Mapping[str, Any]],
    dependencies: Sequence[Dependency],
    roots: Mapping[str, Sequence[DistName]],
    names: Mapping[DistName, Sequence[str]],
) -> list[dict[str, Any]]:
    """The extensions with each dependency's import names; a name another extension
    already claims stays that extension's."""
    mine = {dependency.name for dependency in dependencies}
    claimed = {
        module
        for item in extensions
        if item.get("name") not in mine
        for module in item.get("modules", [item.get("name")])
    }
    result = []
    for given in extensions:
        item = dict(given)
        if item["name"] in mine:
            modules = [
                n
                for dist in roots.get(item["name"], ())
                for n in names.get(dist, ())
                if n not in claimed
            ]
            claimed.update(modules)
            item["modules"] = modules or item["modules"]
        result.append(item)
    return result


def write(path: str, table: Mapping[str, Any], made_for: str) -> None:
    """Write a config file atomically, 0600 (a config may carry index credentials)."""
    text = (
        f"# Written by `lazyext run` for {made_for}: the discovered config, the script's\n"
        "# `# /// script` block and --with. Made again when one of them changes.\n"
        + tomlout.dumps(table)
    )
    temporary = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    with open(os.open(temporary, flags, 0o600), "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def base_table(config: Config) -> dict[str, Any]:
    """The discovered config's table, its relative paths made absolute; without its
    ``lock`` and ``[web]`` (module docstring)."""
    if not os.path.isfile(config.source):
        return {}
    import tomllib

    with open(config.source, "rb") as handle:
        document = tomllib.load(handle)
    if os.path.basename(config.source) == "pyproject.toml":
        document = document.get("tool", {}).get("lazyext", {})
    table = _absolute_paths(document, os.path.dirname(config.source))
    table.pop("lock", None)
    table.pop("web", None)
    return table


def _absolute_paths(table: dict[str, Any], base: str) -> dict[str, Any]:
    def absolute(value: object) -> object:
        if not isinstance(value, str) or "://" in value:
            return value
        return os.path.join(base, os.path.expanduser(value))

    table = dict(table)
    if "cache-dir" in table:
        table["cache-dir"] = absolute(table["cache-dir"])
    for key in _PATH_LISTS:
        if isinstance(table.get(key), list):
            table[key] = [absolute(item) for item in table[key]]
    for name in ("plugins", "tasks"):
        section = table.get(name)
        if isinstance(section, dict) and "directory" in section:
            table[name] = {**section, "directory": absolute(section["directory"])}
    return table
