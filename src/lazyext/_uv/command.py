"""uv's binary, environment and argv: what every uv run lazyext makes is built from.

The argv is a list (never a shell) that starts ``uv pip <verb> --no-config --python
<sys.executable>``: ``--no-config`` keeps a ``uv.toml`` or ``pyproject.toml`` in the
working directory from redirecting the index. uv's environment is built on purpose
(:func:`environment`): index settings reach uv only as lazyext's own flags, so they
are part of the cache key.
"""

from __future__ import annotations

import _thread
import os
import sys

from lazyext._errors import InstallError
from lazyext._settings import secrets
from lazyext._settings.config import Settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Final

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
    import uv  # the uv package's finder, only where the binary is not beside us

    return str(uv.find_uv_bin())


def environment(settings: Settings) -> dict[str, str]:
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
    env.update(secrets.uv_environment(settings))
    env.pop("VIRTUAL_ENV", None)
    env.pop("CONDA_PREFIX", None)
    return env


def may_use_network(settings: Settings) -> bool:
    """False when uv would not go online anyway (offline, or local find-links only)."""
    if settings.offline:
        return False
    return not settings.no_index or any("://" in link for link in settings.find_links)


def index_flags(settings: Settings) -> list[str]:
    """uv's flags for lazyext's index settings (installs and resolutions alike)."""
    flags: list[str] = []
    # URLs with credentials go to uv through its environment (secrets.uv_environment).
    if settings.index_url and secrets.in_argv([settings.index_url]):
        flags += ["--index-url", settings.index_url]
    for url in settings.extra_index_urls if secrets.in_argv(settings.extra_index_urls) else ():
        flags += ["--extra-index-url", url]
    for link in settings.find_links if secrets.in_argv(settings.find_links) else ():
        flags += ["--find-links", link]
    if settings.no_index:
        flags.append("--no-index")
    if not settings.allow_sdist:
        # Building an sdist runs arbitrary code at import time; wheels only by default.
        flags.append("--no-build")
    return flags


def pip(verb: str, settings: Settings, *, offline: bool) -> list[str]:
    """``uv pip <verb>`` for this interpreter with lazyext's index settings."""
    argv = [uv_binary(), "pip", verb, "--no-config", "--python", sys.executable, "--quiet"]
    if offline or settings.offline:
        argv.append("--offline")
    return argv + index_flags(settings)


def install_argv(
    prefix: str, requirements_file: str, settings: Settings, *, offline: bool
) -> list[str]:
    """``uv pip install`` of a locked closure: every distribution listed in
    ``requirements_file`` at its version with its hashes, without dependencies."""
    argv = pip("install", settings, offline=offline)
    # A prefix, not --target: it keeps a wheel's data scheme (a `.data/data/x.pth`)
    # apart from its modules (lazyext._store.schemes moves the site files into target).
    # No --compile-bytecode: the interpreter writes .pyc files as it imports (as in
    # site-packages); `lazyext warm` and refresh compile ahead (_store.bytecode).
    argv += ["--prefix", os.path.abspath(prefix)]
    if settings.link_mode is not None:
        # Unset: uv's default (clone where the filesystem can, hard links otherwise);
        # README "Link mode" says what hard links into uv's cache mean for verify.
        argv.append(f"--link-mode={settings.link_mode}")
    return [*argv, "--no-deps", "--require-hashes", "-r", os.path.abspath(requirements_file)]


def requirement_argv(
    prefix: str, requirement: str, constraints: str, settings: Settings, *, offline: bool
) -> list[str]:
    """``uv pip install`` of one requirement and what it needs, within ``constraints``
    (the host's versions): the speculative install of a new environment's first import
    (lazyext._env.speculate). ``--`` keeps the requirement from being read as an option."""
    argv = pip("install", settings, offline=offline)
    argv += ["--prefix", os.path.abspath(prefix)]
    if settings.link_mode is not None:
        argv.append(f"--link-mode={settings.link_mode}")
    return [*argv, "-c", os.path.abspath(constraints), "--", requirement]


def clean_argv(dists: Sequence[str]) -> list[str]:
    return [uv_binary(), "cache", "clean", "--no-config", "--quiet", "--", *dists]
