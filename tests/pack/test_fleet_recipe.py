"""The read-only deployment recipe of the README ("Many machines"), end to end.

Build: ``lazyext warm`` into cache A, compile it, make it read-only. Run: A as a
read-only layer (``LAZYEXT_CACHE_READ``) under a private writable cache B. Start-up
runs no uv; a new extension lands in B; A is never written. The run is repeated as
uid 1000 (the usual Kubernetes ``runAsUser``) when the tests run as root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.kit import CountingUv

from support import REPO, Wheelhouse, python_env

CONFIG = """
find-links = ["{wheels}"]
no-index = true
cache-dir = "{cache}"

[[extensions]]
name = "tinyyaml"
package = "TinyYaml>=6"

[[extensions]]
name = "pthpkg"
package = "pthpkg"

[[extensions]]
name = "alpha"
package = "alpha"
enabled = {alpha}
"""

RUN = """
import lazyext, os
lazyext.activate()
import tinyyaml, pthpkg
print("BASE", tinyyaml.load(""), pthpkg.WHERE, tinyyaml.__file__)
log = {log!r}
print("UV", len(open(log).read().splitlines()) if os.path.exists(log) else 0)
import alpha
print("NEW", alpha.NAME, alpha.__file__)
"""


def tree(root: Path) -> dict[str, tuple[int, int, int, float]]:
    found = {}
    for base, directories, files in os.walk(root):
        for name in [*directories, *files, "."]:
            info = os.lstat(os.path.join(base, name))
            found[os.path.join(base, name)] = (
                info.st_mode,
                info.st_uid,
                info.st_size,
                info.st_mtime_ns,
            )
    return found


@pytest.fixture
def public(wheelhouse: Wheelhouse) -> Iterator[Path]:
    """A directory every user can traverse (``/tmp/...``, 0755) with the wheels."""
    path = Path(tempfile.mkdtemp(prefix="lazyext-recipe-", dir="/tmp"))
    os.chmod(path, 0o755)
    shutil.copytree(wheelhouse.path, path / "wheels")
    os.chmod(path / "wheels", 0o755)
    for wheel in (path / "wheels").iterdir():
        os.chmod(wheel, 0o644)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def build(public: Path) -> tuple[Path, Path]:
    """The image build: warm the base extensions into A, compile, make A read-only."""
    app = public / "app"
    app.mkdir()
    layer = public / "layer"
    config = app / "lazyext.toml"
    config.write_text(
        CONFIG.format(wheels=public / "wheels", cache=layer, alpha="false"), encoding="utf-8"
    )
    env = python_env(LAZYEXT_CONFIG=str(config))
    env.pop("LAZYEXT_CACHE_DIR", None)
    warmed = subprocess.run(
        [sys.executable, "-m", "lazyext", "warm"], env=env, capture_output=True, text=True
    )
    assert warmed.returncode == 0, warmed.stderr
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(layer / "entries")], check=True, env=env
    )
    # At run time alpha is enabled too (a new extension, not in the image).
    config.write_text(
        CONFIG.format(wheels=public / "wheels", cache=layer, alpha="true"), encoding="utf-8"
    )
    os.chmod(app, 0o755)
    os.chmod(config, 0o644)
    # Readable by everyone, writable by no one: chmod -R a+rX,a-w
    for base, directories, files in os.walk(layer):
        for name in directories:
            os.chmod(os.path.join(base, name), 0o555)
        for name in files:
            path = os.path.join(base, name)
            os.chmod(path, 0o555 if os.stat(path).st_mode & 0o100 else 0o444)
    os.chmod(layer, 0o555)
    return config, layer


def run(config: Path, layer: Path, private: Path, shim: CountingUv, **user: int) -> list[str]:
    env = python_env(
        LAZYEXT_CONFIG=str(config),
        LAZYEXT_CACHE_DIR=str(private),
        LAZYEXT_CACHE_READ=str(layer),
        UV_CACHE_DIR=str(private.parent / f"uv-cache-{private.name}"),
    )
    python = sys.executable
    if user:
        # The interpreter of this venv may live under /root (0700): the system Python
        # of the same version, with this checkout's sources and dependencies.
        python = "/usr/bin/python3"
        site = next(Path(sys.prefix, "lib").glob("python3*/site-packages"))
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(site)])
        env["HOME"] = env["UV_CACHE_DIR"] = str(private.parent / "home")
    result = subprocess.run(
        [python, "-c", shim.patch_code() + RUN.format(log=str(shim.log))],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        **user,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_a_read_only_image_cache_serves_start_up_without_uv(public: Path) -> None:
    config, layer = build(public)
    before = tree(layer)
    private = public / "private"
    shim = CountingUv(public / "shim")
    base, uv_runs, new = run(config, layer, private, shim)
    assert base.split()[:3] == ["BASE", "42", "pth"]
    assert base.split()[3].startswith(str(layer) + os.sep)
    assert uv_runs == "UV 0"  # start-up ran no uv
    assert new.split()[:2] == ["NEW", "alpha"]
    assert new.split()[2].startswith(str(private) + os.sep)  # landed in the private layer
    installs = [line for line in shim.runs() if " install " in line]
    assert len(installs) == 1  # alpha's
    assert tree(layer) == before  # nothing written into the image's cache
    # The next process: everything cached, no uv at all.
    runs = len(shim.runs())
    assert run(config, layer, private, shim)[1] == f"UV {runs}"
    assert len(shim.runs()) == runs


def _system_python_works_as(uid: int, public: Path) -> bool:
    if not os.path.exists("/usr/bin/python3"):
        return False
    # Every directory above the test's own must let others through.
    for parent in public.parents:
        if not os.stat(parent).st_mode & 0o001:
            return False
    site = next(Path(sys.prefix, "lib").glob("python3*/site-packages"))
    version = tuple(sys.version_info[:2])
    code = f"import sys, lazyext, packaging; sys.exit(sys.version_info[:2] != {version!r})"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{site}"}
    probe = subprocess.run(
        ["/usr/bin/python3", "-c", code], env=env, user=uid, group=uid, capture_output=True
    )
    return probe.returncode == 0


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_an_image_built_as_root_serves_uid_1000(public: Path) -> None:
    if not _system_python_works_as(1000, public):
        pytest.skip("uid 1000 cannot run a Python with this checkout or reach /tmp")
    config, layer = build(public)
    before = tree(layer)
    assert {info[1] for info in before.values()} == {0}  # all root's
    private = public / "private"
    for mine in (private, public / "home"):
        mine.mkdir(mode=0o700)
        os.chown(mine, 1000, 1000)
    shim = CountingUv(public / "shim")
    os.chmod(public / "shim", 0o777)  # the shim's log, written by uid 1000
    base, uv_runs, new = run(config, layer, private, shim, user=1000, group=1000)
    assert base.split()[3].startswith(str(layer) + os.sep)
    assert uv_runs == "UV 0"
    assert new.split()[2].startswith(str(private) + os.sep)
    assert len([line for line in shim.runs() if " install " in line]) == 1
    assert tree(layer) == before
