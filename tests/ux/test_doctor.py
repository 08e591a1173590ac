"""``lazyext doctor``: every field, for a healthy, a failed and a shadowed extension."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import lazyext
from lazyext import cli

from support import Wheelhouse


@pytest.fixture
def config(tmp_path: Path, wheelhouse: Wheelhouse) -> Path:
    path = tmp_path / "work" / "lazyext.toml"
    path.write_text(
        wheelhouse.toml()
        + 'extra-index-urls = ["https://bob:s3cret@private.example/simple"]\n'
        + '[[extensions]]\nname = "pthpkg"\npackage = "pthpkg"\n'
        + '[[extensions]]\nname = "nosuch"\npackage = "nosuchdist"\n'
        + '[[extensions]]\nname = "pytest"\npackage = "pytest>=1"\n'
        + '[[extensions]]\nname = "later"\npackage = "alpha"\nmodules = ["alpha"]\n',
        encoding="utf-8",
    )
    return path


def doctor(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = cli.main(["doctor", "--json", *argv])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def _rows(data: dict[str, Any]) -> dict[str, Any]:
    return {row["name"]: row for row in data["extensions"]}


def test_doctor_reports_every_field(
    capsys: pytest.CaptureFixture[str], config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lazyext.activate(config)
    import pthpkg  # type: ignore[import-not-found]  # noqa: F401

    with pytest.raises(ModuleNotFoundError):
        import nosuch  # type: ignore[import-not-found]  # noqa: F401
    with pytest.raises(lazyext.DistributionNotFound):
        lazyext.ensure("nosuch")
    monkeypatch.setenv("UV_OFFLINE", "1")
    code, data, _ = doctor(capsys)
    assert code == 1  # a failed extension is a problem found
    rows = _rows(data)

    healthy = rows["pthpkg"]["diagnosis"]
    assert rows["pthpkg"]["state"] == "healthy"
    assert healthy["finder"] == {"pthpkg": "lazyext.LazyFinder: served from the cache"}
    assert healthy["entry"]["version"] == "1.0"
    assert healthy["entry"]["distributions"] == ["pthpkg==1.0"]
    assert Path(healthy["entry"]["target"], "pthpkg").is_dir()
    assert healthy["host"]["pthpkg"]["shadows"] is False
    assert healthy["failure"] is None
    (pth,) = healthy["pth"]
    assert pth["file"] == "pthpkg.pth"
    assert pth["effects"] == [f"adds to sys.path: {Path(healthy['entry']['target'], 'pthlib')}"]

    failed = rows["nosuch"]
    assert failed["ok"] is False
    assert failed["state"] == "failed"
    assert failed["failure"]["type"] == "DistributionNotFound"
    assert "retries in" in failed["failure"]["summary"]
    assert failed["diagnosis"]["finder"] == {
        "nosuch": "lazyext.LazyFinder: installs on first import"
    }

    shadowed = rows["pytest"]
    assert shadowed["state"] == "shadowed"
    host = shadowed["diagnosis"]["host"]["pytest"]
    assert host["shadows"] is True
    assert host["satisfies"] is True
    assert host["distribution"].startswith("pytest==")
    assert shadowed["diagnosis"]["finder"]["pytest"].startswith("PathFinder (host)")

    assert rows["later"]["state"] == "not installed yet"

    setup = data["setup"]
    assert setup["python"]["platform"] == data["platform"]
    assert setup["uv"]["version"].startswith("uv ")
    assert Path(setup["uv"]["path"]).is_file()
    assert setup["cache"]["safe"] is True
    assert setup["cache"]["writable_by_others"] is False
    assert setup["index"]["extra_index_urls"] == ["https://bob:***@private.example/simple"]
    assert "environment" in setup["index"]["credentials"]
    assert setup["offline"] == {"offline": True, "because": "UV_OFFLINE=1"}
    assert "s3cret" not in json.dumps(data)


def test_doctor_text_and_names(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    assert cli.main(["doctor", "pthpkg", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "pthpkg: not installed yet: the first import installs it" in out
    assert "uv:" in out
    assert "cache:" in out
    assert "nosuch" not in out
    assert cli.main(["doctor", "nope", "--config", str(config)]) == 2


def test_status_shows_remembered_failures(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    lazyext.activate(config)
    with pytest.raises(ModuleNotFoundError):
        import nosuch  # type: ignore[import-not-found]  # noqa: F401
    assert cli.main(["status", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("nosuch "))
    assert line.split()[:2] == ["nosuch", "failed"]
    assert "nosuch: failed 0 s ago (DistributionNotFound" in out or "s ago (Distribution" in out
    # invalidate forgets it
    assert cli.main(["invalidate", "nosuch", "--config", str(config)]) == 0
    capsys.readouterr()
    assert cli.main(["status", "--config", str(config), "--json"]) == 0
    rows = _rows(json.loads(capsys.readouterr().out))
    assert rows["nosuch"]["state"] == "missing"
    assert rows["nosuch"]["failure"] is None


def test_a_dotted_name_ending_in_a_stdlib_name_is_not_shadowed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    house = Wheelhouse(tmp_path / "wheels")
    house.build("nsx.functools", "1.0", {"nsx/functools/__init__.py": ""})
    config = tmp_path / "work" / "lazyext.toml"
    config.write_text(
        house.toml() + '[[extensions]]\nname = "nsx.functools"\npackage = "nsx.functools"\n'
    )
    code, data, _ = doctor(capsys, "--config", str(config))
    row = _rows(data)["nsx.functools"]
    assert row["state"] == "not installed yet", row["detail"]
    assert row["diagnosis"]["host"]["nsx.functools"]["module"] is None  # not functools.py
    assert row["diagnosis"]["finder"]["nsx.functools"].startswith("lazyext.LazyFinder")
    lazyext.activate(config)
    import nsx.functools  # type: ignore[import-not-found]  # noqa: F401

    code, data, _ = doctor(capsys, "--config", str(config))
    assert code == 0
    assert _rows(data)["nsx.functools"]["state"] == "healthy"


def test_doctor_prints_uvs_explanation_of_a_conflict(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    house = Wheelhouse(tmp_path / "wheels")
    for version in ("1.0", "2.0"):
        house.build("sdep", version, {"sdep/__init__.py": ""})
    house.build("aone", "1.0", {"aone/__init__.py": ""}, requires=("sdep>=2",))
    house.build("atwo", "1.0", {"atwo/__init__.py": ""}, requires=("sdep<2",))
    config = tmp_path / "work" / "lazyext.toml"
    config.write_text(
        house.toml()
        + '[[extensions]]\nname = "aone"\npackage = "aone"\n'
        + '[[extensions]]\nname = "atwo"\npackage = "atwo"\n'
    )
    lazyext.activate(config)
    with pytest.raises(lazyext.ResolutionError):
        import aone  # type: ignore[import-not-found]  # noqa: F401
    assert cli.main(["doctor", "aone", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "(uv's explanation below)" in out
    below = out.split("(uv's explanation below)", 1)[1]
    assert "uv said:" in below
    assert "depend on sdep<2" in below  # uv's own words, printed


def test_doctor_checks_the_served_environment_against_the_hosts_requirements(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cache-served anyio<4 under a host starlette that requires anyio>=4.
    house = Wheelhouse(tmp_path / "wheels")
    for version in ("3.0", "4.0"):
        house.build("anyx", version, {"anyx/__init__.py": f"V = {version!r}\n"})
    host = tmp_path / "host"
    for name, version, requires in (("anyx", "4.0", ""), ("starl", "1.0", "anyx>=4")):
        (host / name).mkdir(parents=True)
        (host / name / "__init__.py").write_text("")
        info = host / f"{name}-{version}.dist-info"
        info.mkdir()
        lines = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        (info / "METADATA").write_text(lines + (f"Requires-Dist: {requires}\n" if requires else ""))
    monkeypatch.syspath_prepend(str(host))
    config = tmp_path / "work" / "lazyext.toml"
    config.write_text(house.toml() + '[[extensions]]\nname = "anyx"\npackage = "anyx<4"\n')
    lazyext.activate(config)
    import anyx  # type: ignore[import-not-found]

    assert anyx.V == "3.0"  # the configured version replaces the host's
    code, data, _ = doctor(capsys, "--config", str(config))
    assert code == 1
    row = _rows(data)["anyx"]
    assert row["ok"] is False
    assert row["state"] == "conflict with the host"
    assert row["problems"] == [
        "the host's starl 1.0 requires anyx>=4, but anyx 3.0 is imported from the cache (an "
        "extension's version replaces the host's for the whole process): relax the "
        "extension's requirement, or change the host's distribution"
    ]
