"""The lock file: PEP 751 ``pylock.toml``, read, annotated and checked.

uv writes the lock (``uv pip compile --format pylock.toml``); this module owns what
lazyext reads from it and the checks that a lock may be used: it names every
distribution of the environment once, with hashes, for this interpreter and
platform, and it satisfies every enabled extension of the config. lazyext adds each
package's ``dependencies`` (PEP 751's optional ``[[packages]] dependencies`` array),
so a lock written by ``lazyext lock`` carries its own graph and an extension's closure
is known without asking uv again.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from lazyext._errors import LockFileError
from lazyext._settings.names import DistName, canonical_name

_MAX_LOCK_BYTES: Final = 32 * 1024 * 1024
_NAME: Final = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
_SHA256: Final = re.compile(r"^[0-9a-f]{64}$")


class Package:
    """One ``[[packages]]`` table, reduced to what lazyext uses."""

    __slots__ = ("deps", "files", "hashes", "marker", "name", "url", "version")

    def __init__(self, table: Mapping[str, Any], where: str) -> None:
        name = table.get("name")
        if not isinstance(name, str) or not _NAME.match(name) or len(name) > 200:
            raise LockFileError(f"{where}: a package has no valid name ({name!r})")
        self.name = canonical_name(name)
        version = table.get("version", "")
        if not isinstance(version, str) or len(version) > 100 or "\n" in version:
            raise LockFileError(f"{where}: package {name} has an invalid version {version!r}")
        self.version = version
        marker = table.get("marker", "")
        self.marker = marker if isinstance(marker, str) else ""
        self.files: list[str] = []  # wheel (or sdist) file names
        hashes: list[str] = []
        for wheel in _tables(table.get("wheels", []), where):
            self.files.append(_file_name(wheel))
            hashes += _hashes(wheel, name, where)
        sdist = table.get("sdist")
        if isinstance(sdist, Mapping):
            self.files.append(_file_name(sdist))
            hashes += _hashes(sdist, name, where)
        self.url = ""  # a direct reference (``name @ url``): archive, VCS or directory
        for kind in ("archive", "vcs", "directory"):
            source = table.get(kind)
            if isinstance(source, Mapping):
                self.url = _source_url(source, kind, where)
                if kind == "archive":
                    hashes += _hashes(source, name, where)
        self.hashes = tuple(sorted(set(hashes)))
        self.deps = tuple(
            sorted(
                {
                    canonical_name(str(dep["name"]))
                    for dep in _tables(table.get("dependencies", []), where)
                    if isinstance(dep.get("name"), str)
                }
            )
        )

    def applies(self) -> bool:
        if not self.marker:
            return True
        from packaging.markers import InvalidMarker, Marker

        try:
            return Marker(self.marker).evaluate()
        except InvalidMarker:
            return False

    def requirement(self) -> str:
        """What uv installs: the locked version from the index, or the direct reference."""
        return f"{self.name} @ {self.url}" if self.url else f"{self.name}=={self.version}"


def _source_url(source: Mapping[str, Any], kind: str, where: str) -> str:
    url = source.get("url")
    if isinstance(url, str) and url:
        text = f"git+{url}" if kind == "vcs" and not url.startswith("git+") else url
        commit = source.get("commit-id")
        return f"{text}@{commit}" if kind == "vcs" and isinstance(commit, str) else text
    path = source.get("path")
    if isinstance(path, str) and path:
        # Relative paths are relative to the lock file (PEP 751).
        base = os.path.dirname(where) if os.path.isabs(where) else os.getcwd()
        return "file://" + os.path.abspath(os.path.join(base, path))
    raise LockFileError(f"{where}: a {kind} source has neither url nor path")


def _tables(value: object, where: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise LockFileError(f"{where}: expected an array of tables, found {value!r:.80}")
    return list(value)


def _file_name(table: Mapping[str, Any]) -> str:
    name = table.get("name")
    if isinstance(name, str):
        return name
    for field in ("url", "path"):
        value = table.get(field)
        if isinstance(value, str):
            return value.rstrip("/").rsplit("/", 1)[-1]
    return ""


def _hashes(table: Mapping[str, Any], name: str, where: str) -> list[str]:
    found = table.get("hashes", {})
    if not isinstance(found, Mapping):
        raise LockFileError(f"{where}: package {name} has malformed hashes")
    result = []
    for algorithm, digest in found.items():
        if algorithm == "sha256":
            if not isinstance(digest, str) or not _SHA256.match(digest):
                raise LockFileError(f"{where}: package {name} has a malformed sha256 hash")
            result.append(f"sha256:{digest}")
    return result


def parse(text: str, where: str) -> list[Package]:
    """The packages of a ``pylock.toml`` that apply to this interpreter."""
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
    packages = [Package(t, where) for t in _tables(data.get("packages", []), where)]
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
    return list(seen.values())


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


def has_graph(text: str) -> bool:
    return "\ndependencies = [" in text
