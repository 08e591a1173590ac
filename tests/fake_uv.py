"""Shims in front of the real uv binary: count runs, record argv and environment.

A shim is a ``/bin/sh`` script that appends one line per run to a log, optionally
runs some shell first, then ``exec``s the real uv (or does something else entirely).
Tests point lazyext at it with ``monkeypatch.setattr(_installer, "uv_binary", ...)``;
child interpreters do the same assignment themselves before activating.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import uv


class UvShim:
    """A uv stand-in in ``directory``; ``runs()`` lists one argv per install run,
    ``compiles()`` one per resolution."""

    def __init__(self, directory: Path, *, body: str | None = None, before: str = "") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "uv"
        self.log = directory / "uv-runs.log"
        self.env_dir = directory / "envs"
        self.env_dir.mkdir(exist_ok=True)
        real = shlex.quote(str(uv.find_uv_bin()))
        body = body if body is not None else f'exec {real} "$@"'
        # One line per run, written with O_APPEND: safe across processes.
        self.compile_log = directory / "uv-compiles.log"
        # Resolutions (`uv pip compile`) go straight to the real uv, logged apart: the
        # shim's behaviour and its run count are about installs.
        script = (
            "#!/bin/sh\n"
            'if [ "$2" = "compile" ]; then\n'
            f'  printf "%s\\n" "$*" >> {shlex.quote(str(self.compile_log))}\n'
            f'  exec {real} "$@"\n'
            "fi\n"
            f'printf "%s\\n" "$*" >> {shlex.quote(str(self.log))}\n'
            f"env > {shlex.quote(str(self.env_dir))}/$$.env\n"
            f"{before}\n"
            f"{body}\n"
        )
        self.path.write_text(script, encoding="utf-8")
        os.chmod(self.path, 0o755)

    def __str__(self) -> str:
        return str(self.path)

    def runs(self) -> list[str]:
        """Every install run: locked, and a new environment's speculative ones."""
        return self._installs()

    def speculations(self) -> list[str]:
        """The speculative installs of new environments (lazyext._env.speculate)."""
        return [run for run in self._installs() if _speculative(run)]

    def _installs(self) -> list[str]:
        try:
            return self.log.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []

    def compiles(self) -> list[str]:
        try:
            return self.compile_log.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []

    def environments(self) -> list[dict[str, str]]:
        found = []
        for path in sorted(self.env_dir.glob("*.env")):
            env = {}
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                name, sep, value = line.partition("=")
                if sep:
                    env[name] = value
            found.append(env)
        return found

    def patch_code(self) -> str:
        """Python source that points lazyext at this shim inside a child interpreter."""
        return (
            "import lazyext._uv.command as _lazyext_installer\n"
            f"_lazyext_installer.uv_binary = lambda: {str(self.path)!r}\n"
        )


def failing_install_of(dist: str) -> str:
    """Shell for a shim's ``before``: an install run whose locked requirements name ``dist``
    (or, a new environment's speculative install, whose requirement is ``dist``'s) fails
    (status 1, not transient); resolutions and other installs are untouched."""
    pattern = shlex.quote(f"^{dist}([ @=<>~!;[]|$)")
    return (
        'eval "requirements=\\${$#}"\n'
        'case "$*" in *" install "*) ;; *) requirements=/dev/null ;; esac\n'
        f'if grep -Eqi {pattern} "$requirements" 2>/dev/null'
        f' || printf "%s" "$requirements" | grep -Eqi {pattern}; then\n'
        f'  echo "error: the wheel of {dist} is broken" >&2\n'
        "  exit 1\n"
        "fi"
    )


def _speculative(run: str) -> bool:
    """An install of one requirement with its dependencies (``-- REQ``), not of a lock."""
    return " -- " in f" {run} " and "--require-hashes" not in run.split()
