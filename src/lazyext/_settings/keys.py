"""Requirement validation, canonical form and the recipes of the keys (:mod:`.names`).

A requirement key is the sha256 of the *canonical* requirement plus every setting
that changes what uv produces, so ``PyYAML>=6,<7`` and ``pyyaml <7, >=6`` share one
key while the same requirement resolved against another index does not. This module
runs when a config is compiled (:mod:`.parse`), never on the warm path: packaging is
imported where it is first needed.
"""

from __future__ import annotations

import hashlib
import keyword
import os
import sys

from lazyext._errors import ConfigError
from lazyext._settings.config import SCHEMA, Settings
from lazyext._settings.names import DistKey, DistName, EnvKey, ReqKey, canonical_name
from lazyext._settings.secrets import strip_credentials

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Final

#: Distributions lazyext itself runs on: configuring their import names would let an
#: extension replace lazyext's own machinery mid-flight.
RESERVED_MODULES: Final = frozenset(
    {"lazyext", "uv", "packaging", "platformdirs", "filelock", "apscheduler", "tzlocal"}
)

_HASH_ALGORITHMS: Final = ("sha256", "sha384", "sha512")


#: The longest user text accepted, by what it becomes: a file or directory name
#: (NAME_MAX is 255 bytes), a path (PATH_MAX 4096), or an argument to uv and a SQL
#: value (a requirement with a marker and extras stays far below 1000 characters).
MAX_NAME: Final = 200
MAX_PATH: Final = 4096
MAX_TEXT: Final = 1000


def _nfkc(text: str) -> str:
    import unicodedata  # non-ASCII names only: ASCII is its own NFKC form

    return unicodedata.normalize("NFKC", text)


def _extension_name(name: str) -> bool:
    """Letters, digits, ``.``, ``_`` and ``-`` (ASCII), at most 200, not starting with
    ``.`` or ``-``: it names files and directories."""
    return (
        0 < len(name) <= MAX_NAME
        and name.isascii()
        and (name[0].isalnum() or name[0] == "_")
        and all(char.isalnum() or char in "._-" for char in name)
    )


def _windows_drive(text: str) -> bool:
    return len(text) > 2 and text[0].isascii() and text[0].isalpha() and text[1:3] in (":/", ":\\")


def _hash(value: str) -> bool:
    """``algorithm:hex digest``, lower-case hex of 64 to 128 digits."""
    algorithm, colon, digest = value.partition(":")
    return (
        algorithm in _HASH_ALGORITHMS
        and bool(colon)
        and 64 <= len(digest) <= 128
        and all(char in "0123456789abcdef" for char in digest)
    )


def check_text(text: str, what: str, limit: int = MAX_TEXT) -> None:
    """Refuse over-long text and control or line-separator characters in user input.

    A newline would turn one requirement into two lines of a requirements file (where
    ``--index-url`` is live); ``\\x0b``, ``\\x0c`` and ``\\u2028`` split lines
    differently across Python versions; a NUL ends a path early in C.
    """
    if len(text) > limit:
        raise ConfigError(
            f"{what} {text[:40]!r}... is {len(text)} characters long; at most {limit}"
        )
    if text.isascii() and text.isprintable():
        return  # the usual case, without unicodedata
    import unicodedata

    for char in text:
        if unicodedata.category(char) in {"Cc", "Zl", "Zp"}:
            raise ConfigError(f"{what} {text!r} contains the control character {char!r}")


def check_extension_name(name: object) -> str:
    if isinstance(name, str):
        check_text(name, "extension name", MAX_NAME)
    if not isinstance(name, str) or not _extension_name(name) or ".." in name:
        raise ConfigError(
            f"extension name {name!r} must be at most 200 letters, digits, '.', '_' or '-', "
            "not starting with '.' or '-' (it names files and directories)"
        )
    return name


def check_module_name(module: object) -> str:
    """A configured import name: dotted identifiers (``zope.interface``), whose top-level
    part is neither the standard library's nor lazyext's own."""
    if isinstance(module, str):
        check_text(module, "module", MAX_NAME)
    parts = module.split(".") if isinstance(module, str) and len(module) <= 200 else [""]
    if not all(part.isidentifier() and not keyword.iskeyword(part) for part in parts):
        raise ConfigError(
            f"module {module!r} is not an import name (Python identifiers joined by dots, "
            "like 'yaml' or 'zope.interface'; no paths, at most 200 characters)"
        )
    assert isinstance(module, str)
    if not module.isascii() and _nfkc(module) != module:
        # The parser normalizes identifiers (NFKC): `import ﬁle` asks for "file", so a
        # name that is not normalized could never be imported.
        raise ConfigError(
            f"module {module!r} is not in normalized form; Python imports it as {_nfkc(module)!r}"
        )
    top = parts[0]
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        raise ConfigError(f"module {module!r} belongs to the standard library; pick another name")
    if top in RESERVED_MODULES:
        raise ConfigError(
            f"module {module!r} is one of lazyext's own dependencies, which are installed with "
            "lazyext itself; remove it from the config"
        )
    return module


def check_requirement_text(text: object) -> str:
    """Refuse what is not a requirement before packaging sees it."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"requirement {text!r} must be a non-empty string")
    check_text(text, "requirement")
    stripped = text.strip()
    if stripped.startswith("-"):
        raise ConfigError(
            f"requirement {text!r} looks like a command-line option; "
            "put index settings in the config (index-url, find-links), not in a requirement"
        )
    if stripped.startswith((".", "/", "\\", "~")) or _windows_drive(stripped):
        raise ConfigError(
            f"requirement {text!r} is a path; give a package name and point find-links "
            "at the directory that holds its wheel"
        )
    return stripped


def canonical_requirement(
    text: str, *, allow_direct_urls: bool = False
) -> tuple[str, DistName, str]:
    """Return ``(canonical text, normalized name, canonical specifier)`` or raise.

    A plain requirement (a name, extras, release-number clauses) is read here; anything
    else (markers, URLs, pre-releases, ``===``) by packaging, which costs a new config's
    first process ~20-35 ms to import (benchmark B4, "new config"). Both give the same
    canonical text (tests/settings/test_keys.py compares them).
    """
    stripped = check_requirement_text(text)
    plain = _plain_requirement(stripped)
    if plain is not None:
        return plain
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(stripped)
    except InvalidRequirement as error:
        raise ConfigError(
            f"requirement {text!r} is not one PEP 508 requirement: {error}"
        ) from error
    if req.url is not None:
        _check_url(text, req.url, allow_direct_urls)
    name = canonical_name(req.name)
    extras = ",".join(sorted(canonical_name(e) for e in req.extras))
    specifier = ",".join(sorted(str(s) for s in req.specifier))
    canonical = name + (f"[{extras}]" if extras else "")
    if req.url is not None:
        canonical += f" @ {req.url}"
    else:
        canonical += specifier
    if req.marker is not None:
        canonical += f"; {req.marker}"
    return canonical, name, specifier


#: PEP 440's comparison operators, longest first (``<=`` before ``<``).
_OPERATORS: Final = ("===", "~=", "==", "!=", "<=", ">=", "<", ">")


def _plain_requirement(text: str) -> tuple[str, DistName, str] | None:
    """``canonical_requirement`` of ``name[extras] op version, ...`` with plain release
    numbers, as packaging would give it; ``None`` for anything else."""
    end = 0
    while end < len(text) and _name_char(text[end]):
        end += 1
    name, rest = text[:end], text[end:].strip()
    if not _plain_name(name):
        return None
    extras = ""
    if rest.startswith("["):
        close = rest.find("]")
        items = [item.strip() for item in rest[1:close].split(",")] if close > 0 else []
        if not items or not all(_plain_name(item) for item in items):
            return None
        extras = "[" + ",".join(sorted(canonical_name(item) for item in items)) + "]"
        rest = rest[close + 1 :].strip()
    clauses = []
    for written in rest.split(",") if rest else ():
        clause = written.strip()
        operator = next((op for op in _OPERATORS if clause.startswith(op)), "")
        version = clause[len(operator) :].strip()
        if not _plain_version(operator, version):
            return None
        clauses.append(operator + version)
    specifier = ",".join(sorted(clauses))
    normal = canonical_name(name)
    return normal + extras + specifier, normal, specifier


def _name_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char in "._-")


def _plain_name(name: str) -> bool:
    """PEP 508's name: ASCII letters and digits, ``.``, ``_`` and ``-`` inside."""
    return bool(name) and name[0].isalnum() and name[-1].isalnum() and all(map(_name_char, name))


def _plain_version(operator: str, version: str) -> bool:
    """A release number (``1``, ``2.0.1``), or a prefix (``1.0.*``) after ``==``/``!=``;
    ``~=`` needs two parts. Anything else (pre-releases, locals, epochs) is packaging's."""
    if operator in ("", "==="):
        return False
    if version.endswith(".*") and operator in ("==", "!="):
        version = version[:-2]
    parts = version.split(".")
    if operator == "~=" and len(parts) < 2:
        return False
    return all(part.isascii() and part.isdigit() for part in parts)


def _check_url(text: str, url: str, allowed: bool) -> None:
    if not allowed:
        raise ConfigError(
            f"requirement {text!r} is a direct URL reference; set allow-direct-urls = true "
            "to install from URLs, or publish the package to an index or find-links directory"
        )
    # A VCS revision that starts with '-' reaches git as an option (pip#14065 class).
    if any(part in url for part in ("@-", "#-", "/-")) or url.startswith("-"):
        raise ConfigError(f"requirement {text!r} has a URL part that starts with '-'")


def marker_ok(text: str) -> bool:
    """Does the marker of canonical requirement ``text`` (if any) hold here?"""
    if ";" not in text:
        return True  # no marker: packaging stays unimported
    from packaging.requirements import Requirement

    req = Requirement(text)
    return req.marker is None or req.marker.evaluate()


def check_hashes(hashes: Iterable[object], requirement: str) -> tuple[str, ...]:
    """Hashes must be ``algo:hex`` and the requirement pinned with ``==``."""
    result = []
    for value in hashes:
        if not isinstance(value, str) or not _hash(value):
            raise ConfigError(f"hash {value!r} must look like 'sha256:<hex digest>'")
        result.append(value)
    if result and "==" not in requirement:
        raise ConfigError(
            f"requirement {requirement!r} has hashes but no '==' pin; hash-checking mode "
            "needs one exact version"
        )
    return tuple(result)


def install_fingerprint(settings: Settings) -> tuple[object, ...]:
    """The settings that change what an install produces (they enter every key); URLs
    without their credentials (who may read an index does not change what it serves)."""
    return (
        strip_credentials(settings.index_url) if settings.index_url else None,
        tuple(strip_credentials(url) for url in settings.extra_index_urls),
        tuple(strip_credentials(link) for link in settings.find_links),
        settings.no_index,
        settings.allow_sdist,
        settings.lock,
    )


def _digest(material: object) -> str:
    return hashlib.sha256(repr(material).encode()).hexdigest()[:32]


def requirement_key(canonical: str, settings: Settings, hashes: tuple[str, ...]) -> ReqKey:
    """The key of a configured requirement: its canonical text, the install settings
    and its pinned hashes."""
    return ReqKey(
        _digest((SCHEMA, canonical, install_fingerprint(settings), tuple(sorted(hashes))))
    )


def dist_key(name: str, version: str, hashes: tuple[str, ...], url: str = "") -> DistKey:
    """The key of one locked distribution: what was installed, not where from.

    Name, version and the hashes of its files identify it on every machine and behind
    every mirror; a distribution without hashes (a direct URL) is keyed by its URL too.
    """
    return DistKey(
        _digest((SCHEMA, "dist", name, version, tuple(sorted(hashes)), "" if hashes else url))
    )


def environment_key(plans: Iterable[tuple[str, str]], settings: Settings, platform: str) -> EnvKey:
    """The key of an environment: its ``(requirement key, requirement)`` pairs (or
    other tagged pairs, such as what it joins), install settings and interpreter."""
    material = (
        SCHEMA,
        "env",
        sorted(plans),
        install_fingerprint(settings),
        platform,
        sys.version,
    )
    return EnvKey(_digest(material))


def platform_tag() -> str:
    """The first wheel tag of this interpreter, e.g. ``cp311-cp311-linux_x86_64``: the
    cache's per-platform directory.

    A cache shared by several Pythons keeps their binaries apart: a cp311 install must
    never be imported by 3.13 or a free-threaded build. CPython on Linux is computed
    here, as packaging 26 computes it, without importing packaging.tags (logging,
    subprocess, sysconfig: ~12 ms of a new config's first process), so the directory
    does not move with packaging's version; elsewhere packaging answers.
    tests/settings/test_keys.py checks that both agree.
    """
    fast = _linux_cpython_tag()
    if fast is not None:
        return fast
    from packaging.tags import sys_tags

    tag = next(iter(sys_tags()))
    return f"{tag.interpreter}-{tag.abi}-{tag.platform}"


def _linux_cpython_tag() -> str | None:
    if sys.implementation.name != "cpython" or not sys.platform.startswith("linux"):
        return None
    if "_PYTHON_HOST_PLATFORM" in os.environ:  # a cross build: sysconfig's answer
        return None
    machine = os.uname().machine.replace(" ", "_").replace("/", "-")
    arch = machine.replace(".", "_").replace("-", "_")
    if sys.maxsize <= 2**32:  # a 32-bit interpreter on a 64-bit kernel
        arch = {"x86_64": "i686", "aarch64": "armv8l"}.get(arch, arch)
    version = f"{sys.version_info[0]}{sys.version_info[1]}"
    return f"cp{version}-cp{version}{sys.abiflags}-linux_{arch}"
