"""The cache tells other tools to skip it (issue 25 item 6): ``CACHEDIR.TAG`` with the
Cache Directory Tagging spec's signature, and a ``.gitignore`` of ``*``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import lazyext
from lazyext import _trust

SIGNATURE = "Signature: 8a477f597d28d172789f06886806bc55"


def test_a_new_cache_is_tagged(tmp_path: Path) -> None:
    cache = tmp_path / "project" / "cache"
    lazyext.activate({"alpha": "alpha"}, cache_dir=cache)
    assert (cache / "CACHEDIR.TAG").read_text(encoding="utf-8").startswith(SIGNATURE + "\n")
    assert (cache / ".gitignore").read_text(encoding="utf-8") == "*\n"


def test_an_existing_cache_gets_the_tags_it_lacks(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    (cache / ".gitignore").write_text("mine\n", encoding="utf-8")
    _trust.ensure_root(str(cache))
    assert (cache / "CACHEDIR.TAG").read_text(encoding="utf-8").startswith(SIGNATURE)
    assert (cache / ".gitignore").read_text(encoding="utf-8") == "mine\n"  # never replaced


def test_once_per_process_and_root(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _trust.ensure_root(str(cache))
    (cache / "CACHEDIR.TAG").unlink()
    _trust.ensure_root(str(cache))  # memoised: no file system call at all
    assert not (cache / "CACHEDIR.TAG").exists()


def test_a_read_only_cache_works_without_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)

    def refuse(path: str, flags: int, mode: int = 0o777) -> int:
        raise OSError(30, "Read-only file system", path)

    monkeypatch.setattr(_trust.os, "open", refuse)
    assert _trust.ensure_root(str(cache)) == str(cache.resolve())


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_ignores_a_cache_inside_a_repository(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    (project / "app.py").write_text("", encoding="utf-8")
    cache = project / "cache"
    lazyext.activate({"alpha": "alpha"}, cache_dir=cache)
    assert any(cache.iterdir())
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout == "?? app.py\n"


@pytest.mark.skipif(shutil.which("tar") is None, reason="needs tar")
def test_tar_exclude_caches_recognises_the_tag(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    lazyext.activate({"alpha": "alpha"}, cache_dir=cache)
    (cache / "entries").mkdir(exist_ok=True)
    (cache / "entries" / "file").write_text("x", encoding="utf-8")
    listed = subprocess.run(
        ["tar", "--exclude-caches", "-cf", "-", "cache"],
        cwd=tmp_path,
        capture_output=True,
        check=True,
    )
    names = subprocess.run(
        ["tar", "-tf", "-"], input=listed.stdout, capture_output=True, check=True
    ).stdout.decode()
    assert "cache/CACHEDIR.TAG" in names.split()  # GNU tar keeps the tag itself
    assert "cache/entries/file" not in names
