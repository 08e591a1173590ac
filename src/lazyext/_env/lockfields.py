"""The fields of a ``pylock.toml``, each checked against its grammar.

A lock may come from elsewhere (a user's ``lock``, an archive's packed lock), and what
lazyext reads from it reaches uv: in a requirements file, where a line break or a
leading dash is an option (uv also breaks lines at a lone ``\\r``), and as a URL uv
fetches from. So every field is checked against its grammar, never merely for line
breaks: names by PEP 503, versions by PEP 440 (and its characters only: packaging
would strip whitespace, line breaks included), hashes as hex digests of known
algorithms, URLs by scheme and characters, markers by PEP 508 (one that does not parse
is an error, not a package silently left out). A refusal names the lock, the line and
the package.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Final

from lazyext._errors import LockFileError
from lazyext._settings.names import DistName, canonical_name
from lazyext._settings.secrets import strip_credentials

_NAME: Final = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
#: PEP 440's characters (public and local parts, epoch, the separators it normalises).
_VERSION_CHARS: Final = frozenset(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.!+_-"
)
#: Hex digest lengths of the algorithms a lock's ``hashes`` table may use.
_DIGESTS: Final = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX: Final = frozenset("0123456789abcdef")
#: URL schemes by source: a wheel's or sdist's file, a direct archive, a VCS repository.
FILE_SCHEMES: Final = ("https", "http", "file")
VCS_SCHEMES: Final = (
    *("git+https", "git+ssh", "git+http", "git+file"),
    *("https", "ssh", "http", "file"),
)
#: Printable ASCII but whitespace, quotes, backslash, ``;`` (a marker follows) and ``$``
#: (uv expands ``${VAR}`` in requirements files: a URL must not carry secrets away).
_URL_CHARS: Final = frozenset(chr(c) for c in range(0x21, 0x7F)) - frozenset("\"'\\$`<>{}|^;")
_MAX_URL: Final = 4096


class Lines:
    """Where each ``[[packages]]`` table of a lock's text starts, to name lines."""

    def __init__(self, text: str) -> None:
        # TOML's lines end at "\n" only (a lone "\r" is not a line break there).
        self.lines = text.split("\n")
        self.starts = [i for i, line in enumerate(self.lines) if line.strip() == "[[packages]]"]

    def top(self, key: str) -> str:
        """``", line N"`` of the top-level ``key`` (before the first table), or empty."""
        end = self.starts[0] if self.starts else len(self.lines)
        for number in range(end):
            head, equals, _ = self.lines[number].partition("=")
            if equals and head.strip() == key:
                return f", line {number + 1}"
        return ""

    def at(self, index: int, key: str = "") -> str:
        """``", line N"`` of package ``index``'s table (of its ``key`` line if found);
        empty when the lock spells its packages another way (inline tables)."""
        if index >= len(self.starts):
            return ""
        start = self.starts[index]
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.lines)
        for number in range(start + 1, end):
            head, equals, _ = self.lines[number].partition("=")
            if key and equals and head.strip() == key:
                return f", line {number + 1}"
        return f", line {start + 1}"


def tables(value: object, where: str, place: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise LockFileError(f"{where}{place}: expected an array of tables, found {value!r:.80}")
    return list(value)


def check_name(name: object, where: str, place: str) -> DistName:
    if not isinstance(name, str) or len(name) > 200 or not _NAME.fullmatch(name):
        raise LockFileError(f"{where}{place}: {name!r:.80} is not a valid package name (PEP 503)")
    return canonical_name(name)


def check_version(version: object, name: str, where: str, place: str) -> str:
    """A PEP 440 version, spelled with PEP 440's characters only."""
    from packaging.version import InvalidVersion, Version

    valid = (
        isinstance(version, str) and 0 < len(version) <= 100 and _VERSION_CHARS.issuperset(version)
    )
    if valid:
        try:
            Version(str(version))
        except InvalidVersion:
            valid = False
    if not valid:
        raise LockFileError(
            f"{where}{place}: package {name} has the version {version!r:.80}, which is not a "
            "PEP 440 version; refusing the lock (damaged or edited: write it again with "
            "`lazyext lock`)"
        )
    return str(version)


def check_marker(marker: object, name: str, where: str, place: str) -> bool:
    """Whether a PEP 508 marker (``""``: none) holds here; one that does not parse or
    evaluate refuses the lock."""
    if marker == "":
        return True
    if isinstance(marker, str) and marker in _evaluated:
        return _evaluated[marker]
    from packaging.markers import InvalidMarker, Marker

    problem = "" if isinstance(marker, str) and len(marker) <= 1000 else "not a marker"
    if not problem:
        try:
            holds = _evaluate(Marker(str(marker)))
        except InvalidMarker as error:
            problem = str(error).splitlines()[0]
        except Exception as error:  # an undefined variable, a bad comparison
            problem = f"{type(error).__name__}: {error}"
    if problem:
        raise LockFileError(
            f"{where}{place}: package {name} has a marker that does not parse "
            f"({marker!r:.200}: {problem}); refusing the lock rather than leaving {name} out: "
            "fix the marker or write the lock again with `lazyext lock`"
        )
    if len(_evaluated) > 1000:
        _evaluated.clear()
    _evaluated[str(marker)] = holds
    return holds


#: Markers evaluated in this process (the interpreter does not change): a lock repeats
#: the same few, and parsing one costs packaging ~0.3 ms.
_evaluated: dict[str, bool] = {}


def _evaluate(marker: Any) -> bool:
    """A marker in PEP 751's context (``extras``, ``dependency_groups``: packaging >=
    25), or else in core metadata's (``extra``): one valid in either is valid."""
    from packaging.markers import UndefinedEnvironmentName

    try:
        return bool(marker.evaluate(context="lock_file"))
    except (TypeError, UndefinedEnvironmentName):
        return bool(marker.evaluate())


def file_name(table: Mapping[str, Any], name: str, where: str, place: str) -> str:
    """The file name of a wheel or sdist table; its ``url`` and ``path`` checked."""
    url, path = table.get("url"), table.get("path")
    if url is not None:
        check_url(url, FILE_SCHEMES, name, where, place, direct=False)
    if path is not None:
        check_path(path, name, where, place)
    for value in (table.get("name"), url, path):
        if isinstance(value, str):
            return value.rstrip("/").rsplit("/", 1)[-1]
    return ""


def hashes(table: Mapping[str, Any], name: str, where: str, place: str) -> list[str]:
    """The ``sha256:<hex>`` of a file table; every digest of it checked."""
    found = table.get("hashes", {})
    if not isinstance(found, Mapping):
        raise LockFileError(f"{where}{place}: package {name} has malformed hashes")
    result = []
    for algorithm, digest in found.items():
        length = _DIGESTS.get(algorithm)
        if length is None or not isinstance(digest, str) or len(digest) != length:
            raise LockFileError(
                f"{where}{place}: package {name} has a malformed or unknown hash "
                f"{algorithm!r:.20} = {digest!r:.140} (expected the hex digest of one of "
                f"{', '.join(_DIGESTS)})"
            )
        if not _HEX.issuperset(digest):
            raise LockFileError(
                f"{where}{place}: package {name} has a malformed {algorithm} hash "
                f"{digest!r:.140} (not lowercase hex)"
            )
        if algorithm == "sha256":
            result.append(f"sha256:{digest}")
    return result


def check_url(
    url: object, schemes: tuple[str, ...], name: str, where: str, place: str, *, direct: bool
) -> str:
    """A URL of one of ``schemes``, of URL characters only; a ``direct`` one (installed
    from, as ``name @ url``) without parts that start with '-'."""
    scheme, separator, rest = url.partition("://") if isinstance(url, str) else ("", "", "")
    valid = (
        isinstance(url, str)
        and len(url) <= _MAX_URL
        and bool(separator and rest)
        and scheme in schemes
        and _URL_CHARS.issuperset(url)
        # A part that starts with '-' reaches git as an option (pip#14065 class): the
        # rule of a direct reference in the config (lazyext._settings.keys).
        and not (direct and any(mark in url for mark in ("@-", "#-", "/-")))
    )
    if not valid:
        raise LockFileError(
            f"{where}{place}: package {name} has the URL {redacted(str(url))!r:.200}, which is "
            f"not a URL lazyext passes on (schemes: {', '.join(schemes)}; no spaces, quotes, "
            "'$' or parts that start with '-'); refusing the lock"
        )
    return str(url)


def check_path(path: object, name: str, where: str, place: str) -> str:
    valid = isinstance(path, str) and 0 < len(path) <= _MAX_URL and path.isprintable()
    if not valid or str(path).startswith("-"):
        raise LockFileError(f"{where}{place}: package {name} has an invalid path {path!r:.200}")
    return str(path)


def source_url(source: Mapping[str, Any], kind: str, name: str, where: str, place: str) -> str:
    """The URL uv installs an ``archive``, ``vcs`` or ``directory`` source from."""
    url = source.get("url")
    if url is not None:
        schemes = VCS_SCHEMES if kind == "vcs" else FILE_SCHEMES
        text = check_url(url, schemes, name, where, place, direct=True)
        if kind != "vcs":
            return text
        if source.get("type", "git") != "git":
            raise LockFileError(
                f"{where}{place}: package {name} is a {source.get('type')!r:.20} repository; "
                "lazyext installs VCS sources from git only"
            )
        commit = source.get("commit-id")
        hexadecimal = isinstance(commit, str) and _HEX.issuperset(commit)
        if not hexadecimal or len(str(commit)) not in (40, 64):
            raise LockFileError(
                f"{where}{place}: package {name}'s git source has no valid commit-id "
                f"({commit!r:.80}: 40 or 64 hex digits); refusing the lock"
            )
        return f"{text if text.startswith('git+') else 'git+' + text}@{commit}"
    path = source.get("path")
    if path is not None:
        check_path(path, name, where, place)
        # Relative paths are relative to the lock file (PEP 751).
        base = os.path.dirname(where) if os.path.isabs(where) else os.getcwd()
        from urllib.parse import quote  # a lock naming a path only

        return "file://" + quote(os.path.abspath(os.path.join(base, str(path))))
    raise LockFileError(f"{where}{place}: package {name}'s {kind} source has neither url nor path")


def redacted(url: str) -> str:
    return strip_credentials(url) if "@" in url else url
