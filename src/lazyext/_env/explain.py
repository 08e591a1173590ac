"""Why a joint resolution failed, in the words of what to change.

uv's explanation says which requirements conflict; this module says whose they are:
an extension whose distribution does not exist (``DistributionNotFound``, so
``pytest.importorskip`` skips it), extensions that conflict among themselves, or an
extension that needs another version than the host already imports (a second
resolution without the host's pins tells the two apart).
"""

from __future__ import annotations

import re

from lazyext._env import lockfile
from lazyext._errors import DistributionNotFound, InstallError, ResolutionError
from lazyext._settings.config import Plan, Settings
from lazyext._settings.names import DistName, canonical_name
from lazyext._uv.compile import compile_requirements
from lazyext._uv.failure import find_missing, missing_error, missing_name, unreachable_advice
from lazyext._uv.run import Ran

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


def explain(
    settings: Settings,
    requirements: str,
    output: str,
    plans: Sequence[Plan],
    host: Mapping[DistName, tuple[str, str]],
    ran: Ran,
) -> InstallError:
    """Say who conflicts: the extensions among themselves, or with the host."""
    said, code = ran.tail, ran.code

    names = tuple(plan.name for plan in plans if _mentions(said, plan.dist))
    not_found = _not_found(said, plans, code)
    if not_found is not None:
        return not_found
    if ran.transient:
        timed_out = (
            f"uv timed out after {settings.install_timeout:g} s (install-timeout): "
            if ran.timed_out
            else ""
        )
        return InstallError(
            f"cannot resolve the environment: {timed_out}{unreachable_advice(settings)}",
            stderr_tail=said,
            transient=True,
        )
    built = _sdist_only(said, settings)
    if "no solution" not in said.lower() and "unsatisfiable" not in said.lower():
        if built is not None:
            return _sdist_error(built, names, said, code)
        return ResolutionError(
            f"cannot resolve the environment of {', '.join(p.name for p in plans)}: "
            f"uv exited with status {code}",
            extensions=tuple(p.name for p in plans),
            stderr_tail=said,
            returncode=code,
        )
    # Without the host's constraints: does it resolve? Then the host is the conflict, even
    # when uv's last words are about an older release that has no wheel (it backtracked
    # there from the host's pin: a host typing_extensions 4.5.0 under pydantic).
    free = compile_requirements(requirements, output, settings, offline_first=False)
    free_said = free.tail
    if free.ok:
        with open(output, encoding="utf-8") as handle:
            wanted = {p.name: p.version for p in lockfile.parse(handle.read(), "resolution")}
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
    built = _sdist_only(free_said, settings) if free_said else built
    if built is not None:
        return _sdist_error(built, names, free_said or said, code)
    return ResolutionError(
        f"the extensions {', '.join(names or [p.name for p in plans])} cannot be installed "
        "together: no version of each satisfies them all (uv's explanation below); change "
        "or relax one of their requirements, or disable one of them (enabled = false)",
        extensions=names,
        stderr_tail=free_said or said,
        returncode=code,
    )


def _sdist_only(said: str, settings: Settings) -> str | None:
    """The distribution uv needed a wheel of (``--no-build``), if that is what it said."""
    built = re.search(r"(?i)wheels are required for `(?P<dist>[^`]+)` because building", said)
    return None if built is None or settings.allow_sdist else built["dist"]


def _sdist_error(dist: str, names: tuple[str, ...], said: str, code: int) -> ResolutionError:
    return ResolutionError(
        f"cannot resolve the environment: only a source distribution of {dist} is available "
        "and building one runs its build code at import time; set allow-sdist = true in the "
        "config to allow it",
        extensions=names,
        stderr_tail=said,
        returncode=code,
    )


def _not_found(said: str, plans: Sequence[Plan], code: int) -> InstallError | None:
    """An extension whose distribution or version does not exist: DistributionNotFound."""
    missing = find_missing(said)
    if missing is None:
        return None
    dist = missing_name(missing)
    named = [plan for plan in plans if canonical_name(dist) == plan.dist]
    # Several extensions of one distribution: the one whose specifier uv quotes.
    quoted = [p for p in named if p.specifier and _specifier_in(said, p.specifier)]
    for plan in quoted or named:
        module = plan.extension.modules[0] if plan.extension.modules else plan.name
        return missing_error(missing, code, said, plan.requirement, module, plan.key)
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
