"""Joint resolution: the enabled extensions of a config, and the host, as one environment.

``uv pip compile --format pylock.toml`` resolves every enabled extension together for
this interpreter, with the distributions the host can already import as constraints
(they win at import time anyway: a resolution that ignored them would promise versions
the process never imports). A second, offline ``uv pip compile`` pinned to the result
gives the dependency graph, which PEP 751 leaves optional and uv does not write; it is
added to the lock, so the first import of an extension installs its closure only.

A conflict is an error before anything is installed: a :class:`ResolutionError` that
names the extensions (or the host distribution and where it lives) and carries uv's
explanation. Resolution runs once per environment key under that key's lock, offline
first; the result is stored in the cache (:mod:`lazyext._environment`).
"""

from __future__ import annotations

import os
import re
import sys
import time
from typing import TYPE_CHECKING

from lazyext import _cache, _lockfile, _log
from lazyext._environment import Environment, Locked, environment_plans
from lazyext._errors import DistributionNotFound, InstallError, ResolutionError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from lazyext._config import Config, Plan, Settings


def host_distributions(cache_dir: str) -> dict[str, tuple[str, str]]:
    """``{normalized name: (version, directory)}`` of what this interpreter imports.

    The first ``*.dist-info`` of each name along ``sys.path`` wins, as it does for
    ``importlib.metadata``; lazyext's own path entries (its views) are not the host.
    """
    from lazyext import _view
    from lazyext._host import dist_infos

    views = {os.path.realpath(path) for path in _view.views()}
    cache = os.path.realpath(cache_dir) + os.sep

    def skip(directory: str) -> bool:
        real = os.path.realpath(directory)
        return real in views or (real + os.sep).startswith(cache)

    found: dict[str, tuple[str, str]] = {}
    for dist, version, directory in dist_infos(skip):
        found.setdefault(_lockfile.normalize(dist), (version, os.path.realpath(directory)))
    return found


def resolve(
    config: Config,
    env_key: str,
    plans: Sequence[Plan],
    *,
    upgrade: bool = False,
    previous: str | None = None,
    constraints: Sequence[str] = (),
) -> tuple[Environment, str]:
    """Resolve ``plans`` together; return the environment and its annotated lock text.

    ``previous`` (an earlier lock's text) is uv's preference: versions stay where they
    were unless ``upgrade``. ``constraints`` pin distributions of an environment that
    ``plans`` must join (``ensure`` of a requirement outside the config).
    """
    try:
        return _resolve(config, env_key, plans, upgrade, previous, constraints)
    except DistributionNotFound as error:
        # An extension whose distribution (or version) does not exist fails alone: the
        # others resolve without it, and its own imports raise this error.
        missing = [plan for plan in plans if plan.key == error.cache_key]
        if not missing or len(missing) == len(plans):
            raise
        _log.warning("%s; resolving the other extensions without it", error.args[0])
        rest = [plan for plan in plans if plan not in missing]
        return resolve(
            config, env_key, rest, upgrade=upgrade, previous=previous, constraints=constraints
        )


def _resolve(
    config: Config,
    env_key: str,
    plans: Sequence[Plan],
    upgrade: bool,
    previous: str | None,
    constraints: Sequence[str],
) -> tuple[Environment, str]:
    from lazyext._host import version_satisfies

    settings = config.settings
    host = host_distributions(settings.cache_dir)
    # A configured distribution the host has at a version that does not satisfy it is
    # served from the cache (lazyext's finder comes first for configured names).
    exempt = {
        plan.dist
        for plan in plans
        if plan.dist in host and not version_satisfies(host[plan.dist][0], plan.specifier)
    }
    pins = [
        f"{name}=={version}" for name, (version, _) in sorted(host.items()) if name not in exempt
    ]
    # A configured extension the host already satisfies is the host's to serve: nothing
    # to resolve or install for it (its distribution stays a constraint of the others).
    wanted = [p for p in plans if not (p.dist in host and p.dist not in exempt)]
    if not wanted:
        return build(config, env_key, plans, [], host), _EMPTY_LOCK
    if exempt:
        # The config replaces a host distribution with another version: the host's
        # extensions may depend on it, so they join the resolution, pinned to the host's
        # versions (served by the host all the same; one missing from the index fails
        # alone, as any missing distribution does).
        wanted = list(plans)
    root = _cache.ensure_root(settings.cache_dir)
    work = _cache.new_staging(root, env_key)
    try:
        requirements = os.path.join(work, "requirements.in")
        _write_lines(requirements, sorted({plan.requirement for plan in wanted}))
        host_file = os.path.join(work, "host.txt")
        _write_lines(host_file, [*pins, *constraints])
        output = os.path.join(work, "pylock.toml")
        if previous is not None and not upgrade:
            _write_lines(output, [previous.rstrip("\n")])
        # The graph's compile from the same inputs runs beside the lock's (one uv run of
        # wall time instead of two on a first import); with an earlier lock as uv's
        # preference the two could differ, so then it runs after, pinned.
        from lazyext import _depgraph

        guess = None
        if previous is None:
            guess = _depgraph.speculate(settings, requirements, host_file, work)
        try:
            text = _compile_lock(settings, requirements, host_file, output, upgrade, wanted, host)
        finally:
            guessed = guess() if guess is not None else None
        packages = _lockfile.parse(text, "the resolved environment")
        graph = _depgraph.graph(settings, requirements, packages, work, guessed)
        text = _lockfile.annotate(text, graph)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    env = build(config, env_key, plans, _lockfile.parse(text, "the resolved environment"), host)
    return env, text


#: The lock of an environment with nothing to install (PEP 751's required keys).
_EMPTY_LOCK = 'lock-version = "1.0"\ncreated-by = "lazyext"\n'


def build(
    config: Config,
    env_key: str,
    plans: Sequence[Plan],
    packages: Sequence[_lockfile.Package],
    host: Mapping[str, tuple[str, str]],
    *,
    source: str = "",
) -> Environment:
    from lazyext._keys import dist_key

    dists = []
    for package in packages:
        on_host = host.get(package.name)
        served = on_host is not None and on_host[0] == package.version
        dists.append(
            Locked(
                name=package.name,
                version=package.version,
                key=""
                if served
                else dist_key(package.name, package.version, package.hashes, package.url),
                hashes=package.hashes,
                deps=package.deps,
                host=on_host[1] if served and on_host is not None else "",
                requirement=package.requirement(),
            )
        )
    return Environment(
        key=env_key,
        platform=config.platform,
        created_at=time.time(),
        dists=tuple(dists),
        roots=tuple((plan.key, (plan.dist,)) for plan in plans),
        source=source,
        ttl_seconds=config.settings.ttl_hours * 3600.0,
    )


def _write_lines(path: str, lines: Iterable[str]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line + "\n")


def _compile_argv(settings: Settings, *, offline: bool) -> list[str]:
    from lazyext._installer import index_flags, uv_binary

    argv = [uv_binary(), "pip", "compile", "--no-config", "--python", sys.executable, "--quiet"]
    if offline or settings.offline:
        argv.append("--offline")
    return argv + index_flags(settings)


def _run(argv: list[str], settings: Settings) -> tuple[int, str]:
    """Run uv to completion under install-timeout: (exit status, redacted output tail)."""
    from lazyext import _spawn
    from lazyext._installer import _tail, uv_environment

    _log.debug("uv argv: %s", argv)
    limit = settings.install_timeout if settings.install_timeout > 0 else None
    try:
        code, output = _spawn.run(argv, uv_environment(settings), limit)
    except _spawn.Timeout as error:
        return -1, f"timed out after {limit or 0:g} s (install-timeout)\n" + _tail(
            error.output, settings
        )
    except OSError as error:
        raise InstallError(
            f"cannot run uv ({error}); reinstall the uv package: pip install --force-reinstall uv"
        ) from error
    return code, _tail(output, settings)


def _compile_lock(
    settings: Settings,
    requirements: str,
    host_file: str,
    output: str,
    upgrade: bool,
    plans: Sequence[Plan],
    host: Mapping[str, tuple[str, str]],
) -> str:
    tail = ["--format", "pylock.toml", "--generate-hashes", "-o", output, requirements]
    # Offline first (uv's cache alone answers in ~10 ms), then online with retries of
    # transient failures and backoff, all within install-timeout, as installs do.
    online = [False] * (1 + max(0, settings.retries))
    attempts = online if upgrade or not _may_use_network(settings) else [True, *online]
    limit = settings.install_timeout if settings.install_timeout > 0 else None
    deadline = None if limit is None else time.monotonic() + limit
    code, said, tries = 0, "", 0
    for offline in attempts:
        code, said = _run(
            [*_compile_argv(settings, offline=offline), "-c", host_file, *tail], settings
        )
        if code == 0:
            with open(output, encoding="utf-8") as handle:
                return handle.read()
        _log.debug("resolution %s failed: %s", "offline" if offline else "online", said)
        if offline:
            continue
        tries += 1
        delay = min(8.0, 0.5 * 2 ** (tries - 1))
        out_of_time = deadline is not None and time.monotonic() + delay >= deadline
        if (code >= 0 and not _looks_transient(said)) or out_of_time or tries == len(online):
            break
        _log.warning("resolving failed (attempt %d, transient); retrying in %.1f s", tries, delay)
        time.sleep(delay)
    raise _explain(settings, requirements, output, plans, host, said, code)


def _may_use_network(settings: Settings) -> bool:
    if settings.offline:
        return False
    return not settings.no_index or any("://" in link for link in settings.find_links)


def _explain(
    settings: Settings,
    requirements: str,
    output: str,
    plans: Sequence[Plan],
    host: Mapping[str, tuple[str, str]],
    said: str,
    code: int,
) -> InstallError:
    """Say who conflicts: the extensions among themselves, or with the host."""

    names = tuple(plan.name for plan in plans if _mentions(said, plan.dist))
    not_found = _not_found(said, plans, code)
    if not_found is not None:
        return not_found
    built = re.search(r"(?i)wheels are required for `(?P<dist>[^`]+)` because building", said)
    if built is not None and not settings.allow_sdist:
        return ResolutionError(
            f"cannot resolve the environment: only a source distribution of {built['dist']} "
            "is available and building one runs its build code at import time; set "
            "allow-sdist = true in the config to allow it",
            extensions=names,
            stderr_tail=said,
            returncode=code,
        )
    if code < 0 or _looks_transient(said):
        return InstallError(
            "cannot resolve the environment: uv could not reach the package index; "
            "set offline = true to use what uv has cached",
            stderr_tail=said,
            transient=True,
        )
    if "no solution" not in said.lower() and "unsatisfiable" not in said.lower():
        return ResolutionError(
            f"cannot resolve the environment of {', '.join(p.name for p in plans)}: "
            f"uv exited with status {code}",
            extensions=tuple(p.name for p in plans),
            stderr_tail=said,
            returncode=code,
        )
    # Without the host's constraints: does it resolve? Then the host is the conflict.
    free, free_said = _run(
        [
            *_compile_argv(settings, offline=False),
            "--format",
            "pylock.toml",
            "-o",
            output,
            requirements,
        ],
        settings,
    )
    if free == 0:
        with open(output, encoding="utf-8") as handle:
            wanted = {p.name: p.version for p in _lockfile.parse(handle.read(), "resolution")}
        clashes = tuple(
            f"{name} {version} at {where}"
            for name, (version, where) in sorted(host.items())
            if name in wanted and wanted[name] != version
        )
        return ResolutionError(
            f"the extensions {', '.join(names or [p.name for p in plans])} need versions that "
            f"differ from what this interpreter already imports: "
            f"{'; '.join(clashes) or 'a host distribution'} (the host's copy wins at import "
            "time); upgrade it in the host environment (e.g. `pip install -U "
            f"{' '.join(c.split()[0] for c in clashes)}`), or change the extensions' requirements",
            extensions=names,
            host=clashes,
            stderr_tail=said,
            returncode=code,
        )
    # Without any constraint, a requirement that names nothing that exists says so.
    not_found = _not_found(free_said, plans, code)
    if not_found is not None:
        return not_found
    return ResolutionError(
        f"the extensions {', '.join(names or [p.name for p in plans])} cannot be installed "
        "together: no version of each satisfies them all (uv's explanation below); change "
        "or relax one of their requirements, or disable one of them (enabled = false)",
        extensions=names,
        stderr_tail=free_said or said,
        returncode=code,
    )


def _not_found(said: str, plans: Sequence[Plan], code: int) -> InstallError | None:
    """An extension whose distribution or version does not exist: DistributionNotFound."""
    from lazyext._installer import _MISSING, _missing

    missing = re.search(_MISSING, said)
    if missing is None:
        return None
    dist = missing.group("dist") or missing.group("nover") or missing.group("only") or ""
    named = [plan for plan in plans if _lockfile.normalize(dist) == plan.dist]
    # Several extensions of one distribution: the one whose specifier uv quotes.
    quoted = [p for p in named if p.specifier and _specifier_in(said, p.specifier)]
    for plan in quoted or named:
        module = plan.extension.modules[0] if plan.extension.modules else plan.name
        return _missing(missing, code, said, plan.requirement, module, plan.key)
    # A dependency that does not exist: the extensions whose requirement needs it, as
    # uv's explanation names them (resolve() then resolves the others without them).
    needing = [p for p in plans if _mentions(said, p.dist)]
    if needing:
        plan = needing[0]
        module = plan.extension.modules[0] if plan.extension.modules else plan.name
        return DistributionNotFound(
            f"cannot install {plan.requirement}: it depends on {dist}, which is not "
            f"available from {_sources(missing)}; change or remove the extension "
            f"{plan.name!r}, or make {dist} available (find-links, the index)",
            name=module,
            spec=plan.requirement,
            returncode=code,
            stderr_tail=said,
            cache_key=plan.key,
        )
    return None


def _sources(missing: re.Match[str]) -> str:
    if missing.group("where") == "cache":
        return "uv's cache (offline mode is on)"
    return "the configured sources" if missing.group("dist") else "them in a suitable version"


def _specifier_in(text: str, specifier: str) -> bool:
    """``>=99`` of a plan in uv's words (``alpha>=99``, ``alpha >=99``), spaces aside."""
    flat = text.replace(" ", "")
    return all(clause.replace(" ", "") in flat for clause in specifier.split(","))


def _mentions(text: str, dist: str) -> bool:
    pattern = re.escape(dist).replace("\\-", "[-_.]")
    return re.search(rf"(?i)(?<![\w.-]){pattern}(?![\w-])", text) is not None


def _looks_transient(text: str) -> bool:
    from lazyext._installer import _TRANSIENT

    return re.search(_TRANSIENT, text) is not None


def from_lock_file(
    config: Config, env_key: str, plans: Sequence[Plan], path: str
) -> tuple[Environment, str]:
    """The environment a user's lock file pins (checked against the config and interpreter)."""
    text = _lockfile.read(path)
    packages = _lockfile.parse(text, path)
    _lockfile.check_platform(packages, path, config.settings.allow_sdist)
    _lockfile.check_covers(packages, {p.name: p.requirement for p in plans}, path)
    _lockfile.check_hashes(
        packages, {p.dist: p.extension.hashes for p in plans if p.extension.hashes}, path
    )
    if not _lockfile.has_graph(text):
        from lazyext import _depgraph

        root = _cache.ensure_root(config.settings.cache_dir)
        work = _cache.new_staging(root, env_key)
        try:
            requirements = os.path.join(work, "requirements.in")
            _write_lines(requirements, sorted({plan.requirement for plan in plans}))
            text = _lockfile.annotate(
                text, _depgraph.graph(config.settings, requirements, packages, work)
            )
        finally:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
        packages = _lockfile.parse(text, path)
    host = host_distributions(config.settings.cache_dir)
    env = build(config, env_key, plans, packages, host, source=path)
    return env, text


__all__ = ["environment_plans", "from_lock_file", "host_distributions", "resolve"]
