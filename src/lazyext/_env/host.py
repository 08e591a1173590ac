"""Does the host environment already satisfy a requirement?

A configured import resolves to the environment's own install when that install
satisfies the requirement, and to the cache's otherwise; a module of that name that
belongs to no distribution at all is the application's own, and is never shadowed; a
namespace package is nobody's alone (its portions merge). The check reads
``*.dist-info`` directory names on ``sys.path`` (no ``importlib.metadata``, which costs
~40 ms to import); packaging is imported only for versions that are not plain release
numbers.
"""

from __future__ import annotations

import os
import sys

# importlib.machinery's class, without importing importlib (see lazyext._importer.finder).
from _frozen_importlib_external import PathFinder

from lazyext._settings.names import DistName, canonical_name, own_paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from importlib.machinery import ModuleSpec

    from lazyext._settings.config import Settings


def host_distributions(cache_dir: str) -> dict[DistName, tuple[str, str]]:
    """``{name: (version, directory)}`` of what this interpreter imports.

    The first ``*.dist-info`` of each name along ``sys.path`` wins, as it does for
    ``importlib.metadata``; lazyext's own path entries and the cache are not the host.
    """
    views = {os.path.realpath(path) for path in own_paths}
    cache = os.path.realpath(cache_dir) + os.sep

    def skip(directory: str) -> bool:
        real = os.path.realpath(directory)
        return real in views or (real + os.sep).startswith(cache)

    found: dict[DistName, tuple[str, str]] = {}
    for dist, version, directory in dist_infos(skip):
        found.setdefault(canonical_name(dist), (version, os.path.realpath(directory)))
    return found


#: In an environment's ``source``: the lock was checked against this host.
HOST_CHECKED = "checked against the host:"


def lock_current(source: str, identity: str) -> bool:
    """Is an environment read from a lock still what that lock gives here?

    ``source``: the environment's (:func:`lazyext._env.hostcheck.lock_source`): the
    lock file's identity then, and the site directories the lock was checked against
    with their modification times. ``identity``: the lock file's now. One ``stat`` per
    site directory: installing or removing a distribution changes its directory, and
    the lock is then checked again (a contradiction is refused, never imported). An
    environment stored without that check (``lazyext lock``) is checked at first use.
    """
    head, _, rest = source.partition("\n")
    checked, _, rest = rest.partition("\n")
    if head != identity or checked != HOST_CHECKED:
        return False
    for record in rest.split("\n") if rest else ():
        directory, _, mtime = record.rpartition("\t")
        try:
            if str(os.stat(directory).st_mtime_ns) != mtime:
                return False
        except OSError:
            return False
    return True


def dist_infos(skip: Callable[[str], bool]) -> Iterator[tuple[str, str, str]]:
    """``(distribution, version, directory)`` of every ``*.dist-info`` along ``sys.path``,
    in import order, for the directories ``skip`` does not refuse."""
    for entry in sys.path:
        directory = entry or os.getcwd()
        if skip(directory):
            continue
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                found, _, version = name[: -len(".dist-info")].rpartition("-")
                if found and version:
                    yield found, version, directory


def installed_version(dist: str) -> str | None:
    """The version of ``dist`` found first on ``sys.path``, ignoring lazyext's view."""
    wanted = canonical_name(dist)
    for found, version, _directory in dist_infos(own_paths.__contains__):
        if canonical_name(found) == wanted:
            return version
    return None


def host_spec(module: str, own: tuple[str, ...] = ()) -> ModuleSpec | None:
    """What the host's path finders find for ``module``, asked as an import of it asks.

    A top-level name is looked up on ``sys.path``. A dotted one is looked up in its
    parent package's ``__path__`` (the imported parent's; else the locations of the
    parent's own host spec, so nothing runs), never on ``sys.path``: there the file
    finders look up the last part alone, and ``jaraco.functools`` would be the standard
    library's ``functools.py``. Portions under the ``own`` prefixes (lazyext's cache,
    its layers, its views) are not the host's.
    """
    parent, _, _ = module.rpartition(".")
    if not parent:
        return PathFinder.find_spec(module)
    imported = sys.modules.get(parent)
    if imported is not None:
        search = getattr(imported, "__path__", None)
    else:
        above = host_spec(parent, own)
        search = above.submodule_search_locations if above is not None else None
    if search is None:
        return None  # the parent is a plain module, or the host has none
    mine = (*own, *(path + os.sep for path in own_paths))
    paths = [str(p) for p in search if not (str(p) + os.sep).startswith(mine)] if mine else search
    return PathFinder.find_spec(module, paths) if paths else None


def own_prefixes(settings: Settings) -> tuple[str, ...]:
    """The path prefixes of lazyext's own installs: its cache and layers (:func:`host_spec`)."""
    roots = {settings.cache_dir, *settings.cache_read}
    roots |= {os.path.realpath(root) for root in roots}
    return tuple(root.rstrip(os.sep) + os.sep for root in sorted(roots) if root)


def serves(
    dist: str,
    specifier: str,
    module: str,
    spec: ModuleSpec | None = None,
    own: tuple[str, ...] = (),
) -> bool:
    """True if ``import module`` should come from the host, not from the cache.

    ``spec``: what :func:`host_spec` found, if the caller asked already; ``own``: the
    prefixes of lazyext's own installs (:func:`own_prefixes`).
    """
    if spec is None:
        # A module the host cannot import is never the host's to serve. Asked first: it
        # is one cached lookup per path entry, where installed_version lists every
        # directory on sys.path (~0.5 ms of each first import from the cache; B3).
        spec = host_spec(module, own)
    if spec is None:
        return False
    mine = (*own, *(path + os.sep for path in own_paths))
    if spec.origin is not None and mine and spec.origin.startswith(mine):
        return False  # lazyext's own (a view inherited from a parent process), not the host's
    version = installed_version(dist)
    if version is not None:
        return version_satisfies(version, specifier)
    # Of no distribution of that name: the application's own, unless it is a namespace
    # package (the host's portions of it merge with the install's).
    return spec.origin is not None or spec.submodule_search_locations is None


def satisfies(dist: str, specifier: str) -> bool:
    version = installed_version(dist)
    return version is not None and version_satisfies(version, specifier)


def version_satisfies(version: str, specifier: str) -> bool:
    if not specifier:
        return True
    plain = _plain_satisfies(version, specifier)
    if plain is not None:
        return plain
    # packaging brings re, typing and logging (~40 ms): only for versions that are not
    # plain release numbers.
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        return SpecifierSet(specifier).contains(Version(version), prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return False


_OPERATORS = ("~=", "==", "!=", "<=", ">=", "<", ">")


def _release(text: str) -> tuple[int, ...] | None:
    parts = text.split(".")
    if not all(part.isdecimal() and part.isascii() for part in parts):
        return None
    return tuple(int(part) for part in parts)


def _plain_satisfies(version: str, specifier: str) -> bool | None:
    """PEP 440 for plain release numbers (``6.0.1`` against ``<7,>=6``) without packaging.

    This runs on the first import of a configured name that the host also has, in every
    process; packaging brings re, typing and logging (~40 ms). ``None`` for anything
    else (pre, post, dev or local versions, epochs, wildcards, ``===``): packaging
    decides those. For a plain candidate PEP 440's pre/post-release exclusions of
    ``<`` and ``>`` never apply, so a zero-padded tuple comparison is exact.
    """
    have = _release(version)
    if have is None:
        return None
    for clause in specifier.split(","):
        operator = next((op for op in _OPERATORS if clause.startswith(op)), None)
        want = None if operator is None else _release(clause[len(operator) :])
        if operator is None or want is None or (operator == "~=" and len(want) < 2):
            return None
        width = max(len(have), len(want))
        a, b = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
        if operator == "~=":
            prefix = want[:-1]
            ok = a >= b and (have + (0,) * len(prefix))[: len(prefix)] == prefix
        else:
            ok = {"==": a == b, "!=": a != b, "<=": a <= b, ">=": a >= b, "<": a < b}.get(
                operator, a > b
            )
        if not ok:
            return False
    return True
