"""Provision: the environment stage, from a config to an extension's installed closure.

The one path that makes an extension importable, shared by the finder's loader,
:func:`lazyext.ensure`, ``warm``, the CLI, plugins and tasks::

    the config's environment       -> stored & valid: it; else resolved now under the
                                      environment key (get-or-make, lazyext._store.flight)
                                      from the lock file, or jointly with uv
    the closure of the extension   -> its distributions, from the environment's graph
    the store: get-or-make         -> each distribution published & valid, or installed
                                      and published now (lazyext._store.install)

A failed resolution or install is remembered for ``failure-ttl`` seconds so that
threads queued on the same import (and programs that retry an import in a loop) fail
fast instead of running uv again; ``importlib.invalidate_caches()`` forgets it.

Resolving (:mod:`.resolve`) is imported where an environment is resolved: the lock
file's parser, uv's compile, the keys and the explanations of conflicts bring re,
typing and packaging (~15 ms), which a first import whose environment is stored never
needs (benchmark B4, "environment resolved").
"""

from __future__ import annotations

import sys

# importlib.machinery's class, without importing importlib (see lazyext._importer.finder).
from _frozen_importlib_external import PathFinder

from lazyext import _events, _log, _trust
from lazyext._env import host, speculate, stored, upkeep
from lazyext._env.stored import Environment, Locked, environment_plans
from lazyext._errors import DistributionNotFound, InstallError, LazyextError
from lazyext._record import record
from lazyext._settings.config import Config, Plan, Settings
from lazyext._settings.names import canonical_name, own_paths
from lazyext._store import failures, flight
from lazyext._store import install as store
from lazyext._store.entries import Entry
from lazyext._store.layers import find_entry
from lazyext._uv.progress import installing

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


@record
class Installed:
    """An extension made importable: its environment and the entries of its closure."""

    plan: Plan
    environment: Environment
    entries: tuple[Entry, ...]  # installed distributions of the closure (host ones excluded)
    host: tuple[Locked, ...]  # distributions of the closure that the host serves

    @property
    def main(self) -> Entry | None:
        """The entry of the extension's own distribution (``None`` when the host serves it)."""
        for entry in self.entries:
            if entry.resolved and canonical_name(entry.resolved[0][0]) == self.plan.dist:
                return entry
        return None

    @property
    def targets(self) -> list[str]:
        main = self.main
        ordered = ([main] if main is not None else []) + [e for e in self.entries if e is not main]
        return [entry.target for entry in ordered]


def environment(
    config: Config,
    *,
    refresh: bool = False,
    upgrade: bool = False,
    name: str | None = None,
    speculate_for: Plan | None = None,
    ahead: Ahead | None = None,
) -> Environment:
    """The config's environment: the stored one, or resolved now under its key's lock.

    ``refresh`` resolves again (online, newest releases preferred unless the config has a
    lock file, whose versions never change); the old environment keeps serving until the
    new one is stored. A failed resolution is remembered like a failed install; ``name``
    is the import that needed it. The process that resolves a new environment installs
    ``speculate_for``'s requirement meanwhile, and publishes that closure before it
    releases the environment's lock (the processes waiting on it then find it
    published); ``ahead`` keeps the speculation and what was published.
    """
    root = _trust.ensure_root(config.settings.cache_dir)
    seen = stored_environment(config, root)

    def recheck() -> Environment | None:
        env = stored_environment(config, root)
        # A refresh is done when another environment than the one seen is stored now:
        # compared by identity, never by wall-clock time (a clock may step).
        return env if env is not None and (not refresh or not _same(env, seen)) else None

    def make(work: str) -> Environment:
        why = f"`import {name}`" if name else ""
        if speculate_for is not None and ahead is not None and not refresh:
            ahead.speculation = speculate.start(speculate_for, config, root)
        if ahead is not None and ahead.speculation is not None and speculate_for is not None:
            # Resolving and installing at once: one line says both.
            shown = speculate_for.extension.package or speculate_for.requirement
            with installing(shown, why):
                env = _resolve_and_store(config, root, work, upgrade or refresh)
                try:
                    ahead.made += _install_closure(speculate_for, env, config, root, name, ahead)[1]
                except InstallError:
                    pass  # the closure's own install (outside this lock) says what failed
            return env
        what = f"the environment of {len(config.plans)} extension(s)"
        with installing(what, why, doing="resolving"):
            return _resolve_and_store(config, root, work, upgrade or refresh)

    return flight.get_or_make(
        root,
        [config.env_key],
        lambda: seen,
        make,
        failure_key=config.env_key,
        label="the environment",
        doing="resolving the environment",
        name=name,
        lock_timeout=config.settings.lock_timeout,
        failure_ttl=config.settings.failure_ttl,
        recheck=recheck,
        skip_find=refresh,
    )


def _resolve_and_store(config: Config, root: str, work: str, upgrade: bool) -> Environment:
    from lazyext._env import resolve  # resolving: module docstring

    previous = stored_environment(config, root)
    return resolve.resolve_and_store(config, root, previous, work, upgrade=upgrade)


def _single_config(plan: Plan, settings: Settings, platform: str) -> Config:
    from lazyext._env import resolve  # resolving: module docstring

    return resolve.single_config(plan, settings, platform)


def _same(env: Environment, seen: Environment | None) -> bool:
    return seen is not None and (env.created_at, env.dists) == (seen.created_at, seen.dists)


def stored_environment(config: Config, root: str) -> Environment | None:
    env = stored.find(root, config.env_key, config.platform, config.settings)
    lock = config.settings.lock
    if env is not None and lock and not host.lock_current(env.source, stored.lock_identity(lock)):
        return None  # the lock file or the host changed since: read it again
    return env


def provision(
    plan: Plan,
    settings: Settings,
    platform: str,
    *,
    config: Config | None = None,
    name: str | None = None,
    refresh: bool = False,
) -> Entry:
    """Make ``plan`` importable; return the entry of its own distribution.

    Raises :class:`InstallError` when the host serves that distribution (nothing of
    lazyext's to return); :func:`install` returns the whole closure.
    """
    installed = install(
        plan,
        config or _single_config(plan, settings, platform),
        name=name,
        refresh=refresh,
    )
    main = installed.main
    if main is None:
        raise InstallError(
            f"{plan.requirement} is served by the host environment, not by lazyext's cache",
            name=name,
            spec=plan.requirement,
            cache_key=plan.key,
        )
    return main


def install(
    plan: Plan, config: Config, *, name: str | None = None, refresh: bool = False
) -> Installed:
    """Make ``plan``'s closure installed: resolve the environment if needed, install what
    is missing. ``refresh`` resolves the environment again first."""
    if not environment_plans(config):  # nothing to join: the requirement alone
        config = _single_config(plan, config.settings, config.platform)
    root = _trust.ensure_root(config.settings.cache_dir)
    ahead = Ahead()  # the resolver of a new environment fills it
    try:
        env = environment_for(plan, config, name=name, refresh=refresh, ahead=ahead)
        closure = env.closure_of(plan.key) or ()
        entries, made = _install_closure(plan, env, config, root, name, ahead)
        made += ahead.made
    finally:
        if ahead.speculation is not None:
            ahead.speculation.discard()
    _warn_shadowed(entries, config)
    if made:  # after the keys' locks are released: a listener may install too
        _events.extension_installed(
            plan.name, plan.requirement, [entry.target for entry in made], module=name
        )
        upkeep.after_install(root, config)  # collect old installs at exit, if due
    return Installed(
        plan=plan,
        environment=env,
        entries=tuple(entries),
        host=tuple(d for d in closure if d.host),
    )


def _install_closure(
    plan: Plan, env: Environment, config: Config, root: str, name: str | None, ahead: Ahead
) -> tuple[list[Entry], list[Entry]]:
    """The store's install of ``plan``'s closure in ``env``: entries, and those made."""
    closure = env.closure_of(plan.key) or ()
    return store.install(
        root,
        [locked for locked in closure if not locked.host],
        config.settings,
        env.platform,
        failure_key=plan.key,
        label=plan.requirement,
        name=name,
        why=f"`import {name}`" if name else f"extension {plan.name!r}",
        shown=plan.extension.package or plan.requirement,
        prepared=ahead.speculation,
    )


class Ahead:
    """What the process that resolves a new environment does beside resolving: the
    speculative install (lazyext._env.speculate) and the entries it published."""

    def __init__(self) -> None:
        self.speculation: speculate.Speculation | None = None
        self.made: list[Entry] = []


def environment_for(
    plan: Plan,
    config: Config,
    *,
    name: str | None = None,
    refresh: bool = False,
    ahead: Ahead | None = None,
) -> Environment:
    """The environment that holds ``plan``'s closure: the config's own, or (``plan`` is
    not in the config) one that joins it. Resolved if needed; nothing is installed.
    ``ahead``: if this process resolves the config's environment, the speculative
    install of ``plan`` it starts meanwhile is put there (the caller discards it)."""
    if not environment_plans(config):  # nothing to join: the requirement alone
        config = _single_config(plan, config.settings, config.platform)
    try:
        env = environment(config, refresh=refresh, name=name, speculate_for=plan, ahead=ahead)
    except DistributionNotFound as error:
        others = {other.key for other in config.plans if other.key != plan.key}
        if error.cache_key not in others:
            raise
        # Another extension's distribution is missing, and the resolution tried the others
        # without it: so is this one's (offline, say). Its own error, not the other's.
        own = _own_error(error, plan)
        if own is not None:
            raise own from None  # its own words only: the other's error was its context
        env = environment(_single_config(plan, config.settings, config.platform), name=name)
    if env.closure_of(plan.key) is None:
        from lazyext._env import resolve  # resolving: module docstring

        env = resolve.extended(config, env, plan)
    return env


def _own_error(error: BaseException, plan: Plan) -> DistributionNotFound | None:
    """The error that ``plan``'s own distribution raised earlier in the same resolution
    (:func:`lazyext._env.resolve.resolve` retried the others while handling it)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, DistributionNotFound) and seen.cache_key == plan.key:
            return seen
        seen = seen.__context__
    return None


def install_together(plans: Sequence[Plan], config: Config) -> None:
    """Best effort, for ``lazyext warm``: install the distributions that ``plans``'
    closures miss in one uv run, instead of one per extension. A failure is left to
    each extension's own :func:`install`, which reports it as that extension's."""
    if len(plans) < 2 or not environment_plans(config):
        return
    try:
        env = environment(config)
    except LazyextError:
        return
    closures = [env.closure_of(plan.key) or () for plan in plans]
    union = {d.key: d for closure in closures for d in closure if not d.host}
    root = _trust.ensure_root(config.settings.cache_dir)
    missing = [
        d for d in union.values() if find_entry(root, d.key, env.platform, config.settings) is None
    ]
    if len(missing) < 2:
        return
    shown = [plan.name for plan in plans[:5]]
    names = ", ".join(shown) + (f" and {len(plans) - 5} more" if len(plans) > 5 else "")
    try:
        # For the environment (its failure memory), not for any one extension.
        store.install(
            root,
            missing,
            config.settings,
            env.platform,
            failure_key=env.key,
            label=names,
            why="lazyext warm",
        )
    except LazyextError as error:
        _log.info("installing %s together failed (%s); one by one", names, error)
        return
    upkeep.after_install(root, config)
    # Their closures are installed by this run, not by their own: no failure to report.
    for plan in plans:
        if env.closure_of(plan.key) is not None:
            failures.clear(root, plan.key)


def _warn_shadowed(entries: Sequence[Entry], config: Config) -> None:
    """A host module of no distribution that hides a locked one: say so, naming both.

    Dependencies are served after the host's own modules (the application's modules
    win), so a stray ``six.py`` next to the application replaces the locked ``six``.
    """
    configured = {m.split(".")[0] for p in config.plans for m in p.extension.modules}
    own = set(own_paths)
    for entry in entries:
        for name in entry.top_level:
            if name in configured:
                continue
            path = [p for p in sys.path if p not in own]
            spec = PathFinder.find_spec(name, path)
            origin = spec.origin if spec is not None else None
            if origin and not origin.startswith(entry.target):
                dist, version = entry.resolved[0] if entry.resolved else (entry.requirement, "")
                _log.warning(
                    "the host module %s (%s) shadows %s %s of the environment, which "
                    "provides the same name; remove or rename the host's copy",
                    name,
                    origin,
                    dist,
                    version,
                )


def cached_closure(
    root: str, env: Environment, plan: Plan, settings: Settings
) -> list[Entry] | None:
    """The published entries of ``plan``'s closure, or ``None`` if any is missing."""
    closure = env.closure_of(plan.key)
    if closure is None:
        return None
    entries = []
    for locked in closure:
        if locked.host:
            continue
        entry = find_entry(root, locked.key, env.platform, settings)
        if entry is None:
            return None
        entries.append(entry)
    return entries
