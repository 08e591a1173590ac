"""What a failed uv run means, as the error a user can act on.

Only a failure's path comes here (``re`` is imported where a pattern is matched).
"""

from __future__ import annotations

import re

from lazyext._errors import DistributionNotFound, InstallError
from lazyext._settings.config import Settings
from lazyext._settings.names import canonical_name
from lazyext._uv.run import Ran

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

#: The distribution or version does not exist where uv looked: a missing module.
MISSING: Final = (
    r"(?i)\b(?P<dist>\S+) was not found in the (?P<where>package registry|provided package "
    r"locations|cache)|there is no version of (?P<nover>[\w.-]+)|"
    r"only (?P<only>[\w.-]+?)[<>=!~ ].* (is|are) available and you require"
)


def find_missing(text: str) -> re.Match[str] | None:
    return re.search(MISSING, text)


def missing_name(found: re.Match[str]) -> str:
    return found.group("dist") or found.group("nover") or found.group("only") or ""


def install_error(
    ran: Ran, requirement: str, name: str | None, key: str, settings: Settings
) -> InstallError:
    """The error of a failed ``uv pip install`` of ``requirement``."""
    tail = ran.tail
    lowered = tail.lower()
    security = ran.security
    transient = ran.transient
    if ran.timed_out:
        return InstallError(
            f"installing {requirement} timed out after {settings.install_timeout:g} s "
            f"(install-timeout): {unreachable_advice(settings)}",
            name=name,
            spec=requirement,
            stderr_tail=tail,
            cache_key=key,
            transient=True,
        )
    if ran.code < 0:
        what = f"uv was killed by signal {-ran.code}"
    elif security:
        what = "uv refused a file whose hash does not match the pinned hashes (not retried)"
    elif transient:
        what = unreachable_advice(settings)
    elif (missing := find_missing(tail)) is not None:
        return missing_error(missing, ran.code, tail, requirement, name, key)
    elif "network connectivity is disabled" in lowered:
        # A locked version uv knows of but never downloaded, asked for offline.
        wanted = re.search(r"Failed to download `(?P<dist>[\w.-]+)", tail)
        return DistributionNotFound(
            f"cannot install {requirement}: {wanted['dist'] if wanted else 'a distribution'} "
            "is not available from uv's cache (offline mode is on; go online once, or add "
            "find-links)",
            name=name,
            spec=requirement,
            returncode=ran.code,
            stderr_tail=tail,
            cache_key=key,
        )
    elif settings.offline and ("offline" in lowered or "network was disabled" in lowered):
        what = "it is not in uv's cache and offline mode is on; go online once or add find-links"
    elif not settings.allow_sdist and "building from source is disabled" in lowered:
        what = (
            "only a source distribution is available and building one runs its build code "
            "at import time; set allow-sdist = true in the config to allow it"
        )
    elif "no trusted hash" in lowered:
        what = (
            "hash-checking mode (the extension's hashes) needs a hash for every distribution "
            "installed, and a dependency has none; pin a dependency-free distribution"
        )
    else:
        what = f"uv exited with status {ran.code}"
    return InstallError(
        f"cannot install {requirement}: {what}",
        name=name,
        spec=requirement,
        returncode=ran.code,
        stderr_tail=tail,
        cache_key=key,
        transient=transient,
        security=security,
    )


def unreachable_advice(settings: Settings) -> str:
    """What to do when uv could not reach the index."""
    if settings.offline:
        return (
            "uv could not reach the package index; offline mode is on, so only uv's cache "
            "and find-links are used"
        )
    return (
        "uv could not reach the package index; check index-url and find-links in the "
        "config (or the network), or set offline = true (LAZYEXT_OFFLINE=1) to use "
        "cached wheels only"
    )


def missing_error(
    found: re.Match[str],
    returncode: int,
    tail: str,
    requirement: str,
    name: str | None,
    key: str,
) -> DistributionNotFound:
    """A requirement (or its dependency) that names no available distribution."""
    dist = missing_name(found)
    own = re.split(r"[\s\[<>=!~;@(]", requirement.strip(), maxsplit=1)[0]
    if found.group("where") == "cache":
        where = "uv's cache (offline mode is on; go online once, or add find-links)"
    elif found.group("dist") and canonical_name(dist) != canonical_name(own):
        # A dependency (a locked one whose file has gone, say): no import-name hint.
        where = f"the configured sources (it is a dependency of {own})"
    elif found.group("dist"):
        where = (
            "the index; an import name is not always the name of the distribution that "
            "provides it (`import yaml` comes from PyYAML): set the extension's package to "
            "that distribution"
        )
    else:
        where = "the index in a version that satisfies the requirement"
    return DistributionNotFound(
        f"cannot install {requirement}: {dist} is not available from {where}",
        name=name,
        spec=requirement,
        returncode=returncode,
        stderr_tail=tail,
        cache_key=key,
    )
