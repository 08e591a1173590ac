"""Bytecode (issue 11): not compiled on the import path; the interpreter writes it as
it imports; ``lazyext warm`` and refresh compile ahead at the interpreter's own level;
``verify`` treats ``__pycache__`` as derived data."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import lazyext
from lazyext._store import bytecode as _bytecode
from lazyext._store import entries as _cache

from support import Wheelhouse, entry_of, gc_collect, python_env

MODULES = {
    "twomods/__init__.py": "VALUE = 1\n",
    "twomods/used.py": "X = 1\n",
    "twomods/unused.py": "Y = 2\n",
}


@pytest.fixture
def house(tmp_path: Path) -> Wheelhouse:
    house = Wheelhouse(tmp_path / "wheels")
    house.build("twomods", "1.0", MODULES)
    return house


@pytest.fixture
def config(tmp_path: Path, house: Wheelhouse) -> Path:
    path = tmp_path / "lazyext.toml"
    path.write_text(
        house.toml() + '\n[[extensions]]\nname = "twomods"\npackage = "twomods"\n',
        encoding="utf-8",
    )
    return path


def _compiled(target: Path) -> list[str]:
    return sorted(str(p.relative_to(target)) for p in target.rglob("__pycache__/*"))


def _pyc(target: Path, module: str, optimization: int = 0) -> Path:
    source = str(target / module)
    return Path(importlib.util.cache_from_source(source, optimization=optimization or ""))


def _cli(config: Path, *argv: str, flags: tuple[str, ...] = ()) -> str:
    env = python_env(PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run(
        [sys.executable, *flags, "-m", "lazyext", "--config", str(config), *argv],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_an_install_on_import_compiles_nothing_ahead(house: Wheelhouse, cache_dir: Path) -> None:
    target = lazyext.ensure("twomods", **house.options(cache_dir))
    assert (target / "twomods" / "unused.py").is_file()
    assert _compiled(target) == []


def test_the_interpreter_writes_bytecode_of_what_it_imports(
    house: Wheelhouse, cache_dir: Path
) -> None:
    env = python_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    code = (
        "import lazyext\n"
        f"lazyext.activate({{'twomods': 'twomods'}}, find_links=[{str(house.path)!r}], "
        "no_index=True)\n"
        "import twomods.used\nprint(twomods.__file__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    target = Path(done.stdout.strip()).parent.parent
    assert _pyc(target, "twomods/used.py").is_file()
    assert _pyc(target, "twomods/__init__.py").is_file()
    assert not _pyc(target, "twomods/unused.py").exists()  # never imported, never compiled
    # verify: bytecode is derived data, not a file "listed in no RECORD".
    assert _cli_verify(target) == []


def _cli_verify(target: Path) -> list[str]:
    from lazyext._store.verify import verify

    entry = _cache.read_entry(str(target.parent))
    assert entry is not None
    return verify(entry)


@pytest.mark.parametrize("optimize", [0, 1])
def test_warm_compiles_ahead_at_the_interpreters_level(config: Path, optimize: int) -> None:
    _cli(config, "warm", flags=("-O",) * optimize)
    target = _target(config)
    for module in MODULES:
        assert _pyc(target, module, optimize).is_file(), _compiled(target)
    assert not _pyc(target, "twomods/used.py", 1 - optimize).exists()
    assert _cli_verify(target) == []
    assert "ok" in _cli(config, "verify")


def test_warm_no_compile_leaves_it_to_the_interpreter(config: Path) -> None:
    _cli(config, "warm", "--no-compile")
    assert _compiled(_target(config)) == []
    # A later warm compiles what is already installed.
    _cli(config, "warm")
    assert _pyc(_target(config), "twomods/unused.py").is_file()


def test_refresh_compiles_the_new_generation(config: Path, house: Wheelhouse) -> None:
    _cli(config, "warm", "--no-compile")
    first = _target(config)
    house.build("twomods", "1.1", MODULES)  # a new release: the refresh installs it
    _cli(config, "refresh", "--force")
    second = _target(config)
    assert second != first
    assert _pyc(second, "twomods/unused.py").is_file()


def _target(config: Path) -> Path:
    loaded = lazyext.activate(config)
    lazyext.deactivate()
    return entry_of(Path(loaded.settings.cache_dir), "twomods") / "target"


def test_what_counts_as_derived() -> None:
    listed = {os.path.join("pkg", "mod.py"), "top.py"}
    tag = sys.implementation.cache_tag
    for name in (f"mod.{tag}.pyc", f"mod.{tag}.opt-1.pyc", f"mod.{tag}.pyc.140523"):
        assert _bytecode.derived(os.path.join("pkg", "__pycache__", name), listed), name
    assert _bytecode.derived(os.path.join("__pycache__", f"top.{tag}.pyc"), listed)
    for relative in (
        os.path.join("pkg", "__pycache__", f"evil.{tag}.pyc"),  # no such source
        os.path.join("pkg", "__pycache__", "mod.pth"),
        os.path.join("pkg", "__pycache__", f"mod.{tag}.pyc.tmp"),
        os.path.join("pkg", f"mod.{tag}.pyc"),  # next to the source: importable, not derived
        os.path.join("pkg", "__pycache__", "mod"),
    ):
        assert not _bytecode.derived(relative, listed), relative


def test_verify_still_reports_bytecode_without_a_listed_source(
    house: Wheelhouse, cache_dir: Path
) -> None:
    target = lazyext.ensure("twomods", **house.options(cache_dir))
    planted = target / "twomods" / "__pycache__" / f"evil.{sys.implementation.cache_tag}.pyc"
    planted.parent.mkdir()
    planted.write_bytes(b"\0" * 16)
    leftover = _pyc(target, "twomods/used.py").with_suffix(".pyc.12345")
    leftover.write_bytes(b"\0")  # a killed interpreter's temporary file: derived
    problems = _cli_verify(target)
    assert problems == [f"{planted.relative_to(target)}: listed in no RECORD"]


def test_compile_target_reports_a_module_that_does_not_compile(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text("X = 1\n", encoding="utf-8")
    (tmp_path / "bad.py").write_text("print 'python 2'\n", encoding="utf-8")
    assert _bytecode.compile_target(str(tmp_path)) is False
    assert _pyc(tmp_path, "good.py").is_file()


def test_compiling_never_touches_the_callers_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `lazyext warm` compiles from several threads of the caller's process: swapping
    # sys.stdout (contextlib.redirect_stdout) there lost a program's output for good.
    import compileall

    (tmp_path / "bad.py").write_text("print 'python 2'\n", encoding="utf-8")
    original = sys.stdout
    real = compileall.compile_dir
    seen: list[object] = []

    def watched(*args: object, **kwargs: object) -> bool:
        seen.append(sys.stdout)
        return bool(real(*args, **kwargs))  # type: ignore[arg-type]

    monkeypatch.setattr(compileall, "compile_dir", watched)
    assert _bytecode.compile_target(str(tmp_path)) is False
    assert seen == [original]
    assert sys.stdout is original
    assert capsys.readouterr().out == ""


def test_gc_keeps_an_install_whose_bytecode_was_written_after_publish(
    house: Wheelhouse, cache_dir: Path
) -> None:

    target = lazyext.ensure("twomods", **house.options(cache_dir))
    assert _bytecode.compile_target(str(target)) is True
    assert _compiled(target)
    report = gc_collect(str(cache_dir.resolve()), grace_seconds=0)
    assert report.removed == []
    assert target.is_dir()
    assert _cli_verify(target) == []
