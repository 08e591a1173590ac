"""What ``lazyext add`` checks before it edits, and the lock it keeps in step.

An extension is added only if the edited config's environment resolves: every enabled
extension together, the new one included, with the host's importable distributions
as constraints (the resolution stage's :func:`~lazyext._env.resolve.resolve_lock`,
which stores nothing), and only if what it locks for the new extension has a wheel for
this interpreter (a source distribution only with ``allow-sdist``). A refusal is the
resolution's own error: uv's explanation of a conflict, or the distribution that does
not exist.
"""

from __future__ import annotations

import os
import re
import sys

from lazyext import _trust
from lazyext._env import lockfile
from lazyext._env.resolve import resolve_lock, single_config
from lazyext._env.stored import Environment
from lazyext._errors import InstallError, LockFileError
from lazyext._run.names import guess, import_names
from lazyext._settings.config import Config, Plan

_SDIST = " (a source distribution is used only with allow-sdist = true)"


def check_added(candidate: Config, plan: Plan) -> tuple[Environment, str]:
    """The environment and lock text of ``candidate``, which adds ``plan``; raise the
    reason (an InstallError: ResolutionError, DistributionNotFound) if it cannot be."""
    try:
        env, text = resolve_lock(candidate, previous=previous_lock(candidate))
    except InstallError as error:
        better = _no_wheel(error, plan, candidate)
        if better is None:
            raise
        raise better from error
    if not plan.marker_ok or plan.extension.package is None:
        return env, text  # nothing of it installs on this interpreter
    if env.roots_of(plan.key) is None:
        # The resolution set it aside, as an import would (its distribution, or a
        # dependency, does not exist): resolved alone, it says why.
        resolve_lock(single_config(plan, candidate.settings, candidate.platform))
        raise InstallError(
            f"cannot add {plan.requirement}: it does not resolve with the other extensions",
            spec=plan.requirement,
        )
    closure = {locked.name for locked in env.closure_of(plan.key) or ()}
    packages = [p for p in lockfile.parse(text, "the resolved environment") if p.name in closure]
    for package in packages:
        try:
            lockfile.check_platform([package], "the lock", candidate.settings.allow_sdist)
        except LockFileError as error:
            sdist = "" if candidate.settings.allow_sdist else _SDIST
            raise InstallError(
                f"cannot add {plan.requirement}: {package.name} {package.version} has no wheel "
                f"for this interpreter ({sys.version.split()[0]}, {candidate.platform}){sdist}",
                spec=plan.requirement,
                cache_key=plan.key,
            ) from error
    return env, text


def _no_wheel(error: InstallError, plan: Plan, config: Config) -> InstallError | None:
    """uv found the distribution, but no wheel of it for this interpreter: say so."""
    found = re.search(
        r"(?P<dist>[\w.-]+)(==(?P<version>\S+))? has no wheels with a matching (platform|Python)",
        error.stderr_tail,
    )
    if found is None:
        return None
    what = found["dist"] + (f" {found['version']}" if found["version"] else "")
    return InstallError(
        f"cannot add {plan.requirement}: {what} has no wheel for this interpreter "
        f"({sys.version.split()[0]}, {config.platform})"
        + ("" if config.settings.allow_sdist else _SDIST),
        spec=plan.requirement,
        stderr_tail=error.stderr_tail,
        returncode=error.returncode,
        cache_key=plan.key,
    )


def previous_lock(config: Config) -> str | None:
    """The config's lock file's text (uv's preference: versions stay), if it has one."""
    lock = config.settings.lock
    if lock and os.path.isfile(lock):
        return lockfile.read(lock)
    return None


def module_names(config: Config, plan: Plan, env: Environment, text: str) -> list[str]:
    """The import names of ``plan``'s distribution, from the wheel the lock chose."""
    dist = plan.dist
    locked = env.dist(dist)
    if locked is None or locked.host:  # the host's: its name is the usual one
        return [guess(dist)]
    root = _trust.ensure_root(config.settings.cache_dir)
    names, _guessed = import_names(text, [dist], root, offline=config.settings.offline)
    return list(names[dist])
