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


# -- the public surface ------------------------------------------------------------------


def test_all_matches_the_public_exports() -> None:
    assert lazyext.__all__ == sorted(lazyext.__all__)
    for name in lazyext.__all__:
        assert hasattr(lazyext, name), name
    import types

    public = {
        name
        for name, value in vars(lazyext).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name not in {"annotations", "TYPE_CHECKING"}
    }
    # Heavy classes and the error classes are served lazily by __getattr__ (checked by
    # hasattr above).
    assert public == set(lazyext.__all__) - set(lazyext._LAZY) - set(lazyext._ERRORS)
    for name in ("activate", "deactivate", "ensure", "invalidate", "Extension", "warm"):
        assert name in lazyext.__all__
    assert set(dir(lazyext)) >= set(lazyext.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = lazyext.nope  # type: ignore[attr-defined]


def test_error_tree() -> None:
    assert issubclass(lazyext.ConfigError, lazyext.LazyextError)
    assert issubclass(lazyext.ConfigError, ValueError)
    assert issubclass(lazyext.InstallError, lazyext.LazyextError)
    assert issubclass(lazyext.InstallError, ImportError)
    assert issubclass(lazyext.LockTimeout, TimeoutError)
    assert issubclass(lazyext.UnsafeCacheError, PermissionError)
    assert issubclass(lazyext.LazyextError, Exception)


def test_install_error_pickles_with_its_data() -> None:
    import pickle

    error = lazyext.InstallError(
        "cannot install x",
        name="x",
        spec="x>=1",
        returncode=1,
        stderr_tail="error: No solution found",
        cache_key="k",
        transient=False,
        security=True,
    )
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is lazyext.InstallError
    for attribute in ("name", "spec", "returncode", "stderr_tail", "cache_key", "security"):
        assert getattr(copy, attribute) == getattr(error, attribute)
    assert str(copy) == str(error)
    assert "uv said:" in str(error)
    assert "No solution found" in str(error)


def test_activate_is_idempotent_and_returns_the_config(
    wheelhouse: Wheelhouse, cache_dir: Path
) -> None:
    first = lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **wheelhouse.options(cache_dir))
    meta = list(sys.meta_path)
    second = lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **wheelhouse.options(cache_dir))
    assert first == second
    assert sys.meta_path == meta
    assert [plan.name for plan in first.plans] == ["tinyyaml"]


def test_ensure_a_configured_name_and_a_requirement(
    wheelhouse: Wheelhouse, cache_dir: Path
) -> None:
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **wheelhouse.options(cache_dir))
    by_name = lazyext.ensure("tinyyaml")
    by_requirement = lazyext.ensure("TinyYaml>=6")
    assert isinstance(by_name, Path)
    assert by_name == by_requirement
    assert by_name.name == "target"
    # Importable now, without installing again.
    assert importlib.import_module("tinyyaml").__file__.startswith(str(by_name))
    # A requirement that is not configured is installed with the active settings.
    alpha = lazyext.ensure("alpha==1.0")
    assert str(cache_dir.resolve()) in str(alpha)
    assert importlib.import_module("alpha").NAME == "alpha"


def test_ensure_without_activate(wheelhouse: Wheelhouse, cache_dir: Path) -> None:
    target = lazyext.ensure("alpha", **wheelhouse.options(cache_dir))
    assert importlib.import_module("alpha").__file__.startswith(str(target))


def test_invalidate_counts_and_ensure_reinstalls(wheelhouse: Wheelhouse, cache_dir: Path) -> None:
    lazyext.activate({"alpha": "alpha"}, **wheelhouse.options(cache_dir))
    assert lazyext.invalidate("alpha") == 0  # nothing installed yet
    first = lazyext.ensure("alpha")
    assert lazyext.invalidate("alpha") == 1
    assert lazyext.ensure("alpha") != first
