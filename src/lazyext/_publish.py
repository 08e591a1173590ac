"""Install the missing distributions of a closure and publish each as its own entry.

Called by :mod:`lazyext._provision` once the environment is known::

    closure of the extension       -> each distribution published & valid -> it
    the missing ones               -> lock(their keys, sorted) -> re-check -> uv into
                                      one staging dir (locked versions, hashes, no deps)
                                      -> split per distribution -> verify -> metadata
                                      -> atomic rename each -> unlock

A failed install is remembered for ``failure-ttl`` seconds (:func:`recalled_failure`)
so that threads queued on the same import fail fast instead of running uv again.
"""

from __future__ import annotations

import os
import sys
import time

from lazyext import _cache, _failures, _guards, _log, _verify
from lazyext._cache import Entry
from lazyext._config import Plan, Settings
from lazyext._environment import Environment, Locked
from lazyext._errors import InstallError, LazyextError
from lazyext._record import replace
from lazyext._view import NOT_IMPORTABLE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Every process that first-imports an uncached extension loads this module: logging,
# shutil and typing (~12 ms together) stay off that path.


def normal_name(name: str) -> str:
    """A distribution name as the lock spells it (PEP 503), from a ``.dist-info`` name."""
    return name.lower().replace("_", "-").replace(".", "-")


def install_closure(
    env: Environment,
    closure: tuple[Locked, ...],
    settings: Settings,
    *,
    plan: Plan,
    name: str | None = None,
    why: str | None = None,
) -> list[Entry]:
    """Publish every distribution of ``closure`` that is not yet in the cache.

    ``why``: what the progress line says the install is for (default: the import of
    ``name``, else the extension of ``plan``)."""
    root = _cache.ensure_root(settings.cache_dir)
    wanted = [locked for locked in closure if not locked.host]
    found = {d.key: _cache.find_entry(root, d.key, env.platform, settings) for d in wanted}
    missing = [d for d in wanted if found[d.key] is None]
    if missing:
        recalled = recalled_failure(plan.key, name)
        if recalled is not None:
            raise recalled
        found.update(_install_missing(env, missing, settings, root, plan, name, why))
    return [entry for entry in (found[d.key] for d in wanted) if entry is not None]


def _install_missing(
    env: Environment,
    missing: list[Locked],
    settings: Settings,
    root: str,
    plan: Plan,
    name: str | None,
    why: str | None,
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
            recalled = recalled_failure(plan.key, name)
            if recalled is not None:
                raise recalled
            try:
                for locked in still:  # a wheel that contradicted its RECORD moments ago
                    _verify.raise_if_refused(root, locked.requirement, locked.key, name)
                published.update(_install_and_publish(env, still, settings, root, plan, name, why))
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
        raise cache_failure(root, f"installing {plan.requirement}", error) from error
    finally:
        for lock in reversed(held):
            lock.__exit__(None, None, None)
        _guards.leave()


def cache_failure(root: str, what: str, error: OSError) -> InstallError:
    return InstallError(
        f"{what} failed: writing to the cache directory {root!r} failed ({error}); it must "
        "be writable by this process and have free space (or set LAZYEXT_CACHE_DIR / "
        "cache-dir to another directory)",
    )


def recalled_failure(key: str, name: str | None) -> InstallError | None:
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
    why: str | None,
) -> dict[str, Entry]:
    from lazyext import _installer, _progress

    staging = _cache.new_staging(root, missing[0].key)
    parts: dict[str, str] = {}
    try:
        target = os.path.join(staging, "target")
        if why is None:
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
        sharing = _sharing(target, missing) if len(missing) > 1 else set()
        if sharing:
            # Two wheels of one run ship the same path (a pkgutil namespace's
            # __init__.py, a stray tests/ package): uv kept one copy, so the other's
            # files cannot match its RECORD. Those distributions install alone.
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
            rest = [d for d in missing if d.key not in sharing]
            groups = ([rest] if rest else []) + [[d] for d in missing if d.key in sharing]
            _log.info("%s share files: installing them one by one", sorted(sharing))
            done: dict[str, Entry] = {}
            for group in groups:
                done.update(_install_and_publish(env, group, settings, root, plan, name, why))
            return done
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


def _sharing(target: str, missing: list[Locked]) -> set[str]:
    """The keys of the distributions whose RECORD lists a path another one lists too."""
    from lazyext._verify import located, record_paths

    infos = _dist_info_dirs(target)
    claimed: dict[str, str] = {}  # path -> the first key that lists it
    sharing: set[str] = set()
    for locked in missing:
        info = infos.get(locked.name)
        if info is None:
            continue
        for path in set(
            filter(None, map(located, record_paths(os.path.join(target, info, "RECORD"))))
        ):
            first = claimed.setdefault(path, locked.key)
            if first != locked.key:
                sharing.update((first, locked.key))
    return sharing


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
            found[normal_name(dist)] = name
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
    if not any(normal_name(dist) == locked.name for dist, _ in resolved):
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
