"""Config discovery walks up from the working directory and from the main script's
directory, stopping at a repository root; without a config, activate() says where it
looked."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

import lazyext
from lazyext import cli
from lazyext._settings import load as _load

from support import Wheelhouse


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_found_from_a_subdirectory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    config = _write(project / "lazyext.toml", '[[extensions]]\nname = "up"\n')
    deep = project / "src" / "app" / "deeper"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    loaded = lazyext.activate()
    assert loaded.source == str(config)
    assert [plan.name for plan in loaded.plans] == ["up"]


def test_a_pyproject_without_the_table_is_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    config = _write(
        project / "pyproject.toml", '[tool.lazyext]\n[[tool.lazyext.extensions]]\nname = "p"\n'
    )
    _write(project / "pkg" / "pyproject.toml", '[project]\nname = "pkg"\n')
    monkeypatch.chdir(project / "pkg")
    assert lazyext.activate().source == str(config)


def test_the_walk_stops_at_a_repository_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _write(tmp_path / "lazyext.toml", '[[extensions]]\nname = "outside"\n')
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "sub").mkdir()
    monkeypatch.chdir(repo / "sub")
    with caplog.at_level(logging.WARNING, logger="lazyext"):
        loaded = lazyext.activate()
    assert loaded.source == "<defaults>"
    assert f"{repo / 'sub'} up to {repo}" in caplog.text
    assert "no lazyext config found" in caplog.text


def test_found_from_the_main_scripts_directory(
    tmp_path: Path, wheelhouse: Wheelhouse, cache_dir: Path
) -> None:
    """`cd / && python app/app.py`: the app's config is found next to the script."""
    app = tmp_path / "app"
    _write(
        app / "lazyext.toml",
        wheelhouse.toml() + '[[extensions]]\nname = "tinyyaml"\npackage = "TinyYaml>=6"\n',
    )
    script = _write(
        app / "app.py",
        "import lazyext\nprint(lazyext.activate().source)\n"
        "import tinyyaml\nprint(tinyyaml.load(''))\n",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    import subprocess

    result = subprocess.run(
        [sys.executable, str(script)], cwd=elsewhere, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(app / "lazyext.toml"), "42"]


def test_status_says_which_file_was_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write(tmp_path / "project" / "lazyext.toml", '[[extensions]]\nname = "x"\n')
    (tmp_path / "project" / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "project" / "sub")
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert f"config: {config}" in out
    assert _load.discover() == str(config)


def test_the_warm_path_memo_still_hits_from_a_subdirectory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "project" / "lazyext.toml", '[[extensions]]\nname = "x"\n')
    (tmp_path / "project" / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "project" / "a" / "b")
    first = lazyext.activate()
    calls: list[object] = []
    from lazyext._settings import parse as _parse

    monkeypatch.setattr(_parse, "parse_file", lambda *a, **k: calls.append(a))
    assert lazyext.activate() == first
    assert calls == []
    assert os.getcwd().endswith("b")
