"""Run the real ``uv`` to install one requirement into a staging directory.

The argv is a list (never a shell): ``uv pip install --no-config --python
<sys.executable> --target <abs path> [settings] -- <requirement>``. ``--no-config``
keeps a ``uv.toml`` or ``pyproject.toml`` in the working directory from redirecting
the index; ``--`` keeps the requirement from being read as an option. uv's
environment is built on purpose (see :func:`uv_environment`), uv runs in its own
process group under lazyext's wall-clock limit, and only the tail of its stderr is
kept, read concurrently so a chatty uv cannot fill the pipe.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Sequence
from typing import Final

from lazyext._config import Settings
from lazyext._errors import InstallError

logger = logging.getLogger("lazyext")

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
    }
)
#: Failures a retry may cure; anything else (no solution, hash mismatch) fails at once.
_TRANSIENT: Final = re.compile(
    r"request failed after|error sending request|connection (refused|reset|closed)|"
    r"timed? ?out|dns error|failed to fetch|503 service|502 bad|504 gateway|"
    r"500 internal|temporarily unavailable|network is unreachable|broken pipe",
    re.IGNORECASE,
)
_SECURITY: Final = re.compile(r"hash mismatch|hashes? (do not|don't) match", re.IGNORECASE)


def uv_binary() -> str:
    try:
        import uv

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError) as error:
        raise InstallError(
            f"uv not found ({error}); lazyext installs with the uv package: pip install uv"
        ) from error


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
) -> list[str]:
    argv = [
        uv,
        "pip",
        "install",
        "--no-config",
        "--python",
        sys.executable,
        "--target",
        os.path.abspath(target),
        "--compile-bytecode",
        "--quiet",
    ]
    if offline if offline is not None else settings.offline:
        argv.append("--offline")
    if settings.index_url:
        argv += ["--index-url", settings.index_url]
    for url in settings.extra_index_urls:
        argv += ["--extra-index-url", url]
    for link in settings.find_links:
        argv += ["--find-links", link]
    if settings.no_index:
        argv.append("--no-index")
    if not settings.allow_sdist:
        # Building an sdist runs arbitrary code at import time; wheels only by default.
        argv.append("--no-build")
    if requirements_file is not None:
        argv += ["--require-hashes", "-r", os.path.abspath(requirements_file)]
    else:
        argv += ["--", requirement]
    return argv


def install(
    requirement: str,
    target: str,
    settings: Settings,
    *,
    name: str | None = None,
    hashes: Sequence[str] = (),
    cache_key: str = "",
) -> None:
    """Install ``requirement`` into ``target``, retrying transient failures only."""
    uv = uv_binary()
    requirements_file = None
    if hashes:
        requirements_file = os.path.join(os.path.dirname(target), "requirements.txt")
        flags = " ".join(f"--hash={value}" for value in hashes)
        # The requirement was validated (no newlines or options); hashes are hex.
        with open(requirements_file, "w", encoding="utf-8") as handle:
            handle.write(f"{requirement} {flags}\n")
    argv = build_argv(uv, requirement, target, settings, requirements_file=requirements_file)
    env = uv_environment(settings)
    attempts = 1 + max(0, settings.retries)
    for attempt in range(1, attempts + 1):
        try:
            _run_once(argv, env, settings, requirement, name, cache_key)
            return
        except InstallError as error:
            if not error.transient or attempt == attempts:
                raise
            delay = min(8.0, 0.5 * 2 ** (attempt - 1))
            logger.warning(
                "installing %s failed (attempt %d of %d, transient); retrying in %.1f s",
                requirement,
                attempt,
                attempts,
                delay,
            )
            time.sleep(delay)


def _run_once(
    argv: list[str],
    env: dict[str, str],
    settings: Settings,
    requirement: str,
    name: str | None,
    cache_key: str,
) -> None:
    import subprocess

    logger.info("installing %s with uv", requirement)
    logger.debug("uv argv: %s", argv)
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    except OSError as error:
        raise InstallError(
            f"cannot run uv ({error}); reinstall the uv package: pip install --force-reinstall uv",
            name=name,
            spec=requirement,
            cache_key=cache_key,
        ) from error
    timeout = settings.install_timeout if settings.install_timeout > 0 else None
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as error:
        _kill_group(process)
        output, _ = process.communicate()
        raise InstallError(
            f"installing {requirement} timed out after {timeout:g} s (install-timeout); "
            "check the index or network, or set offline = true to use only cached wheels",
            name=name,
            spec=requirement,
            returncode=None,
            stderr_tail=_tail(output),
            cache_key=cache_key,
            transient=True,
        ) from error
    except BaseException:
        _kill_group(process)
        process.wait()
        raise
    finally:
        # uv may have started children of its own (builds); none may outlive it.
        _kill_group(process)
    logger.debug("uv exited %s after %.3f s", process.returncode, time.monotonic() - started)
    if process.returncode != 0:
        raise _failure(process.returncode, _tail(output), requirement, name, cache_key, settings)


def _kill_group(process: object) -> None:
    import signal

    pid = getattr(process, "pid", None)
    if pid is None or not hasattr(os, "killpg"):
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(output: bytes | None) -> str:
    if not output:
        return ""
    lines = output.decode("utf-8", "replace").splitlines()
    return "\n".join(lines[-_TAIL_LINES:])


def _failure(
    returncode: int, tail: str, requirement: str, name: str | None, key: str, settings: Settings
) -> InstallError:
    security = bool(_SECURITY.search(tail))
    transient = not security and bool(_TRANSIENT.search(tail))
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
    elif settings.offline and "offline" in tail.lower():
        what = "it is not in uv's cache and offline mode is on; go online once or add find-links"
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
