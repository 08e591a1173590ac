"""The lock file: PEP 751 ``pylock.toml``, read, annotated and checked.

uv writes the lock (``uv pip compile --format pylock.toml``); this module owns what
lazyext reads from it and the checks that a lock may be used: it names every
distribution of the environment once, with hashes, for this interpreter and
platform, and it satisfies every enabled extension of the config. lazyext adds each
package's ``dependencies`` (PEP 751's optional ``[[packages]] dependencies`` array),
so a lock written by ``lazyext lock`` carries its own graph and an extension's closure
is known without asking uv again.

A lock may come from elsewhere (a user's ``lock``, the lock packed in an archive), so
every field lazyext reads is checked against its grammar before any of it reaches uv
(:mod:`.lockfields`: PEP 503 names, PEP 440 versions, hex hashes, known URL schemes,
markers that parse), and a lock may name only the sources the config allows
(:func:`check_sources`). A refusal names the lock and the line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from lazyext._env import lockfields
from lazyext._env.lockfields import Lines, check_name, check_version, source_url, tables
from lazyext._errors import LockFileError
from lazyext._settings.config import Settings
from lazyext._settings.names import DistName, canonical_name
from lazyext._settings.secrets import strip_credentials

_MAX_LOCK_BYTES: Final = 32 * 1024 * 1024
#: The sources a package can name besides the index: installed as ``name @ url``.
DIRECT_SOURCES: Final = ("archive", "vcs", "directory")


class Package:
    """One ``[[packages]]`` table, reduced to what lazyext uses, every field checked."""

    __slots__ = (
        *("deps", "files", "hashes", "here", "kind", "marker", "name", "place", "url"),
        "version",
    )

    def __init__(self, table: Mapping[str, Any], where: str, lines: Lines, index: int) -> None:
        self.name = check_name(table.get("name"), where, lines.at(index, "name"))
        place = lines.at(index)
        version = table.get("version", "")
        # Only a direct source may leave the version out (PEP 751).
        direct = any(table.get(kind) is not None for kind in DIRECT_SOURCES)
        self.version = (
            check_version(version, self.name, where, lines.at(index, "version"))
            if version != "" or not direct
            else ""
        )
        marker = table.get("marker", "")
        self.here = lockfields.check_marker(marker, self.name, where, lines.at(index, "marker"))
        self.marker = str(marker)  # "" for none
        self.files: list[str] = []  # wheel (or sdist) file names
        hashes: list[str] = []
        at = lines.at(index, "wheels")
        for wheel in tables(table.get("wheels", []), where, at):
            self.files.append(lockfields.file_name(wheel, self.name, where, at))
            hashes += lockfields.hashes(wheel, self.name, where, at)
        sdist = table.get("sdist")
        if sdist is not None:
            at = lines.at(index, "sdist")
            (sdist,) = tables([sdist], where, at)
            self.files.append(lockfields.file_name(sdist, self.name, where, at))
            hashes += lockfields.hashes(sdist, self.name, where, at)
        self.kind = ""  # archive, vcs or directory: a direct reference (``name @ url``)
        self.url = ""
        self.place = place  # ", line N" of the table (of its direct source, if any)
        for kind in DIRECT_SOURCES:
            source = table.get(kind)
            if source is None:
                continue
            if self.kind:
                raise LockFileError(
                    f"{where}{place}: package {self.name} names two sources ({self.kind} "
                    f"and {kind}); a package has one"
                )
            (source,) = tables([source], where, place)
            self.kind, self.place = kind, lines.at(index, kind)
            self.url = source_url(source, kind, self.name, where, self.place)
            if kind == "archive":
                hashes += lockfields.hashes(source, self.name, where, self.place)
        self.hashes = tuple(sorted(set(hashes)))
        at = lines.at(index, "dependencies")
        self.deps = tuple(
            sorted(
                {
                    check_name(dep.get("name"), where, at)
                    for dep in tables(table.get("dependencies", []), where, at)
                }
            )
        )

    def applies(self) -> bool:
        return self.here

    def requirement(self) -> str:
        """What uv installs: the locked version from the index, or the direct reference."""
        return f"{self.name} @ {self.url}" if self.url else f"{self.name}=={self.version}"


def parse(text: str, where: str) -> list[Package]:
    """The packages of a ``pylock.toml`` that apply to this interpreter."""
    return [package for package in read_packages(text, where) if package.applies()]


def read_packages(text: str, where: str) -> list[Package]:
    """Every package of a ``pylock.toml``, checked (those for other platforms too);
    refuses a name listed twice for this interpreter."""
    import tomllib

    if len(text) > _MAX_LOCK_BYTES:
        raise LockFileError(f"{where} is larger than {_MAX_LOCK_BYTES} bytes")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise LockFileError(f"{where} is not valid TOML: {error}") from error
    version = data.get("lock-version")
    if not isinstance(version, str) or not version.startswith("1."):
        raise LockFileError(f"{where} is not a PEP 751 lock (lock-version {version!r})")
    _check_python(data.get("requires-python"), where)
    lines = Lines(text)
    _check_environments(data.get("environments"), where, lines)
    found = tables(data.get("packages", []), where, "")
    packages = [Package(table, where, lines, index) for index, table in enumerate(found)]
    seen: dict[str, Package] = {}
    for package in packages:
        if not package.applies():
            continue
        if package.name in seen:
            raise LockFileError(
                f"{where} lists {package.name} twice for this interpreter "
                f"({seen[package.name].version} and {package.version}); run `lazyext lock`"
            )
        seen[package.name] = package
    return packages


def check_lock(text: str, where: str, settings: Settings) -> list[Package]:
    """The packages of a lock from elsewhere (a user's ``lock``, an archive's) that apply
    to this interpreter, once every field and every source passed (:func:`check_sources`)."""
    packages = read_packages(text, where)
    check_sources(packages, where, settings)
    return [package for package in packages if package.applies()]


def check_sources(packages: Iterable[Package], where: str, settings: Settings) -> None:
    """A lock may name only the sources the config allows.

    A package locked with wheels (or an sdist) is installed by name, version and hash
    from the configured index and find-links: the URLs the lock gives for its files are
    never fetched. An ``archive``, ``directory`` or ``vcs`` source is installed from
    where the lock says, so it needs ``allow-direct-urls``, as ``pkg @ url`` in the
    config does.
    """
    if settings.allow_direct_urls:
        return
    for package in packages:
        if package.kind:
            raise LockFileError(
                f"{where}{package.place}: package {package.name} comes from the {package.kind} "
                f"{lockfields.redacted(package.url)}, not from {_configured(settings)}; a "
                "lock may name archive, directory or VCS sources only with allow-direct-urls "
                "= true (set it only if you trust whoever wrote the lock), else lock the "
                "config again with `lazyext lock`"
            )


def _configured(settings: Settings) -> str:
    sources = [] if settings.no_index else [settings.index_url or "the default index"]
    sources += [strip_credentials(url) for url in settings.extra_index_urls]
    sources += list(settings.find_links)
    if not sources:
        return "this config's index or find-links (it has none)"
    named = ", ".join(strip_credentials(source) for source in sources)
    return f"this config's index or find-links ({named})"


def _check_python(requires: object, where: str) -> None:
    if not isinstance(requires, str) or not requires:
        return
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        ok = SpecifierSet(requires).contains(
            ".".join(map(str, sys.version_info[:3])), prereleases=True
        )
    except InvalidSpecifier:
        ok = False
    if not ok:
        raise LockFileError(
            f"{where} was made for Python {requires}, not for this interpreter "
            f"({sys.version.split()[0]}); run `lazyext lock` with this interpreter"
        )


def read(path: str) -> str:
    """The text of a user's lock file (a regular file, bounded in size)."""
    import stat

    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise LockFileError(
            f"cannot read the lock file {path!r} ({error.strerror}); run `lazyext lock` to write it"
        ) from error
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_LOCK_BYTES:
            raise LockFileError(f"the lock file {path!r} is not a regular file of sane size")
        try:
            return handle.read().decode("utf-8")
        except UnicodeDecodeError as error:
            raise LockFileError(f"the lock file {path!r} is not UTF-8 text") from error


def check_platform(packages: Iterable[Package], where: str, allow_sdist: bool) -> None:
    """Every locked package must have a file this interpreter can install."""
    from packaging.tags import sys_tags
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    supported = set(sys_tags())
    for package in packages:
        if package.url:
            continue
        usable = False
        for name in package.files:
            if name.endswith(".whl"):
                try:
                    tags = parse_wheel_filename(name)[3]
                except InvalidWheelFilename:
                    continue
                usable = usable or not supported.isdisjoint(tags)
            elif allow_sdist:
                usable = True
        if not usable:
            raise LockFileError(
                f"{where} has no file of {package.name} {package.version} for this platform "
                "(it was locked for another interpreter or platform); run `lazyext lock` here"
            )


def check_covers(packages: Sequence[Package], requirements: Mapping[str, str], where: str) -> None:
    """Every enabled extension's requirement is satisfied by the locked version."""
    from packaging.requirements import Requirement

    by_name = {package.name: package for package in packages}
    problems = []
    for extension, text in requirements.items():
        requirement = Requirement(text)
        locked = by_name.get(canonical_name(requirement.name))
        if locked is None:
            problems.append(f"{extension} ({text}) is not in the lock")
        elif locked.version and not requirement.specifier.contains(
            locked.version, prereleases=True
        ):
            problems.append(f"{extension} ({text}) is locked at {locked.version}")
    if problems:
        raise LockFileError(
            f"{where} does not match the config: {'; '.join(problems)}; run `lazyext lock` "
            "to lock the config again",
            problems=tuple(problems),
        )


def check_hashes(
    packages: Sequence[Package], pinned: Mapping[DistName, Sequence[str]], where: str
) -> None:
    """An extension's ``hashes`` must name files of its locked distribution."""
    by_name = {package.name: package for package in packages}
    for dist, hashes in pinned.items():
        locked = by_name.get(canonical_name(dist))
        if hashes and (locked is None or not set(hashes) & set(locked.hashes)):
            raise LockFileError(
                f"{where}: the hashes configured for {dist} match no file the lock has for it "
                f"(locked: {', '.join(locked.hashes) if locked else 'nothing'}); check the "
                "hashes, or run `lazyext lock` if the lock is stale"
            )


def annotate(text: str, graph: Mapping[DistName, Iterable[DistName]]) -> str:
    """Add each package's ``dependencies`` to uv's lock text (PEP 751 allows it)."""
    lines = text.splitlines()
    output: list[str] = []
    name: DistName | None = None
    for line in lines:
        output.append(line)
        stripped = line.strip()
        if stripped == "[[packages]]":
            name = None
        elif name is None and stripped.startswith("name = "):
            name = canonical_name(stripped[len("name = ") :].strip().strip('"'))
        elif name is not None and stripped.startswith("version = ") and name in graph:
            deps = sorted(set(graph[name]))
            if deps:
                listed = ", ".join(f'{{ name = "{dep}" }}' for dep in deps)
                output.append(f"dependencies = [{listed}]")
    return "\n".join(output) + "\n"


def this_environment() -> str:
    """The PEP 508 marker of the environments a lock made here covers: this
    implementation and minor version of Python, this operating system and machine (the
    wheels it lists are for those)."""
    import platform

    return (
        f"implementation_name == '{sys.implementation.name}' and python_version == "
        f"'{sys.version_info[0]}.{sys.version_info[1]}' and sys_platform == '{sys.platform}' "
        f"and platform_machine == '{platform.machine()}'"
    )


def add_environments(text: str) -> str:
    """uv's lock of this interpreter, saying so: PEP 751's ``environments`` after its
    ``requires-python`` (an installer refuses the lock elsewhere)."""
    line = f'environments = ["{this_environment()}"]'
    head, found, rest = text.partition("\nrequires-python = ")
    if not found:
        head, found, rest = text.partition("\ncreated-by = ")
    if not found:
        return f"{line}\n{text}"
    first, _, after = rest.partition("\n")
    return f"{head}{found}{first}\n{line}\n{after}"


def _check_environments(environments: object, where: str, lines: Lines) -> None:
    """A lock that names the environments it covers is refused in any other."""
    if environments is None:
        return
    from packaging.markers import InvalidMarker, Marker

    place = lines.top("environments")
    if not isinstance(environments, list) or not all(isinstance(e, str) for e in environments):
        raise LockFileError(f"{where}{place}: environments is not a list of markers")
    covered = False
    for text in environments:
        try:
            covered = covered or Marker(text).evaluate()
        except InvalidMarker as error:
            raise LockFileError(
                f"{where}{place}: environment {text[:80]!r} is not a marker ({error})"
            ) from error
    if not covered:
        raise LockFileError(
            f"{where} covers {' or '.join(repr(e) for e in environments)[:400]}, not this "
            f"interpreter ({this_environment()}); use a lock made for it, or make one "
            "here with `lazyext lock -o PATH`"
        )


def has_graph(text: str) -> bool:
    return "\ndependencies = [" in text
