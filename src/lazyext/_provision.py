"""``provision``: the one path that makes a requirement importable.

Shared by the finder's loader, :func:`lazyext.ensure`, the CLI, plugins and tasks::

    environment stored & valid     -> it
    otherwise                      -> lock(env key) -> re-check -> resolve -> store
    closure of the extension       -> each distribution published & valid -> it
    the missing ones               -> lock(their keys, sorted) -> re-check -> uv into
                                      one staging dir (locked versions, hashes, no deps)
                                      -> split per distribution -> verify -> metadata
                                      -> atomic rename each -> unlock

A failed install is remembered for ``failure-ttl`` seconds so that threads queued on
the same import (and programs that retry an import in a loop) fail fast instead of
running uv again; ``importlib.invalidate_caches()`` forgets it.
"""

from __future__ import annotations

import os
import sys
import time

from lazyext import _cache, _environment, _failures, _guards, _log, _verify
from lazyext._cache import Entry
from lazyext._config import Config, Plan, Settings
from lazyext._environment import Environment, Locked
from lazyext._errors import InstallError, LazyextError
from lazyext._record import record, replace
from lazyext._view import NOT_IMPORTABLE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

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
            if entry.resolved and _normal(entry.resolved[0][0]) == self.plan.dist:
                return entry
        return None

    @property
    def targets(self) -> list[str]:
        main = self.main
        ordered = ([main] if main is not None else []) + [e for e in self.entries if e is not main]
        return [entry.target for entry in ordered]


def _normal(name: str) -> str:
    """A distribution name as the lock spells it (PEP 503), from a ``.dist-info`` name."""
    return name.lower().replace("_", "-").replace(".", "-")


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
    recalled = _recalled_failure(config.env_key, name)
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
            recalled = _recalled_failure(config.env_key, name)
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
        raise _cache_failure(root, "resolving the environment", error) from error
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
    recalled = _recalled_failure(key, None)
    if recalled is not None:
        raise recalled
    _guards.enter()
    try:
        with key_lock(root, key, config.settings.lock_timeout):
            stored = _environment.find(root, key, config.platform, config.settings)
            if stored is not None:
                return stored
            recalled = _recalled_failure(key, None)
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


def _warn_shadowed(entries: list[Entry], config: Config) -> None:
    """A host module of no distribution that hides a locked one: say so, naming both.

    Dependencies are served after the host's own modules (the application's modules
    win), so a stray ``six.py`` next to the application replaces the locked ``six``.
    """
    from importlib.machinery import PathFinder

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


def install_closure(
    env: Environment,
    closure: tuple[Locked, ...],
    settings: Settings,
    *,
    plan: Plan,
    name: str | None = None,
) -> list[Entry]:
    """Publish every distribution of ``closure`` that is not yet in the cache."""
    root = _cache.ensure_root(settings.cache_dir)
    wanted = [locked for locked in closure if not locked.host]
    found = {d.key: _cache.find_entry(root, d.key, env.platform, settings) for d in wanted}
    missing = [d for d in wanted if found[d.key] is None]
    if missing:
        recalled = _recalled_failure(plan.key, name)
        if recalled is not None:
            raise recalled
        found.update(_install_missing(env, missing, settings, root, plan, name))
    return [entry for entry in (found[d.key] for d in wanted) if entry is not None]


def _install_missing(
    env: Environment,
    missing: list[Locked],
    settings: Settings,
    root: str,
    plan: Plan,
    name: str | None,
) -> dict[str, Entry]:
    from lazyext._locks import key_lock

    _guards.enter()
    held: list[Any] = []
    try:
        # Sorted: two processes installing overlapping closures take locks in one order.
        for key in sorted({d.key for d in missing}):
            lock = key_lock(root, key, settings.lock_timeout)
            lock.__enter__()
            held.append(lock)
        published = {d.key: _cache.find_entry(root, d.key, env.platform, settings) for d in missing}
        still = [d for d in missing if published[d.key] is None]
        if still:
            recalled = _recalled_failure(plan.key, name)
            if recalled is not None:
                raise recalled
            try:
                for locked in still:  # a wheel that contradicted its RECORD moments ago
                    _verify.raise_if_refused(root, locked.requirement, locked.key, name)
                published.update(_install_and_publish(env, still, settings, root, plan, name))
            except InstallError as error:
                # Remembered before the locks are released, for the threads queued on them;
                # recorded in the cache for `lazyext status` / `doctor` in other processes.
                _guards.remember_failure(plan.key, error, settings.failure_ttl)
                _failures.record(root, plan.key, plan.requirement, error, settings.failure_ttl)
                raise
            _failures.clear(root, plan.key)
        return {key: entry for key, entry in published.items() if entry is not None}
    except OSError as error:
        if isinstance(error, LazyextError):
            raise
        raise _cache_failure(root, f"installing {plan.requirement}", error) from error
    finally:
        for lock in reversed(held):
            lock.__exit__(None, None, None)
        _guards.leave()


def _cache_failure(root: str, what: str, error: OSError) -> InstallError:
    return InstallError(
        f"{what} failed: writing to the cache directory {root!r} failed ({error}); it must "
        "be writable by this process and have free space (or set LAZYEXT_CACHE_DIR / "
        "cache-dir to another directory)",
    )


def _recalled_failure(key: str, name: str | None) -> InstallError | None:
    found = _guards.recent_failure(key)
    if found is None:
        return None
    error, remaining = found
    return type(error)(
        f"{error.args[0] if error.args else error} (failed moments ago; not retried for "
        f"{remaining:.0f} s; importlib.invalidate_caches() retries now)",
        name=name or error.name,
        spec=error.spec,
        returncode=error.returncode,
        stderr_tail=error.stderr_tail,
        cache_key=error.cache_key,
        transient=error.transient,
        security=error.security,
    )


def _install_and_publish(
    env: Environment,
    missing: list[Locked],
    settings: Settings,
    root: str,
    plan: Plan,
    name: str | None,
) -> dict[str, Entry]:
    from lazyext import _installer, _progress

    staging = _cache.new_staging(root, missing[0].key)
    parts: dict[str, str] = {}
    try:
        target = os.path.join(staging, "target")
        why = f"`import {name}`" if name else f"extension {plan.name!r}"
        label = plan.extension.package or plan.requirement
        if len(missing) > 1:
            label += f" ({len(missing)} distributions)"
        with _progress.installing(label, why):
            _installer.install(
                plan.requirement,
                target,
                settings,
                name=name,
                cache_key=plan.key,
                locked=[(d.requirement, d.hashes) for d in missing],
            )
        _drop_leftovers(staging)
        if not os.path.isdir(target):
            raise InstallError(
                f"uv reported success for {plan.requirement} but left no target directory",
                spec=plan.requirement,
                cache_key=plan.key,
            )
        parts = _split(staging, missing, root) if len(missing) > 1 else {missing[0].key: staging}
        published = {}
        for locked in missing:
            part = parts[locked.key]
            entry = _describe(locked, settings, env.platform, part, plan)
            _cache.write_metadata(part, entry)
            final = _cache.publish(part, root, locked.key, env.platform)
            _log.info("published %s %s as %s", locked.name, locked.version, final)
            published[locked.key] = _cache.read_entry(final) or replace(entry, path=final)
        return published
    except BaseException:
        import shutil

        for path in {staging, *parts.values()}:
            shutil.rmtree(path, ignore_errors=True)
        raise
    finally:
        if parts and staging not in parts.values():
            import shutil

            shutil.rmtree(staging, ignore_errors=True)


def _drop_leftovers(staging: str) -> None:
    # uv leaves a 0666 lock file in the target (uv#16845); it is not part of the install.
    for leftover in (
        os.path.join(staging, "target", ".lock"),
        os.path.join(staging, "requirements.txt"),
    ):
        if os.path.lexists(leftover):
            os.unlink(leftover)


def _split(staging: str, missing: list[Locked], root: str) -> dict[str, str]:
    """Move each distribution's files (by its RECORD) into a staging dir of its own."""
    from lazyext._schemes import DATA_PREFIX
    from lazyext._verify import located, record_paths

    target = os.path.join(staging, "target")
    infos = _dist_info_dirs(target)
    parts: dict[str, str] = {}
    owners: dict[str, dict[str, list[str]]] = {}  # top-level item -> key -> paths in it
    for locked in missing:
        part = _cache.new_staging(root, locked.key)
        os.mkdir(os.path.join(part, "target"), 0o700)
        parts[locked.key] = part
        info = infos.get(locked.name)
        if info is None:
            continue  # _describe reports it
        for path in (info, *record_paths(os.path.join(target, info, "RECORD"))):
            normal = located(path)
            if normal is None:
                continue
            if normal.startswith(DATA_PREFIX):  # a data-scheme file: ../data/<path>
                _move_file(staging, part, normal[len(os.pardir + os.sep) :])
                continue
            top = normal.split(os.sep, 1)[0]
            owners.setdefault(top, {}).setdefault(locked.key, []).append(normal)
    for top, claims in owners.items():
        source = os.path.join(target, top)
        if not os.path.lexists(source):
            continue
        if len(claims) == 1:
            (key,) = claims
            os.rename(source, os.path.join(parts[key], "target", top))
            continue
        for key, paths in claims.items():  # a namespace shared by several: file by file
            for path in paths:
                _move_file(staging, parts[key], os.path.join("target", path))
    return parts


def _move_file(staging: str, part: str, relative: str) -> None:
    origin = os.path.join(staging, relative)
    if os.path.isfile(origin) or os.path.islink(origin):
        destination = os.path.join(part, relative)
        os.makedirs(os.path.dirname(destination), 0o700, exist_ok=True)
        os.rename(origin, destination)


def _dist_info_dirs(target: str) -> dict[str, str]:
    found = {}
    for name in os.listdir(target):
        if name.endswith(".dist-info"):
            dist = name[: -len(".dist-info")].rpartition("-")[0]
            found[_normal(dist)] = name
    return found


def _describe(locked: Locked, settings: Settings, platform: str, staging: str, plan: Plan) -> Entry:
    """Verify one distribution's install and describe it; raise if it is not usable."""
    target = os.path.join(staging, "target")
    try:
        names = sorted(os.listdir(target))
    except OSError as error:
        raise InstallError(
            f"uv reported success for {locked.requirement} but left no target directory",
            spec=plan.requirement,
            cache_key=plan.key,
        ) from error
    resolved = tuple(sorted(_dist_infos(names)))
    if not any(_normal(dist) == locked.name for dist, _ in resolved):
        raise InstallError(
            f"uv reported success for {locked.requirement} but {locked.name} is not in the result",
            spec=plan.requirement,
            cache_key=plan.key,
        )
    _verify.require_verified(target, requirement=locked.requirement, cache_key=locked.key)
    return Entry(
        key=locked.key,
        platform=platform,
        requirement=locked.requirement,
        path=staging,
        installed_at=time.time(),
        ttl_seconds=settings.ttl_hours * 3600.0,
        resolved=resolved,
        top_level=tuple(_top_level(target, names)),
        pth=tuple(name for name in names if name.endswith(".pth")),
    )


def _dist_infos(names: list[str]) -> list[tuple[str, str]]:
    found = []
    for name in names:
        if name.endswith(".dist-info"):
            dist, _, version = name[: -len(".dist-info")].rpartition("-")
            if dist:
                found.append((dist, version))
    return found


def _top_level(target: str, names: list[str]) -> list[str]:
    """Importable top-level names: packages, modules and extension modules."""
    found: dict[str, None] = {}
    for name in names:
        if (
            name.startswith(".")
            or name in NOT_IMPORTABLE
            or name.endswith((".dist-info", ".data", ".pth"))
        ):
            continue
        stem = name.partition(".")[0]
        if not stem.isidentifier():
            continue
        if os.path.isdir(os.path.join(target, name)):
            if "." not in name:
                found[name] = None
        elif name.endswith((".py", ".pyc", ".so", ".pyd")):
            found[stem] = None
    shadowing = sorted(set(found) & set(sys.stdlib_module_names))
    if shadowing:
        _log.warning(
            "%s ships top-level names of the standard library (%s); they are never imported "
            "from it",
            target,
            ", ".join(shadowing),
        )
    return [name for name in found if name not in sys.stdlib_module_names]
