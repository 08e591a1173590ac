"""Tools for the fault tests: a counting uv shim, sdists, child processes, cache probes."""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import textwrap
import time
from collections.abc import Mapping
from pathlib import Path

import uv
from fake_uv import _speculative
from lazyext._settings.config import Config

from support import python_env

SRC = str(Path(__file__).resolve().parents[2] / "src" / "lazyext")


class CountingUv:
    """A ``/bin/sh`` stand-in for uv: logs ``<pid> <argv>`` per run, then ``exec``s uv.

    ``before`` is shell run first (a delay, a rendezvous); the pid logged is uv's own,
    since ``exec`` keeps it, so tests can check that no uv outlives its install.
    Resolutions (``uv pip compile``) are logged apart (``compiles()``) and go straight
    to uv: ``runs()`` and ``before`` are about installs.
    """

    def __init__(self, directory: Path, *, before: str = "") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.path = directory / "uv"
        self.log = directory / "runs.log"
        self.compile_log = directory / "compiles.log"
        self.set_before(before)

    def set_before(self, before: str) -> None:
        real = shlex.quote(str(uv.find_uv_bin()))
        script = (
            "#!/bin/sh\n"
            'if [ "$2" = "compile" ]; then\n'
            f'  printf "%s %s\\n" "$$" "$*" >> {shlex.quote(str(self.compile_log))}\n'
            f'  exec {real} "$@"\n'
            "fi\n"
            f'printf "%s %s\\n" "$$" "$*" >> {shlex.quote(str(self.log))}\n'
            f"{before}\n"
            f'exec {real} "$@"\n'
        )
        temporary = self.directory / "uv.new"
        temporary.write_text(script, encoding="utf-8")
        os.chmod(temporary, 0o755)
        os.replace(temporary, self.path)

    def runs(self) -> list[str]:
        """One ``<pid> <argv>`` per install run, locked or speculative."""
        return _lines(self.log)

    def speculations(self) -> list[str]:
        """One ``<pid> <argv>`` per speculative install of a new environment."""
        return [run for run in _lines(self.log) if _speculative(run)]

    def compiles(self) -> list[str]:
        """One ``<pid> <argv>`` per resolution."""
        return _lines(self.compile_log)

    def pids(self) -> list[int]:
        return [int(line.split(" ", 1)[0]) for line in self.runs() + self.compiles()]

    def patch_code(self) -> str:
        """Source that points lazyext at this shim inside a child interpreter."""
        return (
            "import lazyext._uv.command as _lazyext_installer\n"
            f"_lazyext_installer.uv_binary = lambda: {str(self.path)!r}\n"
        )

    def wait_gone(self, timeout: float = 60.0) -> list[int]:
        """Wait until every uv this shim started has exited; return those still alive."""
        deadline = time.monotonic() + timeout
        alive = [pid for pid in self.pids() if pid_running(pid)]
        while alive and time.monotonic() < deadline:
            time.sleep(0.02)
            alive = [pid for pid in alive if pid_running(pid)]
        return alive


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []


def pid_running(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            state = handle.read().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state != "Z"


def child_source(code: str, shim: CountingUv | None = None) -> str:
    prefix = shim.patch_code() if shim is not None else ""
    return prefix + textwrap.dedent(code)


def spawn(
    code: str, *, shim: CountingUv | None = None, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start a child interpreter running ``code`` (stdout/stderr piped, text)."""
    return subprocess.Popen(
        [sys.executable, "-c", child_source(code, shim)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env) if env is not None else python_env(),
    )


def run(
    code: str,
    *,
    shim: CountingUv | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    prefix: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a child interpreter under a watchdog ``timeout``."""
    return subprocess.run(
        [*(prefix or []), sys.executable, "-c", child_source(code, shim)],
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else python_env(),
        timeout=timeout,
        check=False,
    )


def last_json(stdout: str) -> object:
    """The last line of a child's stdout, parsed as JSON."""
    return json.loads(stdout.strip().splitlines()[-1])


def generations(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / "entries").glob("*/*/g*"))


def staging(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / "staging").glob("*"))


def copy_tree(source: Path, destination: Path) -> None:
    shutil.copytree(source, destination, symlinks=True)


def make_sdist(directory: Path, name: str, version: str, module_code: str) -> Path:
    """An sdist with an in-tree, stdlib-only build backend: builds offline, no setuptools.

    The backend appends to ``$LAZYEXT_TEST_SDIST_MARK`` when it runs, so a test can tell
    whether the package's build code was executed.
    """
    stem = name.replace("-", "_")
    backend = textwrap.dedent(
        f'''
        import base64, hashlib, os, zipfile

        def _digest(data):
            raw = hashlib.sha256(data).digest()
            return "sha256=" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        def get_requires_for_build_wheel(config_settings=None):
            return []

        def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
            mark = os.environ.get("LAZYEXT_TEST_SDIST_MARK")
            if mark:
                with open(mark, "a") as handle:
                    handle.write("built\\n")
            info = "{stem}-{version}.dist-info"
            files = {{
                "{stem}/__init__.py": open("module.py", "rb").read(),
                info + "/METADATA": b"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n",
                info + "/WHEEL": (b"Wheel-Version: 1.0\\nGenerator: test\\n"
                                  b"Root-Is-Purelib: true\\nTag: py3-none-any\\n"),
            }}
            record = [f"{{p}},{{_digest(b)}},{{len(b)}}" for p, b in files.items()]
            files[info + "/RECORD"] = ("\\n".join(record + [info + "/RECORD,,"]) + "\\n").encode()
            wheel = "{stem}-{version}-py3-none-any.whl"
            with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w") as archive:
                for path, data in files.items():
                    archive.writestr(path, data)
            return wheel
        '''
    )
    files = {
        "pyproject.toml": (
            '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
            f'[project]\nname = "{name}"\nversion = "{version}"\n'
        ),
        "backend.py": backend,
        "module.py": module_code,
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}-{version}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for relative, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{stem}-{version}/{relative}")
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return path


def unprivileged() -> list[str] | None:
    """A command prefix under which permission bits apply to this user, or None.

    root ignores a read-only mode; without CAP_DAC_OVERRIDE (dropped by ``setpriv``)
    it does not. For other users no prefix is needed.
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return [
        setpriv,
        "--inh-caps=-all",
        "--bounding-set=-dac_override,-dac_read_search,-fowner",
        "--",
    ]


def locked_key(config: Config, dist: str) -> str:
    """The cache key of ``dist``'s entry in ``config``'s environment (resolved now if it
    is not yet; nothing is installed)."""
    from lazyext._env.provision import environment

    locked = environment(config).dist(dist)
    assert locked is not None, f"{dist} is not in the environment"
    return locked.key
