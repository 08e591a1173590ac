"""``lazyext doctor``: why an extension is (or is not) served, and the setup it runs in.

Everything here is read, nothing changed: no install, no activation, no ``.pth`` line
executed. Per configured extension (:func:`diagnose`):

* ``finder``: which ``sys.meta_path`` finder answers each of its modules in an
  application that activates this config (lazyext's, or the host's ``PathFinder``);
* ``entry``: the cache entry that serves it (key, generation path, version, and every
  distribution of the install), or what the first import would do;
* ``host``: the host environment's copy of the module and distribution, and whether
  it *shadows* the extension (the host's copy is imported instead of the cache's);
* ``failure``: the install failure remembered in the cache, and when it is retried;
* ``pth``: the install's ``.pth`` files, line by line: directories added to
  ``sys.path``, ``import`` lines executed (or not, with ``strict-pth``).

And for the setup (:func:`setup`): the interpreter and its platform tag, uv's path and
version, the cache root and its safety checks, the index settings (credentials
redacted) and the offline state, each with where it came from.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from lazyext import _trust
from lazyext._env import host, hostcheck
from lazyext._errors import InstallError, UnsafeCacheError
from lazyext._importer.pth import read_lines
from lazyext._report import status
from lazyext._settings.config import Config, Plan, env_flag
from lazyext._settings.names import DistName
from lazyext._settings.secrets import redact_url, secret_urls
from lazyext._store import failures
from lazyext._uv.run import uv_version


def environment_problems(config: Config) -> dict[DistName, list[str]]:
    """What the host does to the stored environment, by distribution: a locked version
    the host's copy replaces at import time (the host changed since, or a site
    directory was added), and host distributions whose requirements a cache-served
    version does not satisfy (a host starlette needing the anyio>=4 that an extension's
    anyio<4 replaces)."""
    env = status.stored_environment(config)
    if env is None:
        return {}
    served = hostcheck.imports(config, env)
    found: dict[DistName, list[str]] = {}
    for locked in env.dists:
        version, where = served.get(locked.name, (locked.version, "cache"))
        if where == "":
            found.setdefault(locked.name, []).append(
                f"{locked.name} {locked.version} was locked as the host's, in {locked.host}, "
                "and is not there any more: `lazyext refresh` resolves the environment again"
            )
        elif version != locked.version:
            found.setdefault(locked.name, []).append(
                f"the environment locks {locked.name} {locked.version}, but this interpreter "
                f"imports {locked.name} {version} from {where} (the host's copy wins): make the "
                f"host match (`pip install {locked.name}=={locked.version}`), or resolve or "
                "lock again with this interpreter (`lazyext refresh`, `lazyext lock`)"
            )
    for name, broken in hostcheck.broken_requirements(served, config.settings.cache_dir).items():
        found.setdefault(name, []).extend(
            f"{problem} (an extension's version replaces the host's for the whole process): "
            "relax the extension's requirement, or change the host's distribution"
            for problem in broken
        )
    return found


def diagnose(
    config: Config, plan: Plan, problems: dict[DistName, list[str]] | None = None
) -> dict[str, Any]:
    """``problems``: :func:`environment_problems` (computed here when not given)."""
    root = config.settings.cache_dir
    extension = plan.extension
    result: dict[str, Any] = {
        "finder": {},
        "entry": None,
        "host": {},
        "failure": None,
        "pth": [],
        "problems": [],
        "verdict": "",
    }
    if extension.package is None:
        result["verdict"] = "built-in: nothing to install; imported from the host"
        result["finder"] = dict.fromkeys(extension.modules, "PathFinder (host)")
        return result
    env = status.stored_environment(config)
    entries = status.closure_entries(config, plan, env)
    entry = status.main_entry(config, plan, env)
    if entry is not None and entries is not None:
        result["entry"] = {
            "key": entry.key,
            "path": entry.path,
            "target": entry.target,
            "version": entry.version_of(plan.dist) or "",
            "distributions": [f"{n}=={v}" for e in entries for n, v in e.resolved],
            "installed_at": entry.installed_at,
            "expired": env.expired() if env is not None else False,
            "top_level": list(entry.top_level),
        }
        result["pth"] = [_pth_effects(e.target, name, config) for e in entries for name in e.pth]
    failure = failures.read(root, plan.key) or failures.read(root, config.env_key)
    if failure is not None:
        result["failure"] = dict(failure, summary=failures.describe(failure, message=False))
    elif entry is None and plan.extension.enabled and plan.marker_ok:
        failure = hostcheck.lock_problem(config)
        if failure is not None:
            result["failure"] = dict(failure, summary=f"{failure['type']} (the config's lock)")
    hosts = {module: _host_copy(config, plan, module) for module in extension.modules}
    result["host"] = hosts
    for module, copy in hosts.items():
        result["finder"][module] = _finder_for(plan, copy, entry is not None)
    closure = env.closure_of(plan.key) if env is not None else None
    if problems is None:
        problems = environment_problems(config)
    found = [p for locked in closure or () for p in problems.get(locked.name, ())]
    result["problems"] = found
    if found and plan.extension.enabled and plan.marker_ok:
        result["verdict"] = f"conflict with the host: {found[0]}"
    else:
        result["verdict"] = _verdict(plan, entry is not None, hosts, failure)
    return result


def _host_copy(config: Config, plan: Plan, module: str) -> dict[str, Any]:
    """The host's copy of ``module`` (ignoring lazyext's finders and view)."""
    own = host.own_prefixes(config.settings)
    spec = host.host_spec(module, own)  # a dotted name in its parent's locations
    version = host.installed_version(plan.dist)
    satisfies = version is not None and host.version_satisfies(version, plan.specifier)
    shadows = plan.marker_ok and host.serves(plan.dist, plan.specifier, module, spec, own)
    imported = sys.modules.get(module)
    return {
        "module": None if spec is None else (spec.origin or "namespace package"),
        "distribution": f"{plan.dist}=={version}" if version else None,
        "satisfies": satisfies,
        "shadows": shadows,
        "imported_before_activation": imported is not None,
    }


def _finder_for(plan: Plan, copy: dict[str, Any], cached: bool) -> str:
    if not plan.extension.enabled:
        return "PathFinder (host): the extension is disabled"
    if not plan.marker_ok:
        return "PathFinder (host): the requirement's marker is false for this interpreter"
    if copy["shadows"]:
        return "PathFinder (host): the host's copy satisfies the requirement"
    if cached:
        return "lazyext.LazyFinder: served from the cache"
    return "lazyext.LazyFinder: installs on first import"


def _verdict(
    plan: Plan, cached: bool, hosts: dict[str, dict[str, Any]], failure: dict[str, Any] | None
) -> str:
    if not plan.extension.enabled:
        return "disabled: lazyext does not answer its imports"
    if not plan.marker_ok:
        return "not applicable: its marker is false here"
    shadowed = [module for module, copy in hosts.items() if copy["shadows"]]
    if shadowed:
        return (
            f"shadowed: the host environment's copy serves {', '.join(shadowed)} (it satisfies "
            f"{plan.requirement!r}); the cache is not used for it"
        )
    if cached:
        return "healthy: served from the cache"
    if failure is not None:
        first = failure["message"].splitlines()[0] if failure["message"] else failure["type"]
        return f"failed: {failure['type']}: {first}"
    return "not installed yet: the first import installs it"


def _pth_effects(target: str, name: str, config: Config) -> dict[str, Any]:
    lines = read_lines(os.path.join(target, name))
    effects: list[str] = []
    if lines is None:
        return {"file": name, "effects": ["unreadable or not UTF-8: skipped"]}
    strict = config.settings.strict_pth
    for line in lines:
        text = line.rstrip("\r")
        if not text.strip() or text.startswith("#"):
            continue
        if text.startswith(("import ", "import\t")):
            verb = "not executed (strict-pth)" if strict else "executed on activation"
            effects.append(f"{verb}: {text}")
        else:
            path = os.path.join(target, text)
            exists = "" if os.path.exists(path) else " (missing: ignored)"
            effects.append(f"adds to sys.path: {path}{exists}")
    return {"file": name, "effects": effects}


def setup(config: Config) -> dict[str, Any]:
    settings = config.settings
    return {
        "python": {
            "executable": sys.executable,
            "version": sys.version.split()[0],
            "implementation": sys.implementation.name,
            "platform": config.platform,
        },
        "uv": _uv(config),
        "cache": _cache_checks(settings.cache_dir, tuple(getattr(settings, "cache_read", ()))),
        "index": {
            "index_url": redact_url(settings.index_url) if settings.index_url else None,
            "extra_index_urls": [redact_url(url) for url in settings.extra_index_urls],
            "find_links": [redact_url(link) for link in settings.find_links],
            "no_index": settings.no_index,
            "credentials": "passed to uv in its environment, never on its command line"
            if _has_secrets(config)
            else "none in the config",
        },
        "offline": {"offline": settings.offline, "because": _offline_source(settings.offline)},
        "config": config.source,
    }


def _has_secrets(config: Config) -> bool:
    return bool(secret_urls(config.settings))


def _offline_source(offline: bool) -> str:
    if env_flag("LAZYEXT_OFFLINE") is not None:
        return f"LAZYEXT_OFFLINE={os.environ['LAZYEXT_OFFLINE']}"
    if env_flag("UV_OFFLINE"):
        return f"UV_OFFLINE={os.environ['UV_OFFLINE']}"
    return "the config (offline = true)" if offline else "default"


def _uv(config: Config) -> dict[str, Any]:
    try:
        path, version, problem = uv_version(config.settings)
    except InstallError as error:
        return {"path": None, "version": None, "problem": str(error)}
    return {"path": path, "version": version, "problem": problem}


def _cache_checks(root: str, layers: tuple[str, ...]) -> dict[str, Any]:
    checks: dict[str, Any] = {"root": root, "exists": os.path.isdir(root), "layers": list(layers)}
    try:
        _trust.ensure_root(root)
    except (UnsafeCacheError, OSError) as error:
        checks.update(safe=False, problem=str(error))
        return checks
    info = os.lstat(root)
    checks.update(
        safe=True,
        problem=None,
        owner_is_you=not hasattr(os, "geteuid") or info.st_uid == os.geteuid(),
        mode=oct(info.st_mode & 0o777),
        writable_by_others=bool(info.st_mode & 0o022),
        symlink=os.path.islink(root),
    )
    return checks
