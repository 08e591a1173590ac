"""The public API end to end: activate, first import, cached import, ensure, invalidate."""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from pathlib import Path

import pytest

import lazyext

from support import Wheelhouse, python_env, run_python


def test_first_import_installs_and_returns_the_real_module(
    wheelhouse: Wheelhouse, cache_dir: Path
) -> None:
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **wheelhouse.options(cache_dir))
    import tinyyaml  # type: ignore[import-not-found]

    assert tinyyaml.load("") == 42
    assert tinyyaml.__version__ == "6.1"
    assert str(cache_dir) in tinyyaml.__file__
    assert tinyyaml.__spec__.origin == tinyyaml.__file__
    assert type(tinyyaml.__spec__.loader).__name__ == "SourceFileLoader"
    assert importlib.metadata.version("TinyYaml") == "6.1"
    assert importlib.metadata.version("tinydep") == "1.0"


def test_second_process_uses_the_cache_without_uv(wheelhouse: Wheelhouse, cache_dir: Path) -> None:
    code = f"""
        import sys, lazyext
        lazyext.activate({{"tinyyaml": "TinyYaml>=6"}}, find_links=[{str(wheelhouse.path)!r}],
                         no_index=True)
        import tinyyaml
        print(tinyyaml.load(""))
        print(sorted(m for m in ("subprocess", "filelock", "packaging", "platformdirs")
                     if m in sys.modules))
    """
    first = run_python(code)
    assert first.returncode == 0, first.stderr
    second = run_python(code, env=python_env(PATH="/nonexistent"))
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == ["42", "[]"]


def test_unconfigured_names_are_not_touched(wheelhouse: Wheelhouse, cache_dir: Path) -> None:
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **wheelhouse.options(cache_dir))
    with pytest.raises(ModuleNotFoundError):
        import tinydep  # type: ignore[import-not-found]  # noqa: F401
    assert not (cache_dir / "entries").exists()


def test_deactivate_removes_finders_and_paths(wheelhouse: Wheelhouse, cache_dir: Path) -> None:
    before_path, before_meta = list(sys.path), list(sys.meta_path)
    lazyext.activate({"pthpkg": "pthpkg"}, **wheelhouse.options(cache_dir))
    import pthpkg  # type: ignore[import-not-found]

    assert pthpkg.WHERE == "pth"
    assert sys.path != before_path
    lazyext.deactivate()
    assert sys.path == before_path
    assert sys.meta_path == before_meta


def test_ensure_and_invalidate(wheelhouse: Wheelhouse, cache_dir: Path) -> None:
    target = lazyext.ensure("alpha==1.0", **wheelhouse.options(cache_dir))
    assert (target / "alpha" / "__init__.py").is_file()
    assert importlib.import_module("alpha").NAME == "alpha"
    assert lazyext.invalidate("alpha==1.0", **wheelhouse.options(cache_dir)) == 1
    again = lazyext.ensure("alpha==1.0", **wheelhouse.options(cache_dir))
    assert again != target
    assert again.is_dir()
