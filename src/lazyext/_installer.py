"""Run the real ``uv`` to install one requirement into a staging directory.

The argv is a list (never a shell): ``uv pip install --no-config --python
<sys.executable> --prefix <abs path> [settings] -- <requirement>``; the prefix is then
split into the target (site-packages) and ``data/`` (the wheels' other schemes, see
:mod:`lazyext._schemes`). ``--no-config``
keeps a ``uv.toml`` or ``pyproject.toml`` in the working directory from redirecting
the index; ``--`` keeps the requirement from being read as an option. uv's
environment is built on purpose (see :func:`uv_environment`), uv runs in its own
process group under lazyext's wall-clock limit, and only the tail of its stderr is
kept, read concurrently so a chatty uv cannot fill the pipe.
"""

from __future__ import annotations

import _thread
import os
import sys
import time

from lazyext import _log, _schemes, _secrets
from lazyext._config import Settings
from lazyext._errors import DistributionNotFound, InstallError

# The first import of an uncached extension comes here: logging, re and typing (~15 ms
# together) are not imported on that path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Sequence
    from typing import Final

_TAIL_LINES: Final = 40
#: uv variables that change only how the network is reached, never what is installed.
_PASS_UV: Final = frozenset(
    {
        "UV_CACHE_DIR",
        "UV_HTTP_TIMEOUT",
        "UV_HTTP_RETRIES",
        "UV_REQUEST_TIMEOUT",
        "UV_CONCURRENT_DOWNLOADS",
        "UV_NATIVE_TLS",
        "UV_SYSTEM_CERTS",
        "UV_NO_PROGRESS",
        # Credentials for a private index: they decide whether a request is allowed,
        # never which distribution it returns.
        "UV_KEYRING_PROVIDER",
        "UV_NO_NETRC",
    }
)
#: Failures a retry may cure; anything else (no solution, hash mismatch) fails at once.
_TRANSIENT: Final = (
    r"(?i)request failed after|error sending request|connection (refused|reset|closed)|"
    r"timed? ?out|dns error|failed to fetch|503 service|502 bad|504 gateway|"
    r"500 internal|temporarily unavailable|network is unreachable|broken pipe"
)
_SECURITY: Final = r"(?i)hash mismatch|hashes? (do not|don't) match"
#: The distribution or version does not exist where uv looked: a missing module.
_MISSING: Final = (
    r"(?i)\b(?P<dist>\S+) was not found in the (?P<where>package registry|provided package "
    r"locations|cache)|there is no version of (?P<nover>[\w.-]+)|"
    r"only (?P<only>[\w.-]+?)[<>=!~ ].* (is|are) available and you require"
)


_uv_lock = _thread.allocate_lock()
_uv_path: str | None = None


def _reset_after_fork() -> None:
    global _uv_lock
    _uv_lock = _thread.allocate_lock()  # held by a thread the child does not have


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def uv_binary() -> str:
    """The uv executable, looked up once per process.

    Once and under a lock: ``uv.find_uv_bin()`` reads ``sysconfig``, whose first
    ``get_config_var`` is not thread-safe on 3.11 (``lazyext warm``'s threads got
    ``None`` for ``EXE`` and failed with a ``TypeError``).
    """
    global _uv_path
    try:
        with _uv_lock:
            if _uv_path is None:
                _uv_path = _beside_interpreter() or _from_uv_package()
            return _uv_path
    except (ImportError, FileNotFoundError) as error:
        raise InstallError(
            f"uv not found ({error}); lazyext installs with the uv package: pip install uv"
        ) from error


def _beside_interpreter() -> str | None:
    """The first place ``uv.find_uv_bin()`` looks on POSIX (``sysconfig``'s scripts
    directory, ``<sys.prefix>/bin``), checked without importing sysconfig, fnmatch and
    re (~5 ms of every first import of an uncached extension)."""
    if os.name != "posix":
        return None
    candidate = os.path.join(sys.prefix, "bin", "uv")
    return candidate if os.path.isfile(candidate) else None


def _from_uv_package() -> str:
    import uv

    return str(uv.find_uv_bin())


def uv_environment(settings: Settings) -> dict[str, str]:
    """The child environment: the caller's, minus every ``UV_*`` variable that is not
    purely about networking. Index settings reach uv only as lazyext's own (explicit)
    flags, so they are part of the cache key; ``UV_INDEX_URL`` or ``UV_CONSTRAINT`` in
    the caller's environment must not silently change what a key contains.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("UV_") or name in _PASS_UV
    }
    env["UV_NO_PROGRESS"] = "1"
    env.update(_secrets.uv_environment(settings))
    env.pop("VIRTUAL_ENV", None)
    env.pop("CONDA_PREFIX", None)
    return env


def build_argv(
    uv: str,
    requirement: str,
    target: str,
    settings: Settings,
    *,
    requirements_file: str | None = None,
    offline: bool | None = None,
    no_deps: bool = False,
) -> list[str]:
    argv = [
        uv,
        "pip",
        "install",
        "--no-config",
        "--python",
        sys.executable,
        # A prefix, not --target: it keeps a wheel's data scheme (a `.data/data/x.pth`)
        # apart from its modules (lazyext._schemes moves the site files into target).
        "--prefix",
        _schemes.prefix_for(target),
        # No --compile-bytecode: the interpreter writes .pyc files as it imports (as in
        # site-packages); `lazyext warm` and refresh compile ahead (lazyext._bytecode).
        "--quiet",
    ]
    if settings.link_mode is not None:
        # Unset: uv's default (clone where the filesystem can, hard links otherwise);
        # README "Link mode" says what hard links into uv's cache mean for verify.
        argv.append(f"--link-mode={settings.link_mode}")
    if offline if offline is not None else settings.offline:
        argv.append("--offline")
    argv += index_flags(settings)
    if no_deps:
        # A locked closure: every distribution is listed, at its version, with hashes.
        argv.append("--no-deps")
    if requirements_file is not None:
        argv += ["--require-hashes", "-r", os.path.abspath(requirements_file)]
    else:
        argv += ["--", requirement]
    return argv


def index_flags(settings: Settings) -> list[str]:
    """uv's flags for lazyext's index settings (installs and resolutions alike)."""
    flags: list[str] = []
    # URLs with credentials go to uv through its environment (_secrets.uv_environment).
    if settings.index_url and _secrets.in_argv([settings.index_url]):
        flags += ["--index-url", settings.index_url]
    for url in settings.extra_index_urls if _secrets.in_argv(settings.extra_index_urls) else ():
        flags += ["--extra-index-url", url]
    for link in settings.find_links if _secrets.in_argv(settings.find_links) else ():
        flags += ["--find-links", link]
    if settings.no_index:
        flags.append("--no-index")
    if not settings.allow_sdist:
        # Building an sdist runs arbitrary code at import time; wheels only by default.
        flags.append("--no-build")
    return flags


def install(
    requirement: str,
    target: str,
    settings: Settings,
    *,
    name: str | None = None,
    hashes: Sequence[str] = (),
    cache_key: str = "",
    offline_first: bool = True,
    locked: Sequence[tuple[str, Sequence[str]]] = (),
) -> None:
    """Install ``requirement`` into ``target``, retrying transient failures only.

    ``offline_first``: try uv's cache alone (``--offline``) before the index, see
    :func:`_from_uv_cache`; a refresh passes ``False`` to see new releases.
    ``locked``: install exactly these ``(requirement, hashes)`` pairs, without their
    dependencies (a closure from the lock); ``requirement`` then only names them.
    """
    uv = uv_binary()
    requirements_file = None
    lines = [(spec, hashes) for spec, hashes in locked] or (
        [(requirement, hashes)] if hashes else []
    )
    if lines:
        requirements_file = os.path.join(os.path.dirname(target), "requirements.txt")
        # Requirements were validated (no newlines or options); hashes are hex.
        with open(requirements_file, "w", encoding="utf-8") as handle:
            for spec, pins in lines:
                flags = " ".join(f"--hash={value}" for value in pins)
                handle.write(f"{spec} {flags}\n")
    no_deps = bool(locked)
    argv = build_argv(
        uv, requirement, target, settings, requirements_file=requirements_file, no_deps=no_deps
    )
    env = uv_environment(settings)
    attempts = 1 + max(0, settings.retries)
    # install-timeout bounds the whole install, retries and backoff included: it is the
    # longest an `import` may block on the network.
    limit = settings.install_timeout if settings.install_timeout > 0 else None
    deadline = None if limit is None else time.monotonic() + limit
    if offline_first and _may_use_network(settings):
        offline = build_argv(
            uv,
            requirement,
            target,
            settings,
            requirements_file=requirements_file,
            offline=True,
            no_deps=no_deps,
        )
        if _from_uv_cache(offline, env, settings, requirement, name, cache_key, limit):
            _schemes.relocate(_schemes.prefix_for(target), target, requirement)
            return
    for attempt in range(1, attempts + 1):
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            _run_once(argv, env, settings, requirement, name, cache_key, left, limit)
            _schemes.relocate(_schemes.prefix_for(target), target, requirement)
            return
        except InstallError as error:
            delay = min(8.0, 0.5 * 2 ** (attempt - 1))
            out_of_time = deadline is not None and time.monotonic() + delay >= deadline
            if not error.transient or attempt == attempts or out_of_time:
                raise
            _log.warning(
                "installing %s failed (attempt %d of %d, transient); retrying in %.1f s",
                requirement,
                attempt,
                attempts,
                delay,
            )
            time.sleep(delay)
            # A failed attempt may have left part of the install behind.
            _empty(_schemes.prefix_for(target))


def _may_use_network(settings: Settings) -> bool:
    """False when uv would not go online anyway (offline, or local find-links only)."""
    if settings.offline:
        return False
    return not settings.no_index or any("://" in link for link in settings.find_links)


def _from_uv_cache(
    argv: list[str],
    env: dict[str, str],
    settings: Settings,
    requirement: str,
    name: str | None,
    cache_key: str,
    limit: float | None,
) -> bool:
    """Offline-first: install from uv's cache without asking the index; True if done.

    uv revalidates its cached index pages online (one round trip per project, ~50-200
    ms) even when every wheel is cached, while ``--offline`` answers from the cache in
    ~20 ms. A miss fails in ~10 ms and the caller goes online; benchmarks/README.md
    has the numbers. What is cached may be older than the index's newest release:
    the TTL refresh installs online.
    """
    prefix = argv[argv.index("--prefix") + 1]
    try:
        _run_once(argv, env, settings, requirement, name, cache_key, limit, limit)
    except InstallError as error:
        if error.security:
            raise
        _log.debug("not installable from uv's cache alone, going online: %s", error)
        _empty(prefix)
        return False
    return True


def _empty(target: str) -> None:
    import shutil

    shutil.rmtree(target, ignore_errors=True)


def _run_once(
    argv: list[str],
    env: dict[str, str],
    settings: Settings,
    requirement: str,
    name: str | None,
    cache_key: str,
    timeout: float | None,
    limit: float | None,
) -> None:
    from lazyext import _spawn

    _log.info("installing %s with uv", requirement)
    _log.debug("uv argv: %s", argv)
    started = time.monotonic()
    try:
        returncode, output = _spawn.run(argv, env, timeout)
    except _spawn.Timeout as error:
        raise InstallError(
            f"installing {requirement} timed out after {limit or 0:g} s (install-timeout); "
            "check the index or network, or set offline = true to use only cached wheels",
            name=name,
            spec=requirement,
            returncode=None,
            stderr_tail=_tail(error.output, settings),
            cache_key=cache_key,
            transient=True,
        ) from error
    except OSError as error:
        raise InstallError(
            f"cannot run uv ({error}); reinstall the uv package: pip install --force-reinstall uv",
            name=name,
            spec=requirement,
            cache_key=cache_key,
        ) from error
    _log.debug("uv exited %s after %.3f s", returncode, time.monotonic() - started)
    if returncode != 0:
        raise _failure(returncode, _tail(output, settings), requirement, name, cache_key, settings)


def clean_uv_cache(dists: Sequence[str], settings: Settings) -> None:
    """Remove ``dists`` from uv's cache (``uv cache clean``), so that the next install
    unpacks their wheels afresh instead of linking files a damage reached through a
    hard link (README: Link mode). Raises InstallError if uv fails."""
    from lazyext import _spawn

    argv = [uv_binary(), "cache", "clean", "--no-config", "--quiet", "--", *dists]
    limit = settings.install_timeout if settings.install_timeout > 0 else None
    try:
        returncode, output = _spawn.run(argv, uv_environment(settings), limit)
    except (OSError, _spawn.Timeout) as error:
        raise InstallError(f"uv cache clean {' '.join(dists)} failed: {error}") from error
    if returncode != 0:
        raise InstallError(
            f"uv cache clean {' '.join(dists)} exited with status {returncode}",
            returncode=returncode,
            stderr_tail=_tail(output, settings),
        )


def _tail(output: bytes | None, settings: Settings) -> str:
    if not output:
        return ""
    lines = output.decode("utf-8", "replace").splitlines()
    return _secrets.redact("\n".join(lines[-_TAIL_LINES:]), _secrets.secret_urls(settings))


def _failure(
    returncode: int, tail: str, requirement: str, name: str | None, key: str, settings: Settings
) -> InstallError:
    lowered = tail.lower()
    import re

    security = bool(re.search(_SECURITY, tail))
    transient = not security and bool(re.search(_TRANSIENT, tail))
    if returncode < 0:
        what = f"uv was killed by signal {-returncode}"
        transient = True
    elif security:
        what = "uv refused a file whose hash does not match the pinned hashes (not retried)"
    elif transient:
        hint = (
            ""
            if settings.offline
            else "; set offline = true (LAZYEXT_OFFLINE=1) to use cached wheels only"
        )
        what = f"uv could not reach the package index{hint}"
    elif (missing := re.search(_MISSING, tail)) is not None:
        return _missing(missing, returncode, tail, requirement, name, key)
    elif "network connectivity is disabled" in lowered:
        # A locked version uv knows of but never downloaded, asked for offline.
        wanted = re.search(r"Failed to download `(?P<dist>[\w.-]+)", tail)
        return DistributionNotFound(
            f"cannot install {requirement}: {wanted['dist'] if wanted else 'a distribution'} "
            "is not available from uv's cache (offline mode is on; go online once, or add "
            "find-links)",
            name=name,
            spec=requirement,
            returncode=returncode,
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
        what = f"uv exited with status {returncode}"
    return InstallError(
        f"cannot install {requirement}: {what}",
        name=name,
        spec=requirement,
        returncode=returncode,
        stderr_tail=tail,
        cache_key=key,
        transient=transient,
        security=security,
    )


def _missing(
    found: re.Match[str],
    returncode: int,
    tail: str,
    requirement: str,
    name: str | None,
    key: str,
) -> DistributionNotFound:
    import re  # a failure's path: re stays off the cold path

    from lazyext._lockfile import normalize

    dist = found.group("dist") or found.group("nover") or found.group("only")
    own = re.split(r"[\s\[<>=!~;@(]", requirement.strip(), maxsplit=1)[0]
    if found.group("where") == "cache":
        where = "uv's cache (offline mode is on; go online once, or add find-links)"
    elif found.group("dist") and normalize(dist or "") != normalize(own):
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
