"""What is installed, per extension and per distribution, read from the cache only.

The one answer to "what serves this extension" for the CLI, the web API, maintenance
and health checks: the stored environment of the config and the published entries
of each extension's closure. Nothing here resolves or installs.
"""

from __future__ import annotations

from typing import Any

from lazyext import _trust
from lazyext._env import host, hostcheck, provision, stored
from lazyext._env.stored import Environment
from lazyext._report import shapes
from lazyext._settings.config import Config, Plan
from lazyext._settings.names import DistName, canonical_name
from lazyext._store import failures
from lazyext._store.entries import Entry, dir_size
from lazyext._store.layers import find_entry


def stored_environment(config: Config) -> Environment | None:
    return provision.stored_environment(config, _trust.ensure_root(config.settings.cache_dir))


def closure_entries(
    config: Config, plan: Plan, env: Environment | None = None
) -> list[Entry] | None:
    """The published entries of ``plan``'s closure; ``None`` if unresolved or incomplete."""
    env = env if env is not None else stored_environment(config)
    if env is None:
        return None
    root = _trust.ensure_root(config.settings.cache_dir)
    return provision.cached_closure(root, env, plan, config.settings)


def main_entry(config: Config, plan: Plan, env: Environment | None = None) -> Entry | None:
    """The entry of ``plan``'s own distribution, if its closure is complete."""
    entries = closure_entries(config, plan, env)
    for entry in entries or ():
        if any(canonical_name(dist) == plan.dist for dist, _ in entry.resolved):
            return entry
    return None


def extension_rows(config: Config) -> list[dict[str, Any]]:
    """One extension result (:mod:`.shapes`) per configured extension: state, the
    version a process imports, size, path, its closure and a remembered failure (or
    why the config's lock cannot be used here)."""
    env = stored_environment(config)
    served = hostcheck.imports(config, env) if env is not None else {}
    refused = hostcheck.lock_problem(config) if env is None else None
    rows = []
    for plan in config.plans:
        row = shapes.extension(
            plan.name,
            ok=True,
            state="built-in",
            requirement=plan.requirement or "(built-in)",
            modules=list(plan.extension.modules),
            enabled=plan.extension.enabled,
            key=plan.key,
            size=0,
        )
        if plan.extension.package is not None:
            _fill(row, config, plan, env, served)
            if refused is not None and plan.extension.enabled and row["state"] == "missing":
                message = refused["message"]
                row.update(ok=False, state="failed", failure=refused, detail=message)
        rows.append(row)
    return rows


def _fill(
    row: dict[str, Any],
    config: Config,
    plan: Plan,
    env: Environment | None,
    served: dict[DistName, tuple[str, str]],
) -> None:
    if not plan.extension.enabled:  # not part of the environment: nothing to look up
        row["state"] = "disabled"
        return
    if not plan.marker_ok:
        row["state"] = "not-applicable"
        return
    closure = env.closure_of(plan.key) if env is not None else None
    locked = env.dist(plan.dist) if env is not None else None
    if closure is not None:
        row["distributions"] = [f"{d.name}=={d.version}" for d in closure]
    if locked is not None:
        row["version"] = locked.version
    entries = closure_entries(config, plan, env) if closure is not None else None
    version, where = served.get(plan.dist, ("", "cache"))
    if locked is not None and where not in ("cache", ""):  # what imports: the host's copy
        row["state"] = "host"
        row["version"] = version
        row["path"] = where
    elif entries is not None and env is not None:
        row["state"] = "expired" if env.expired() else "installed"
        row["size"] = sum(dir_size(entry.path) for entry in entries)
        main = main_entry(config, plan, env)
        row["path"] = str(main.target) if main is not None else ""
        row["installed_at"] = main.installed_at if main is not None else None
    elif host.satisfies(plan.dist, plan.specifier):
        row["state"] = "host"
    else:
        row["state"] = "missing"
        _remembered(row, config, plan)


def _remembered(row: dict[str, Any], config: Config, plan: Plan) -> None:
    """A failure another process recorded for this extension (or its environment)."""
    root = _trust.ensure_root(config.settings.cache_dir)
    for key in (plan.key, config.env_key):
        failure = failures.read(root, key)
        if failure is not None:
            row.update(ok=False, state="failed", failure=failure)
            row["detail"] = failures.describe(failure)
            return


def distribution_rows(config: Config) -> list[dict[str, Any]]:
    """One row per distribution of the stored environment: the version a process imports
    (``locked``: the environment's), from where, and who pulled it in."""
    env = stored_environment(config)
    if env is None:
        return []
    root = _trust.ensure_root(config.settings.cache_dir)
    names = {plan.key: plan.name for plan in config.plans}
    served = hostcheck.imports(config, env)
    rows = []
    for locked in env.dists:
        version, where = served.get(locked.name, (locked.version, "cache"))
        entry = None if locked.host else find_entry(root, locked.key, env.platform, config.settings)
        if where != "cache":
            state, path = ("host", where) if where else ("missing", "")
        else:
            state, path = ("installed", str(entry.target)) if entry else ("missing", "")
        rows.append(
            {
                "name": locked.name,
                "version": version,
                "locked": locked.version,
                "state": state,
                "path": path,
                "key": locked.key,
                "pulled_in_by": sorted(names.get(k, k) for k in env.pulled_in_by(locked.name)),
            }
        )
    return rows


def environment_summary(config: Config) -> dict[str, Any]:
    env = stored_environment(config)
    if env is None:
        return {"key": config.env_key, "state": "unresolved", "lock": config.settings.lock or ""}
    directory = stored.env_dir(_trust.ensure_root(config.settings.cache_dir), env.key, env.platform)
    return {
        "key": env.key,
        "state": "expired" if env.expired() else "resolved",
        "lock": config.settings.lock or "",
        "resolved_at": env.created_at,
        "pylock": f"{directory}/{stored.LOCK_FILE}",
    }
