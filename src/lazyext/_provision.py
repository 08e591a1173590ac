"""``provision``: the one path that makes a requirement importable.

Shared by the finder's loader, :func:`lazyext.ensure`, the CLI, plugins and tasks::

    published & valid      -> the entry
    otherwise              -> lock(key) -> re-check -> uv into staging -> verify
                              -> metadata -> atomic rename -> unlock

A failed install is remembered for ``failure-ttl`` seconds so that threads queued on
the same import (and programs that retry an import in a loop) fail fast instead of
running uv again; ``importlib.invalidate_caches()`` forgets it.
"""

from __future__ import annotations

import os
import sys
import time

from lazyext import _cache, _failures, _guards, _log, _verify
from lazyext._cache import Entry
from lazyext._config import Plan, Settings
from lazyext._errors import InstallError, LazyextError
from lazyext._record import replace
from lazyext._view import NOT_IMPORTABLE

# Every process that first-imports an uncached extension loads this module: logging,
# shutil and typing (~12 ms together) stay off that path.


def provision(
    plan: Plan,
    settings: Settings,
    platform: str,
    *,
    name: str | None = None,
    refresh: bool = False,
) -> Entry:
    """Return a published entry for ``plan``, installing it first if needed.

    ``refresh=True`` publishes a new generation even when a valid one exists (the old
    one keeps serving until then, and until gc removes it).
    """
    root = _cache.ensure_root(settings.cache_dir)
    if not refresh:
        entry = _cache.find_entry(root, plan.key, platform, settings)
        if entry is not None:
            return entry
    recalled = _recalled_failure(plan, name)
    if recalled is not None:
        raise recalled
    # A refresh is done when a generation other than the one seen now is the newest:
    # compared by their own order, never by wall-clock time (issue 12 #4).
    seen = _cache.find_entry(root, plan.key, platform, settings) if refresh else None
    _guards.enter()
    try:
        from lazyext._locks import key_lock

        with key_lock(root, plan.key, settings.lock_timeout):
            entry = _cache.find_entry(root, plan.key, platform, settings)
            if entry is not None and (not refresh or seen is None or entry.path != seen.path):
                return entry  # another thread or process published it meanwhile
            # A thread that queued on the lock behind an install that failed fails fast.
            recalled = _recalled_failure(plan, name)
            if recalled is None:
                try:
                    _verify.raise_if_refused(root, plan, name, refresh)
                    entry = _install_and_publish(plan, settings, platform, root, name, refresh)
                except InstallError as error:
                    # Remembered before the lock is released, for the threads queued on it;
                    # recorded in the cache for `lazyext status` / `doctor` in other processes.
                    _guards.remember_failure(plan.key, error, settings.failure_ttl)
                    _failures.record(root, plan.key, plan.requirement, error, settings.failure_ttl)
                    raise
                _failures.clear(root, plan.key)
                return entry
    except OSError as error:
        if isinstance(error, LazyextError):
            raise  # LockTimeout, UnsafeCacheError: already say what is wrong
        raise InstallError(
            f"cannot install {plan.requirement}: writing to the cache directory {root!r} "
            f"failed ({error}); it must be writable by this process and have free space "
            "(or set LAZYEXT_CACHE_DIR / cache-dir to another directory)",
            name=name,
            spec=plan.requirement,
            cache_key=plan.key,
        ) from error
    finally:
        _guards.leave()
    assert recalled is not None
    raise recalled


def _recalled_failure(plan: Plan, name: str | None) -> InstallError | None:
    found = _guards.recent_failure(plan.key)
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
    plan: Plan, settings: Settings, platform: str, root: str, name: str | None, refresh: bool
) -> Entry:
    from lazyext import _installer, _progress

    staging = _cache.new_staging(root, plan.key)
    try:
        target = os.path.join(staging, "target")
        why = f"`import {name}`" if name else f"extension {plan.name!r}"
        with _progress.installing(plan.extension.package or plan.requirement, why):
            _installer.install(
                plan.requirement,
                target,
                settings,
                name=name,
                hashes=plan.extension.hashes,
                cache_key=plan.key,
                offline_first=not refresh,  # a refresh looks for newer releases online
            )
        entry = _describe(plan, settings, platform, staging)
        _cache.write_metadata(staging, entry)
        final = _cache.publish(staging, root, plan.key, platform)
    except BaseException:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        raise
    _log.info("published %s as %s", plan.requirement, final)
    return _cache.read_entry(final) or replace(entry, path=final)


def _describe(plan: Plan, settings: Settings, platform: str, staging: str) -> Entry:
    """Verify the install and describe it; raise InstallError if it is not usable."""
    target = os.path.join(staging, "target")
    # uv leaves a 0666 lock file in the target (uv#16845); it is not part of the install.
    for leftover in (os.path.join(target, ".lock"), os.path.join(staging, "requirements.txt")):
        if os.path.lexists(leftover):
            os.unlink(leftover)
    try:
        names = sorted(os.listdir(target))
    except OSError as error:
        raise InstallError(
            f"uv reported success for {plan.requirement} but left no target directory",
            spec=plan.requirement,
            cache_key=plan.key,
        ) from error
    resolved = tuple(sorted(_dist_infos(names)))
    wanted = _cache.normalize_dist(plan.dist)
    if not any(_cache.normalize_dist(dist) == wanted for dist, _ in resolved):
        raise InstallError(
            f"uv reported success for {plan.requirement} but {plan.dist} is not in the result",
            spec=plan.requirement,
            cache_key=plan.key,
        )
    _verify.require_verified(target, requirement=plan.requirement, cache_key=plan.key)
    return Entry(
        key=plan.key,
        platform=platform,
        requirement=plan.requirement,
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
