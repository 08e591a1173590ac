"""A lock honoured or refused, never silently contradicted by a host copy, and metadata,
status and doctor that report what imports (_env.hostcheck; issue 21 #5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import Wheelhouse, python_env, run_python


@pytest.fixture
def house(tmp_path: Path) -> Wheelhouse:
    house = Wheelhouse(tmp_path / "wheels")
    for version in ("1.0", "1.1"):
        house.build("pyg", version, {"pyg/__init__.py": f"V = {version!r}\n"})
    house.build("richx", "1.0", {"richx/__init__.py": "import pyg\n"}, requires=("pyg>=1.1",))
    house.build("other", "1.0", {"other/__init__.py": ""})
    return house


def site_dir(path: Path, *dists: tuple[str, str]) -> Path:
    """A host site directory holding ``dists`` (name, version), modules and metadata."""
    for name, version in dists:
        (path / name).mkdir(parents=True)
        (path / name / "__init__.py").write_text(f"V = {version!r}\n")
        info = path / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return path


def project(tmp_path: Path, house: Wheelhouse, requirement: str = "richx") -> Path:
    work = tmp_path / "project"
    work.mkdir()
    (work / "lazyext.toml").write_text(
        house.toml()
        + f'cache-dir = "{tmp_path / "cache"}"\nlock = "pylock.toml"\n'
        + f'[[extensions]]\nname = "richx"\npackage = "{requirement}"\n'
    )
    done = lazyext_cli("lock", cwd=work)
    assert done.returncode == 0, done.stderr
    assert 'name = "pyg"\nversion = "1.1"' in (work / "pylock.toml").read_text()
    return work


def with_path(host: Path | None) -> dict[str, str]:
    """This environment, with ``host`` first on ``PYTHONPATH`` (kept, if one is set)."""
    if host is None:
        return python_env()
    return python_env(
        PYTHONPATH=os.pathsep.join(filter(None, [str(host), os.environ.get("PYTHONPATH")]))
    )


def lazyext_cli(
    *args: str, cwd: Path, pythonpath: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lazyext", *args],
        cwd=cwd,
        env=with_path(pythonpath),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


IMPORT = """
import lazyext
from importlib.metadata import version
lazyext.activate()
try:
    import richx, pyg
except ImportError as error:
    print("REFUSED", type(error).__name__, error)
else:
    print("IMPORTED", pyg.V, "METADATA", version("pyg"), pyg.__file__)
"""


def run(work: Path, host: Path | None) -> str:
    done = run_python(IMPORT, cwd=work, env=with_path(host))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_lock_the_host_contradicts_is_refused_naming_both_versions(
    house: Wheelhouse, tmp_path: Path
) -> None:
    work = project(tmp_path, house)
    host = site_dir(tmp_path / "host", ("pyg", "1.0"))
    said = run(work, host)
    assert said.startswith("REFUSED LockFileError"), said
    assert f"pins pyg 1.1, but this interpreter has pyg 1.0 in {host}" in said
    assert "pip install pyg==1.1" in said
    assert "lazyext lock" in said
    # status and doctor say the same, and nothing claims that pyg 1.1 is what imports
    status = json.loads(lazyext_cli("status", "--json", cwd=work, pythonpath=host).stdout)
    (row,) = status["extensions"]
    assert row["state"] == "failed"
    assert "pins pyg 1.1, but this interpreter has pyg 1.0" in row["detail"]
    doctor = lazyext_cli("doctor", cwd=work, pythonpath=host)
    assert doctor.returncode == 1
    assert "richx: failed: LockFileError" in doctor.stdout
    # Without the host's copy the same lock is honoured.
    assert run(work, None).startswith("IMPORTED 1.1 METADATA 1.1")


def test_the_host_at_the_locked_version_serves_it(house: Wheelhouse, tmp_path: Path) -> None:
    work = project(tmp_path, house)
    host = site_dir(tmp_path / "host", ("pyg", "1.1"))
    said = run(work, host)
    assert said == f"IMPORTED 1.1 METADATA 1.1 {host / 'pyg' / '__init__.py'}"


def test_a_configured_distribution_the_host_cannot_satisfy_is_honoured(
    house: Wheelhouse, tmp_path: Path
) -> None:
    work = project(tmp_path, house)
    lines = (
        work / "lazyext.toml"
    ).read_text() + '[[extensions]]\nname = "pyg"\npackage = "pyg>=1.1"\n'
    (work / "lazyext.toml").write_text(lines)
    assert lazyext_cli("lock", cwd=work).returncode == 0
    host = site_dir(tmp_path / "host", ("pyg", "1.0"))
    said = run(work, host)
    assert said.startswith("IMPORTED 1.1 METADATA 1.1"), said
    assert str(tmp_path / "cache") in said


def test_a_host_that_changes_after_the_lock_was_read_is_checked_again(
    house: Wheelhouse, tmp_path: Path
) -> None:
    work = project(tmp_path, house)
    host = site_dir(tmp_path / "host", ("other", "1.0"))
    assert run(work, host).startswith("IMPORTED 1.1 METADATA 1.1")
    site_dir(host, ("pyg", "1.0"))  # installed into the host afterwards
    said = run(work, host)
    assert said.startswith("REFUSED LockFileError"), said
    assert "pins pyg 1.1, but this interpreter has pyg 1.0" in said


def test_metadata_status_and_doctor_report_what_imports(house: Wheelhouse, tmp_path: Path) -> None:
    # A site directory the lock was never checked against (PYTHONPATH added later): the
    # host's copy wins the dependency's names, and everything says so.
    work = project(tmp_path, house)
    assert run(work, None).startswith("IMPORTED 1.1")
    host = site_dir(tmp_path / "host", ("pyg", "1.0"))
    assert run(work, host).startswith("IMPORTED 1.0 METADATA 1.0")
    status = json.loads(lazyext_cli("status", "--json", cwd=work, pythonpath=host).stdout)
    rows = {row["name"]: row for row in status["distributions"]}
    assert (rows["pyg"]["version"], rows["pyg"]["locked"], rows["pyg"]["state"]) == (
        "1.0",
        "1.1",
        "host",
    )
    assert rows["pyg"]["path"] == str(host)
    doctor = lazyext_cli("doctor", cwd=work, pythonpath=host)
    assert doctor.returncode == 1
    assert (
        f"the environment locks pyg 1.1, but this interpreter imports pyg 1.0 from {host}"
        in doctor.stdout
    )
