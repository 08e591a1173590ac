"""``uv pip install`` of a locked closure into a staging prefix, and ``uv cache clean``.

Every distribution is named at its locked version with the hashes of its files, in a
requirements file that only lazyext writes (each line in a closed grammar: nothing that
uv would read as a second line or an option), with ``--no-deps --require-hashes``. The prefix
is laid out by the store afterwards (:mod:`lazyext._store.schemes`).
"""

from __future__ import annotations

from lazyext._errors import InstallError, LockFileError
from lazyext._record import replace
from lazyext._settings.config import Settings
from lazyext._uv import command, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Final


def install(
    pins: Sequence[tuple[str, Sequence[str]]],
    prefix: str,
    settings: Settings,
    *,
    requirements: str,
    label: str,
    name: str | None = None,
    key: str = "",
) -> None:
    """Install exactly ``pins`` (``(requirement, hashes)`` pairs) into ``prefix``.

    ``requirements`` is where the requirements file is written (outside ``prefix``);
    ``label`` names the install in errors and warnings; ``name`` is the import that
    needed it; ``key`` the cache key reported with a failure.
    """
    write_requirements(requirements, pins)

    def argv_for(offline: bool) -> list[str]:
        return command.install_argv(prefix, requirements, settings, offline=offline)

    def reset() -> None:  # a failed attempt may have left part of the install behind
        import shutil  # a failure's path only: shutil brings re (~4 ms)

        shutil.rmtree(prefix, ignore_errors=True)

    ran = run.run(argv_for, settings, what=f"installing {label}", reset=reset)
    if not ran.ok:
        raise failure(ran, label, name, key, settings)


def install_requirement(
    requirement: str, prefix: str, constraints: str, settings: Settings, *, online: bool
) -> run.Ran:
    """Install ``requirement`` and its dependencies into ``prefix`` within the pins of
    ``constraints``, unlocked: a speculation (lazyext._env.speculate), kept only if the
    lock agrees. One attempt: with the network (``online``), or from uv's cache alone.
    How uv ended: :func:`failure` says what a failure means."""

    def argv_for(offline: bool) -> list[str]:
        return command.requirement_argv(prefix, requirement, constraints, settings, offline=offline)

    def reset() -> None:
        import shutil  # a failure's path only: shutil brings re (~4 ms)

        shutil.rmtree(prefix, ignore_errors=True)

    return run.run(
        argv_for,
        replace(settings, retries=0),
        what=f"installing {requirement}",
        offline_first=False,
        online=online,
        reset=reset,
    )


def failure(
    ran: run.Ran, requirement: str, name: str | None, key: str, settings: Settings
) -> InstallError:
    """The error of a failed install of ``requirement`` (its tail says why)."""
    from lazyext._uv import failure  # a failure's path only: re (~4 ms)

    return failure.install_error(ran, requirement, name, key, settings)


def write_requirements(path: str, pins: Sequence[tuple[str, Sequence[str]]]) -> None:
    """One line per pin, in a closed grammar that uv cannot read as two lines or as an
    option: ``name==version`` (PEP 503 and PEP 440 characters) or ``name @ url`` (a known
    scheme, URL characters without whitespace, quotes or ``$``), then ``--hash=algo:hex``
    flags; printable ASCII only, lines ended by ``\n``. Anything else is refused: the
    lock's fields were validated when it was read (:mod:`lazyext._env.lockfields`), this
    is the last guard before uv."""
    lines = []
    for requirement, hashes in pins:
        for value, valid in ((requirement, _pin_ok(requirement)), *_hash_checks(hashes)):
            if not valid:
                raise LockFileError(
                    f"refusing to pass {value!r} to uv: not a pinned requirement (name==version "
                    "or name @ url) or a hash (algo:hex); a damaged or hand-edited lock?"
                )
        flags = " ".join(f"--hash={value}" for value in hashes)
        lines.append(f"{requirement} {flags}".rstrip())
    with open(path, "wb") as handle:
        handle.write(("\n".join(lines) + "\n").encode("ascii"))


# The grammar of a requirements line, checked without ``re`` (this runs on the cold path
# of a first import, which imports no ``re``: tests/env/test_cold_path.py).
_ALNUM: Final = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_NAME_CHARS: Final = frozenset(_ALNUM + "._-")
_VERSION_CHARS: Final = _NAME_CHARS | frozenset("!+")
_URL_CHARS: Final = frozenset(chr(c) for c in range(0x21, 0x7F)) - frozenset("\"'\\$`<>{}|^;")
_URL_SCHEMES: Final = (
    *("https://", "http://", "file://"),
    *("git+https://", "git+ssh://", "git+http://", "git+file://"),
)
_DIGESTS: Final = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX: Final = frozenset("0123456789abcdef")


def _pin_ok(text: str) -> bool:
    name, at, url = text.partition(" @ ")
    if at:
        return _name_ok(name) and url.startswith(_URL_SCHEMES) and _URL_CHARS.issuperset(url)
    name, equals, version = text.partition("==")
    return bool(equals and version) and _name_ok(name) and _VERSION_CHARS.issuperset(version)


def _name_ok(name: str) -> bool:
    return bool(name) and _NAME_CHARS.issuperset(name) and name[0].isalnum() and name[-1].isalnum()


def _hash_checks(hashes: Sequence[str]) -> list[tuple[str, bool]]:
    checks = []
    for value in hashes:
        algorithm, _, digest = value.partition(":")
        checks.append((value, _DIGESTS.get(algorithm) == len(digest) and _HEX.issuperset(digest)))
    return checks


def clean_cache(dists: Sequence[str], settings: Settings) -> None:
    """Remove ``dists`` from uv's cache (``uv cache clean``), so that the next install
    unpacks their wheels afresh instead of linking files a damage reached through a
    hard link (README: Link mode). Raises InstallError if uv fails."""
    argv = command.clean_argv(dists)
    ran = run.run(
        lambda offline: argv, settings, what="uv cache clean", offline_first=False, online=False
    )
    if ran.timed_out:
        raise InstallError(f"uv cache clean {' '.join(dists)} failed: timed out")
    if not ran.ok:
        raise InstallError(
            f"uv cache clean {' '.join(dists)} exited with status {ran.code}",
            returncode=ran.code,
            stderr_tail=ran.tail,
        )
