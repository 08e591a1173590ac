"""``lazyext search``, ``add`` and ``remove``: checked before the config is edited."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from lazyext import cli

from support import Wheelhouse

CONFIG = """\
# Our extensions. Keep this comment.
find-links = ["{wheels}"]
no-index = true
registry = ["registry.toml"]

[[extensions]]
name = "needsnew"   # needs shared>=2
package = "needsnew"
"""

REGISTRY = """\
[[extensions]]
name = "yamlish"
package = "PyYamlish>=1"
modules = ["yamlish"]
description = "Reads YAML-ish files"
tags = ["yaml", "config"]
homepage = "https://example.org/yamlish"

[[extensions]]
name = "old"
package = "needsold"
description = "Needs an old shared"
"""


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    house = Wheelhouse(tmp_path_factory.mktemp("registry-wheels"))
    house.build("PyYamlish", "1.0", {"yamlish/__init__.py": "X = 1\n", "_yamlish/__init__.py": ""})
    house.build("shared", "1.0", {"shared/__init__.py": "V = 1\n"})
    house.build("shared", "2.0", {"shared/__init__.py": "V = 2\n"})
    house.build("needsnew", "1.0", {"needsnew/__init__.py": ""}, requires=("shared>=2",))
    house.build("needsold", "1.0", {"needsold/__init__.py": ""}, requires=("shared<2",))
    house.build("plain", "1.0", {"plain/__init__.py": ""})
    elsewhere = house.build("winonly", "1.0", {"winonly/__init__.py": ""})
    elsewhere.rename(elsewhere.with_name("winonly-1.0-cp311-cp311-win_amd64.whl"))
    return house.path


@pytest.fixture
def project(tmp_path: Path, wheels: Path) -> Path:
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "lazyext.toml").write_text(CONFIG.format(wheels=wheels), encoding="utf-8")
    (folder / "registry.toml").write_text(REGISTRY, encoding="utf-8")
    return folder / "lazyext.toml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_search(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    code, out, _ = run(capsys, "--config", str(project), "search", "yaml")
    assert code == 0
    assert out.splitlines()[0].split() == ["NAME", "PACKAGE", "TAGS", "DESCRIPTION"]
    assert out.splitlines()[1].split()[:3] == ["yamlish", "PyYamlish>=1", "yaml,config"]
    code, out, _ = run(capsys, "--config", str(project), "search", "old", "--json")
    data: dict[str, Any] = json.loads(out)
    assert (code, data["command"], data["ok"]) == (0, "search", True)
    assert [row["name"] for row in data["extensions"]] == ["old"]
    assert data["extensions"][0]["modules"] == ["old"]
    assert run(capsys, "--config", str(project), "search", "nothing")[1].startswith("no extension")


def test_add_from_the_registry_keeps_the_file_as_it_was(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    before = project.read_text(encoding="utf-8")
    code, out, err = run(capsys, "--config", str(project), "add", "yamlish")
    assert code == 0, err
    assert out.startswith(f"added yamlish (PyYamlish>=1) to {project}; import yamlish\n")
    assert "  pyyamlish==1.0\n" in out
    assert project.read_text(encoding="utf-8") == before + (
        '\n[[extensions]]\nname = "yamlish"\npackage = "PyYamlish>=1"\nmodules = ["yamlish"]\n'
    )


def test_add_a_requirement_finds_its_import_names(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    code, out, err = run(capsys, "--config", str(project), "add", "PyYamlish", "--json")
    assert code == 0, err
    data = json.loads(out)
    # The wheel provides `yamlish` (and the private `_yamlish`), not `pyyamlish`.
    assert data["extension"] == {
        "name": "pyyamlish",
        "package": "PyYamlish",
        "modules": ["yamlish"],
    }
    assert data["distributions"] == [{"name": "pyyamlish", "version": "1.0"}]
    assert 'name = "pyyamlish"\npackage = "PyYamlish"\nmodules = ["yamlish"]\n' in (
        project.read_text(encoding="utf-8")
    )


@pytest.mark.parametrize(
    ("target", "said"),
    [
        # A conflict with an extension already there: uv's explanation, and who.
        ("old", "the extensions needsnew, old cannot be installed together"),
        ("nosuchdist", "nosuchdist is not available from the index"),
        # A wheel, but not for this interpreter.
        ("winonly", "cannot add winonly: winonly 1.0 has no wheel for this interpreter"),
    ],
)
def test_a_refused_add_changes_nothing(
    target: str, said: str, capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    before = project.read_bytes()
    code, out, err = run(capsys, "--config", str(project), "add", target)
    assert code == 1, out + err
    assert f"lazyext: cannot add '{target}' to {project}: " in err
    assert said in err
    assert f"lazyext: {project} is unchanged" in err
    assert project.read_bytes() == before


def test_a_conflict_shows_uvs_explanation(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    _code, _out, err = run(capsys, "--config", str(project), "add", "old")
    assert "uv said:" in err
    assert "shared" in err.partition("uv said:")[2]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["add", "not a requirement!"],
            "'not a requirement!' is neither an extension of the registries nor a valid",
        ),
        (["add", "needsnew"], "already has the extension 'needsnew'"),
        (["add", "plain", "--module", "os"], "standard library"),
        (["remove", "nosuch"], "no configured extension named 'nosuch'"),
    ],
)
def test_usage_errors_exit_2_and_change_nothing(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    before = project.read_bytes()
    code, _, err = run(capsys, "--config", str(project), *argv)
    assert code == 2
    assert said in err
    assert project.read_bytes() == before


def test_remove(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    assert run(capsys, "--config", str(project), "add", "plain")[0] == 0
    code, out, _ = run(capsys, "--config", str(project), "remove", "plain")
    assert code == 0
    assert out == f"removed plain (plain) from {project}\n"
    assert project.read_text(encoding="utf-8") == CONFIG.format(
        wheels=project.read_text(encoding="utf-8").split('"')[1]
    )


def test_add_and_remove_keep_the_lock_in_step(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    text = project.read_text(encoding="utf-8").replace(
        "no-index = true\n", 'no-index = true\nlock = "pylock.toml"\n'
    )
    project.write_text(text, encoding="utf-8")
    lock = project.with_name("pylock.toml")
    assert run(capsys, "--config", str(project), "lock")[0] == 0
    assert 'name = "plain"' not in lock.read_text(encoding="utf-8")
    code, out, err = run(capsys, "--config", str(project), "add", "plain")
    assert code == 0, err
    assert f"updated the lock {lock}" in out
    assert 'name = "plain"' in lock.read_text(encoding="utf-8")
    code, out, _ = run(capsys, "--config", str(project), "status", "--json")
    assert {row["name"]: row["ok"] for row in json.loads(out)["extensions"]} == {
        "needsnew": True,
        "plain": True,
    }
    assert run(capsys, "--config", str(project), "remove", "plain")[0] == 0
    assert 'name = "plain"' not in lock.read_text(encoding="utf-8")


def test_add_without_a_config_creates_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, wheels: Path
) -> None:
    shutil.copy(wheels / "plain-1.0-py3-none-any.whl", tmp_path / "work")
    code, _, err = run(
        capsys, "add", "plain @ file://" + str(tmp_path / "work" / "plain-1.0-py3-none-any.whl")
    )
    assert code == 2  # a direct URL needs allow-direct-urls: refused before anything
    assert "allow-direct-urls" in err
    assert not (tmp_path / "work" / "lazyext.toml").exists()
