"""``provision``: the one path that makes a requirement importable.

Shared by the finder's loader, :func:`lazyext.ensure`, the CLI, plugins and tasks::

    environment stored & valid     -> it
    otherwise                      -> lock(env key) -> re-check -> resolve -> store
    closure of the extension       -> lazyext._publish: each distribution published
                                      & valid, or installed and published now

A failed resolution or install is remembered for ``failure-ttl`` seconds so that
threads queued on the same import (and programs that retry an import in a loop) fail
fast instead of running uv again; ``importlib.invalidate_caches()`` forgets it.
"""

from __future__ import annotations

import os
import sys

from lazyext import _cache, _config, _environment, _failures, _guards, _log
from lazyext._cache import Entry
from lazyext._config import Config, Plan, Settings
from lazyext._environment import Environment, Locked
from lazyext._errors import InstallError, LazyextError
from lazyext._publish import cache_failure, install_closure, normal_name, recalled_failure
from lazyext._record import record, replace

# Every process that first-imports an uncached extension loads this module: logging,
# shutil and typing (~12 ms together) stay off that path.


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
            if entry.resolved and normal_name(entry.resolved[0][0]) == self.plan.dist:
                return entry
        return None

    @property
    def targets(self) -> list[str]:
        main = self.main
        ordered = ([main] if main is not None else []) + [e for e in self.entries if e is not main]
        return [entry.target for entry in ordered]


def single_config(plan: Plan, settings: Settings, platform: str) -> Config:
    """A config of one plan, for callers that provision outside any config."""
    from lazyext._keys import environment_key

    key = environment_key([(plan.key, plan.requirement)], settings, platform)
    return Config(settings=settings, plans=(plan,), platform=platform, env_key=key)


def environment(
    config: Config, *, refresh: bool = False, upgrade: bool = False, name: str | None = None
) -> Environment:
    """The config's environment: the stored one, or resolved now under its key's lock.

    ``refresh`` resolves again (online, newest releases preferred unless the config has a
    lock file, whose versions never change); the old environment keeps serving until the
    new one is stored. A failed resolution is remembered like a failed install; ``name``
    is the import that needed it.
    """
    root = _cache.ensure_root(config.settings.cache_dir)
    seen = stored_environment(config, root)
    if not refresh and seen is not None:
        return seen
    recalled = recalled_failure(config.env_key, name)
    if recalled is not None:
        raise recalled
    _guards.enter()
    try:
        from lazyext._locks import key_lock

        with key_lock(root, config.env_key, config.settings.lock_timeout):
            env = stored_environment(config, root)
            # A refresh is done when another environment than the one seen is stored now:
            # compared by identity, never by wall-clock time (a clock may step).
            if env is not None and (not refresh or not _same(env, seen)):
                return env  # another thread or process resolved it meanwhile
            recalled = recalled_failure(config.env_key, name)
            if recalled is not None:
                raise recalled
            try:
                from lazyext._progress import installing

                why = f"`import {name}`" if name else ""
                what = f"the environment of {len(config.plans)} extension(s)"
                with installing(what, why, doing="resolving"):
                    env = _resolve_and_store(config, root, env, upgrade=upgrade or refresh)
            except InstallError as error:
                if error.name is None:
                    error.name = name
                # Remembered before the lock is released, for the threads queued on it;
                # recorded in the cache for `lazyext status` / `doctor` in other processes.
                _guards.remember_failure(config.env_key, error, config.settings.failure_ttl)
                _failures.record(
                    root, config.env_key, "the environment", error, config.settings.failure_ttl
                )
                raise
            _failures.clear(root, config.env_key)
            return env
    except OSError as error:
        if isinstance(error, LazyextError):
            raise
        raise cache_failure(root, "resolving the environment", error) from error
    finally:
        _guards.leave()


def _same(env: Environment, seen: Environment | None) -> bool:
    return seen is not None and (env.created_at, env.dists) == (seen.created_at, seen.dists)


def stored_environment(config: Config, root: str) -> Environment | None:
    env = _environment.find(root, config.env_key, config.platform, config.settings)
    lock = config.settings.lock
    if env is not None and lock and env.source != _environment.lock_identity(lock):
        return None  # the lock file changed since: read it again
    return env


def _resolve_and_store(
    config: Config, root: str, previous: Environment | None, *, upgrade: bool
) -> Environment:
    from lazyext import _resolve

    plans = _resolve.environment_plans(config)
    lock = config.settings.lock
    if lock:
        env, text = _resolve.from_lock_file(config, config.env_key, plans, lock)
        env = replace(env, source=_environment.lock_identity(lock))
    else:
        old = _stored_lock_text(root, previous)
        env, text = _resolve.resolve(config, config.env_key, plans, upgrade=upgrade, previous=old)
    _check_hashes(env, plans)
    _environment.store(root, env, text)
    _log.info("resolved the environment of %s (%d distributions)", config.source, len(env.dists))
    return env


def _stored_lock_text(root: str, env: Environment | None) -> str | None:
    if env is None:
        return None
    path = os.path.join(_environment.env_dir(root, env.key, env.platform), _environment.LOCK_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


def _check_hashes(env: Environment, plans: list[Plan]) -> None:
    """An extension's configured ``hashes`` must name a file the environment locked."""
    for plan in plans:
        pinned = set(plan.extension.hashes)
        locked = env.dist(plan.dist)
        if pinned and (locked is None or not pinned & set(locked.hashes)):
            raise InstallError(
                f"refusing {plan.requirement}: the files the index has for "
                f"{plan.dist} {locked.version if locked else ''} "
                f"({', '.join(locked.hashes) if locked else 'none'}) match none of the "
                "configured hashes (a substituted file, or a wrong hash in the config); "
                "nothing was installed",
                name=plan.extension.modules[0] if plan.extension.modules else plan.name,
                spec=plan.requirement,
                cache_key=plan.key,
                security=True,
            )


def joined_key(config: Config, env_key: str, plan: Plan) -> str:
    """The key of the environment of ``plan`` (not in the config) joining ``env_key``."""
    from lazyext._keys import environment_key

    return environment_key(
        [(plan.key, plan.requirement), ("joins", env_key)], config.settings, config.platform
    )


def extended(config: Config, env: Environment, plan: Plan) -> Environment:
    """An environment for ``plan`` (not in the config) that joins ``env``: its locked
    versions are constraints, so what ``plan`` needs fits the process's namespace."""
    key = joined_key(config, env.key, plan)
    joined = replace(config, plans=(plan,), env_key=key)
    root = _cache.ensure_root(config.settings.cache_dir)
    stored = _environment.find(root, key, config.platform, config.settings)
    if stored is not None:
        return stored
    from lazyext import _resolve
    from lazyext._locks import key_lock

    pins = [d.requirement for d in env.dists if d.version]
    recalled = recalled_failure(key, None)
    if recalled is not None:
        raise recalled
    _guards.enter()
    try:
        with key_lock(root, key, config.settings.lock_timeout):
            stored = _environment.find(root, key, config.platform, config.settings)
            if stored is not None:
                return stored
            recalled = recalled_failure(key, None)
            if recalled is not None:
                raise recalled
            try:
                new, text = _resolve.resolve(joined, key, [plan], constraints=pins)
            except InstallError as error:
                _guards.remember_failure(key, error, config.settings.failure_ttl)
                # Recorded under the extension's own key for `status` / `doctor`.
                _failures.record(
                    root, plan.key, plan.requirement, error, config.settings.failure_ttl
                )
                raise
            _environment.store(root, new, text)
            return new
    finally:
        _guards.leave()


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
        plan, config or single_config(plan, settings, platform), name=name, refresh=refresh
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
    if not _environment.environment_plans(config):  # nothing to join: the requirement alone
        config = single_config(plan, config.settings, config.platform)
    env = environment(config, refresh=refresh, name=name)
    closure = env.closure_of(plan.key)
    if closure is None:
        env = extended(config, env, plan)
        closure = env.closure_of(plan.key) or ()
    entries = install_closure(env, closure, config.settings, plan=plan, name=name)
    _warn_shadowed(entries, config)
    return Installed(
        plan=plan,
        environment=env,
        entries=tuple(entries),
        host=tuple(d for d in closure if d.host),
    )


def install_together(plans: list[Plan], config: Config) -> None:
    """Best effort, for ``lazyext warm``: install the distributions that ``plans``'
    closures miss in one uv run, instead of one per extension. A failure is left to
    each extension's own :func:`install`, which reports it as that extension's."""
    if len(plans) < 2 or not _environment.environment_plans(config):
        return
    try:
        env = environment(config)
    except LazyextError:
        return
    closures = [env.closure_of(plan.key) or () for plan in plans]
    union = {d.key: d for closure in closures for d in closure if not d.host}
    root = _cache.ensure_root(config.settings.cache_dir)
    missing = [
        d
        for d in union.values()
        if _cache.find_entry(root, d.key, env.platform, config.settings) is None
    ]
    if len(missing) < 2:
        return
    # Recorded, if it fails, under the environment's key: no extension's failure memory.
    shown = [plan.name for plan in plans[:5]]
    names = ", ".join(shown) + (f" and {len(plans) - 5} more" if len(plans) > 5 else "")
    together = Plan(
        extension=_config.Extension(name="environment", package=names),
        requirement=f"the environment of {names}",
        dist="",
        specifier="",
        key=env.key,
    )
    try:
        install_closure(env, tuple(missing), config.settings, plan=together, why="lazyext warm")
    except LazyextError as error:
        _log.info("installing %s together failed (%s); one by one", names, error)
        return
    # Their closures are installed by this run, not by their own: no failure to report.
    for plan in plans:
        if env.closure_of(plan.key) is not None:
            _failures.clear(root, plan.key)


def _warn_shadowed(entries: list[Entry], config: Config) -> None:
    """A host module of no distribution that hides a locked one: say so, naming both.

    Dependencies are served after the host's own modules (the application's modules
    win), so a stray ``six.py`` next to the application replaces the locked ``six``.
    """
    from _frozen_importlib_external import PathFinder

    from lazyext import _view

    configured = {m.split(".")[0] for p in config.plans for m in p.extension.modules}
    views = set(_view.views())
    for entry in entries:
        for name in entry.top_level:
            if name in configured:
                continue
            path = [p for p in sys.path if p not in views]
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
    root: str, env: Environment, plan_key: str, settings: Settings | None = None
) -> list[Entry] | None:
    """The published entries of a plan's closure, or ``None`` if any is missing."""
    closure = env.closure_of(plan_key)
    if closure is None:
        return None
    entries = []
    for locked in closure:
        if locked.host:
            continue
        entry = _cache.find_entry(root, locked.key, env.platform, settings)
        if entry is None:
            return None
        entries.append(entry)
    return entries
