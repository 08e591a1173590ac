"""The meta-path finders and the provisioning loader, with real installs (_finder, _runtime)."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from importlib.machinery import PathFinder, SourceFileLoader
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import lazyext
from fake_uv import UvShim, failing_install_of
from lazyext import _api, _use
from lazyext._importer import finder as _finder
from lazyext._importer import view as _view
from lazyext._settings.names import DistKey, ReqKey
from lazyext._store import entries as _cache
from lazyext._store import guard
from lazyext._store import layers as _layers
from lazyext._uv import command as _installer

from support import Wheelhouse, entry_of, publications

COUNT_VAR = "LAZYEXT_TEST_PTH_COUNT"


@pytest.fixture(scope="module")
def extra_wheels(tmp_path_factory: pytest.TempPathFactory) -> Wheelhouse:
    house = Wheelhouse(tmp_path_factory.mktemp("finder-wheels"))
    house.build(
        "countpth",
        "1.0",
        {
            "countpth/__init__.py": "import count_extra\nWHERE = count_extra.WHERE\n",
            "countlib/count_extra.py": "WHERE = 'countlib'\n",
            "countpth.pth": (
                "countlib\n"
                f"import os; os.environ['{COUNT_VAR}'] = "
                f"str(int(os.environ.get('{COUNT_VAR}', '0')) + 1)\n"
            ),
        },
    )
    house.build(
        "shadowing",
        "1.0",
        {
            "shadowing/__init__.py": "import colorsys\nSTDLIB = colorsys.__file__\n",
            # A stdlib name shipped by a dependency must never be imported from it.
            "colorsys.py": "raise RuntimeError('shadowed the standard library')\n",
        },
    )
    return house


@pytest.fixture
def shim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UvShim:
    """The real uv behind a shim that counts runs."""
    shim = UvShim(tmp_path / "shim")
    monkeypatch.setattr(_installer, "uv_binary", lambda: str(shim))
    return shim


def options(cache_dir: Path, *houses: Wheelhouse) -> dict[str, Any]:
    return {
        "cache_dir": cache_dir,
        "find_links": [str(house.path) for house in houses],
        "no_index": True,
    }


def generations(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / "entries").glob("*/*/g*"))


def run_threads(count: int, work: Callable[[], object]) -> list[object]:
    """Run ``work`` in ``count`` threads released together; results or exceptions."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def one(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work()
        except BaseException as error:
            results[index] = error

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "an importing thread hung"
    return results


# -- cold import -----------------------------------------------------------------------


def test_cold_import_returns_the_installed_package_itself(
    wheelhouse: Wheelhouse, cache_dir: Path, shim: UvShim
) -> None:
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options(cache_dir, wheelhouse))
    import tinyyaml  # type: ignore[import-not-found]

    assert len(shim.runs()) == 1
    assert publications(cache_dir) == {"tinyyaml": 1, "tinydep": 1}
    target = entry_of(cache_dir, "TinyYaml") / "target"
    real = PathFinder.find_spec("tinyyaml", [str(target)])
    assert real is not None
    spec = tinyyaml.__spec__
    assert spec.name == "tinyyaml"
    assert spec.origin == real.origin == str(target / "tinyyaml" / "__init__.py")
    assert tinyyaml.__file__ == real.origin
    assert tinyyaml.__path__ == real.submodule_search_locations == [str(target / "tinyyaml")]
    assert spec.submodule_search_locations == tinyyaml.__path__
    assert type(spec.loader) is SourceFileLoader
    assert spec.loader.path == real.origin  # type: ignore[attr-defined]
    assert tinyyaml.__loader__ is spec.loader
    assert spec.parent == "tinyyaml"
    assert spec.has_location
    assert spec.cached == real.cached
    assert tinyyaml.load("") == 42
    # The dependency came from the same install run, published as its own entry.
    dependency = entry_of(cache_dir, "tinydep") / "target" / "tinydep" / "__init__.py"
    assert sys.modules["tinydep"].__file__ == str(dependency)


def test_a_configured_plain_module(wheelhouse: Wheelhouse, cache_dir: Path, shim: UvShim) -> None:
    lazyext.activate(
        [
            lazyext.Extension(
                name="tinyyaml", package="TinyYaml>=6", modules=["tinyyaml", "_tinyyaml_speedups"]
            )
        ],
        **options(cache_dir, wheelhouse),
    )
    speedups = importlib.import_module("_tinyyaml_speedups")
    assert speedups.FAST is True
    assert not hasattr(speedups, "__path__")
    assert speedups.__spec__.submodule_search_locations is None
    assert speedups.__spec__.parent == ""
    assert importlib.import_module("tinyyaml").load("") == 42
    assert len(shim.runs()) == 1


@pytest.mark.parametrize("first", ["tinyyaml.sub", "tinyyaml"])
def test_submodules(wheelhouse: Wheelhouse, cache_dir: Path, first: str) -> None:
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options(cache_dir, wheelhouse))
    importlib.import_module(first)
    from tinyyaml import sub  # type: ignore[import-not-found]

    assert sub.X == 1
    assert sub.__name__ == "tinyyaml.sub"
    assert sub.__file__ == os.path.join(sys.modules["tinyyaml"].__path__[0], "sub.py")


def test_unconfigured_names_cost_a_dict_lookup(
    wheelhouse: Wheelhouse, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options(cache_dir, wheelhouse))
    (finder,) = [f for f in sys.meta_path if isinstance(f, _finder.LazyFinder)]

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("touched the disk for an unconfigured name")

    monkeypatch.setattr(os, "listdir", forbidden)
    monkeypatch.setattr(os, "stat", forbidden)
    monkeypatch.setattr(_layers, "find_entry", forbidden)
    monkeypatch.setattr(_installer, "uv_binary", forbidden)
    assert finder.find_spec("requests_evil") is None
    assert finder.find_spec("tinyyaml.sub") is None  # submodules belong to the parent
    assert finder.find_spec("tinydep") is None


def test_finders_sit_first_and_last_once(wheelhouse: Wheelhouse, cache_dir: Path) -> None:
    for _ in range(3):
        lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options(cache_dir, wheelhouse))
    assert isinstance(sys.meta_path[0], _finder.LazyFinder)
    assert isinstance(sys.meta_path[-1], _finder.FallbackFinder)
    assert sum(isinstance(f, _finder.LazyFinder) for f in sys.meta_path) == 1
    assert sum(isinstance(f, _finder.FallbackFinder) for f in sys.meta_path) == 1


def test_reactivating_with_another_config_changes_the_owned_names(
    wheelhouse: Wheelhouse, cache_dir: Path
) -> None:
    lazyext.activate({"alpha": "alpha"}, **options(cache_dir, wheelhouse))
    lazyext.activate({"beta": "beta"}, **options(cache_dir, wheelhouse))
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("alpha")


def test_provisioning_thread_does_not_recurse(wheelhouse: Wheelhouse, cache_dir: Path) -> None:
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options(cache_dir, wheelhouse))
    (finder,) = [f for f in sys.meta_path if isinstance(f, _finder.LazyFinder)]
    assert finder.find_spec("tinyyaml") is not None
    guard.enter()
    try:
        assert finder.find_spec("tinyyaml") is None
    finally:
        guard.leave()


# -- which install serves a name ----------------------------------------------------------


def test_dependencies_are_served_last_and_host_modules_win(
    wheelhouse: Wheelhouse, cache_dir: Path, tmp_path: Path
) -> None:
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options(cache_dir, wheelhouse))
    lazyext.ensure("tinyyaml")
    target = entry_of(cache_dir, "tinydep") / "target"
    assert importlib.import_module("tinydep").__file__ == str(target / "tinydep" / "__init__.py")
    # The application's own module of the same name comes first.
    del sys.modules["tinydep"]
    host = tmp_path / "host"
    (host / "tinydep").mkdir(parents=True)
    (host / "tinydep" / "__init__.py").write_text("VALUE = 1\n", encoding="utf-8")
    sys.path.insert(0, str(host))
    importlib.invalidate_caches()
    assert importlib.import_module("tinydep").VALUE == 1


def test_an_install_never_shadows_the_standard_library(
    wheelhouse: Wheelhouse, extra_wheels: Wheelhouse, cache_dir: Path
) -> None:
    sys.modules.pop("colorsys", None)
    lazyext.activate({"shadowing": "shadowing"}, **options(cache_dir, wheelhouse, extra_wheels))
    import shadowing  # type: ignore[import-not-found]

    assert os.path.dirname(shadowing.STDLIB) == os.path.dirname(os.__file__)
    (generation,) = generations(cache_dir)
    entry = _cache.read_entry(str(generation))
    assert entry is not None
    assert "colorsys" not in entry.top_level
    assert "shadowing" in entry.top_level


def _install_into(directory: Path, wheelhouse: Wheelhouse, requirement: str) -> None:
    """A host environment's own install (what pip would have put in site-packages)."""
    import uv

    subprocess.run(
        [
            uv.find_uv_bin(),
            "pip",
            "install",
            "--no-config",
            "--quiet",
            "--python",
            sys.executable,
            "--target",
            str(directory),
            "--no-index",
            "--find-links",
            str(wheelhouse.path),
            "--",
            requirement,
        ],
        check=True,
        capture_output=True,
    )


def test_a_satisfying_host_install_is_used(
    wheelhouse: Wheelhouse, cache_dir: Path, tmp_path: Path, shim: UvShim
) -> None:
    host = tmp_path / "site"
    _install_into(host, wheelhouse, "TinyYaml==5.4")
    sys.path.append(str(host))
    lazyext.activate({"tinyyaml": "TinyYaml>=5"}, **options(cache_dir, wheelhouse))
    import tinyyaml

    assert tinyyaml.__version__ == "5.4"
    assert tinyyaml.__file__ == str(host / "tinyyaml" / "__init__.py")
    assert shim.runs() == []
    assert not (cache_dir / "entries").exists()


def test_an_older_host_install_is_bypassed_for_the_cache(
    wheelhouse: Wheelhouse, cache_dir: Path, tmp_path: Path, shim: UvShim
) -> None:
    host = tmp_path / "site"
    _install_into(host, wheelhouse, "TinyYaml==5.4")
    sys.path.insert(0, str(host))
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options(cache_dir, wheelhouse))
    import tinyyaml

    assert tinyyaml.__version__ == "6.1"
    assert str(cache_dir) in tinyyaml.__file__
    assert len(shim.runs()) == 1
    # Metadata agrees with the import: the cache's distribution is found first.
    assert importlib.metadata.version("TinyYaml") == "6.1"
    first = next(iter(importlib.metadata.distributions(name="TinyYaml")))
    assert str(cache_dir) in str(first.locate_file(""))


def test_a_false_marker_is_module_not_found_naming_it(
    wheelhouse: Wheelhouse, cache_dir: Path, shim: UvShim
) -> None:
    requirement = "TinyYaml>=6; sys_platform == 'nonexistent-os'"
    lazyext.activate({"tinyyaml": requirement}, **options(cache_dir, wheelhouse))
    with pytest.raises(ModuleNotFoundError) as caught:
        import tinyyaml  # noqa: F401
    assert type(caught.value) is ModuleNotFoundError
    assert caught.value.name == "tinyyaml"
    assert 'sys_platform == "nonexistent-os"' in str(caught.value)
    assert "marker" in str(caught.value)
    with pytest.raises(lazyext.ConfigError, match="marker"):
        lazyext.ensure("tinyyaml")
    assert shim.runs() == []
    assert not (cache_dir / "entries").exists()


def test_a_false_marker_leaves_a_host_copy_importable(
    tmp_path: Path, wheelhouse: Wheelhouse, cache_dir: Path, shim: UvShim
) -> None:
    # The requirement does not apply here, so lazyext has nothing to say about the name:
    # an import that works without lazyext keeps working with it.
    host = tmp_path / "host"
    (host / "tinyyaml").mkdir(parents=True)
    (host / "tinyyaml" / "__init__.py").write_text("WHERE = 'host'\n", encoding="utf-8")
    sys.path.insert(0, str(host))
    requirement = "TinyYaml>=6; sys_platform == 'nonexistent-os'"
    lazyext.activate({"tinyyaml": requirement}, **options(cache_dir, wheelhouse))
    assert importlib.import_module("tinyyaml").WHERE == "host"
    assert shim.runs() == []


def test_a_true_marker_installs(wheelhouse: Wheelhouse, cache_dir: Path) -> None:
    requirement = f"TinyYaml>=6; sys_platform == '{sys.platform}'"
    lazyext.activate({"tinyyaml": requirement}, **options(cache_dir, wheelhouse))
    assert importlib.import_module("tinyyaml").__version__ == "6.1"


def test_a_missing_module_in_the_install_is_an_install_error(
    wheelhouse: Wheelhouse, cache_dir: Path
) -> None:
    lazyext.activate({"nomodule": "alpha"}, **options(cache_dir, wheelhouse))
    with pytest.raises(lazyext.InstallError, match="provides no module named 'nomodule'"):
        importlib.import_module("nomodule")
    assert "nomodule" not in sys.modules


def test_a_module_that_raises_on_import(wheelhouse: Wheelhouse, cache_dir: Path) -> None:
    lazyext.activate({"broken_import": "broken-import"}, **options(cache_dir, wheelhouse))
    for _ in range(2):
        with pytest.raises(RuntimeError, match="boom"):
            importlib.import_module("broken_import")
        assert "broken_import" not in sys.modules
    assert len(generations(cache_dir)) == 1


# -- threads -------------------------------------------------------------------------------


def test_eight_threads_one_install(wheelhouse: Wheelhouse, cache_dir: Path, shim: UvShim) -> None:
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options(cache_dir, wheelhouse))
    results = run_threads(8, lambda: importlib.import_module("tinyyaml"))
    modules = {id(result) for result in results}
    assert len(modules) == 1, results
    (module,) = {result for result in results if isinstance(result, ModuleType)}
    assert module.load("") == 42
    assert len(shim.runs()) == 1
    assert publications(cache_dir) == {"tinyyaml": 1, "tinydep": 1}


@pytest.fixture
def broken_tinyyaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UvShim:
    """The real uv, except that installing TinyYaml fails (its environment resolves)."""
    shim = UvShim(tmp_path / "broken", before=failing_install_of("tinyyaml"))
    monkeypatch.setattr(_installer, "uv_binary", lambda: str(shim))
    return shim


def test_eight_threads_one_failure(
    wheelhouse: Wheelhouse, cache_dir: Path, broken_tinyyaml: UvShim
) -> None:
    shim = broken_tinyyaml
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options(cache_dir, wheelhouse))
    results = run_threads(8, lambda: importlib.import_module("tinyyaml"))
    assert all(isinstance(result, lazyext.InstallError) for result in results), results
    assert all(result.name == "tinyyaml" for result in results)  # type: ignore[attr-defined]
    assert "tinyyaml" not in sys.modules
    assert len(shim.runs()) == 1
    # Remembered: a retry in a loop does not run uv again...
    with pytest.raises(lazyext.InstallError, match="failed moments ago"):
        importlib.import_module("tinyyaml")
    assert len(shim.runs()) == 1
    # ...until the caches are invalidated.
    importlib.invalidate_caches()
    with pytest.raises(lazyext.InstallError) as caught:
        importlib.import_module("tinyyaml")
    assert "moments ago" not in str(caught.value)
    assert caught.value.returncode == 1
    assert len(shim.runs()) == 2
    assert not (cache_dir / "entries").exists()
    assert list((cache_dir / "staging").iterdir()) == []


def test_a_failure_of_one_key_does_not_block_another(
    wheelhouse: Wheelhouse, cache_dir: Path, broken_tinyyaml: UvShim
) -> None:
    shim = broken_tinyyaml
    lazyext.activate(
        {"tinyyaml": "TinyYaml>=6", "alpha": "alpha"}, **options(cache_dir, wheelhouse)
    )
    with pytest.raises(lazyext.InstallError):
        importlib.import_module("tinyyaml")
    assert importlib.import_module("alpha").NAME == "alpha"
    # Publishing alpha must not erase what was learnt about tinyyaml.
    with pytest.raises(lazyext.InstallError, match="moments ago"):
        importlib.import_module("tinyyaml")
    assert len(shim.runs()) == 2


def test_threads_importing_different_extensions(
    wheelhouse: Wheelhouse, cache_dir: Path, shim: UvShim
) -> None:
    lazyext.activate(
        {"tinyyaml": "TinyYaml>=6", "alpha": "alpha", "pthpkg": "pthpkg"},
        **options(cache_dir, wheelhouse),
    )
    names = ["tinyyaml", "alpha", "pthpkg"] * 3
    lock = threading.Lock()
    queue = list(names)

    def work() -> ModuleType:
        with lock:
            name = queue.pop()
        return importlib.import_module(name)

    results = run_threads(len(names), work)
    assert all(isinstance(result, ModuleType) for result in results), results
    assert {result.__name__ for result in results} == set(names)  # type: ignore[union-attr]
    assert len(shim.runs()) == 3


def test_nested_cold_import(wheelhouse: Wheelhouse, cache_dir: Path, shim: UvShim) -> None:
    # beta's __init__ imports alpha, another configured extension that is not installed.
    lazyext.activate({"alpha": "alpha", "beta": "beta"}, **options(cache_dir, wheelhouse))
    import beta  # type: ignore[import-not-found]

    assert beta.NAME == "beta"
    assert sys.modules["alpha"].NAME == "alpha"
    assert len(shim.runs()) == 2
    assert len(generations(cache_dir)) == 2


# -- .pth files, re-imports, metadata -----------------------------------------------------------


def test_reimports_process_pth_once(
    wheelhouse: Wheelhouse,
    extra_wheels: Wheelhouse,
    cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    shim: UvShim,
) -> None:
    monkeypatch.delenv(COUNT_VAR, raising=False)
    lazyext.activate({"countpth": "countpth"}, **options(cache_dir, wheelhouse, extra_wheels))
    for _ in range(10):
        module = importlib.import_module("countpth")
        assert module.WHERE == "countlib"
        del sys.modules["countpth"]
        del sys.modules["count_extra"]
    assert os.environ[COUNT_VAR] == "1"
    (generation,) = generations(cache_dir)
    countlib = str(generation / "target" / "countlib")
    assert sys.path.count(countlib) == 1
    view = _view.current()
    assert view is not None
    assert sys.path.count(view) == 1
    # The target itself never joins sys.path: the finders resolve it.
    assert str(generation / "target") not in sys.path
    assert len(shim.runs()) == 1


def test_pth_of_a_cached_install_runs_in_a_new_activation(
    wheelhouse: Wheelhouse, cache_dir: Path, monkeypatch: pytest.MonkeyPatch, shim: UvShim
) -> None:
    monkeypatch.delenv("LAZYEXT_TEST_PTH_MARK", raising=False)
    lazyext.ensure("pthexec", **options(cache_dir, wheelhouse))
    assert os.environ.get("LAZYEXT_TEST_PTH_MARK") == "ran"
    lazyext.deactivate()
    monkeypatch.delenv("LAZYEXT_TEST_PTH_MARK")
    lazyext.activate({"pthexec": "pthexec"}, **options(cache_dir, wheelhouse))
    import pthexec  # type: ignore[import-not-found]

    assert pthexec.MARK == "ran"
    assert len(shim.runs()) == 1


def test_importlib_metadata_sees_activated_installs(
    wheelhouse: Wheelhouse, cache_dir: Path
) -> None:
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options(cache_dir, wheelhouse))
    import tinyyaml

    assert importlib.metadata.version("TinyYaml") == "6.1"
    assert importlib.metadata.version("tinydep") == "1.0"
    dist = importlib.metadata.distribution("tinyyaml")
    assert dist.requires == ["tinydep>=1"]
    assert Path(str(dist.locate_file("tinyyaml/__init__.py"))) == Path(tinyyaml.__file__)
    first = next(d for d in importlib.metadata.distributions() if d.metadata["Name"] == "TinyYaml")
    assert first.version == "6.1"


def test_a_cached_install_is_served_without_the_provisioning_loader(
    wheelhouse: Wheelhouse, cache_dir: Path, shim: UvShim
) -> None:
    lazyext.ensure("TinyYaml>=6", **options(cache_dir, wheelhouse))
    lazyext.deactivate()
    # The config's environment is resolved at its first import; its distributions are
    # those ensure() installed.
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options(cache_dir, wheelhouse))
    assert importlib.import_module("tinyyaml").load("") == 42
    assert len(shim.runs()) == 1
    for name in ("tinyyaml", "tinydep"):
        del sys.modules[name]
    lazyext.deactivate()
    resolutions = len(shim.compiles())
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options(cache_dir, wheelhouse))
    spec = importlib.util.find_spec("tinyyaml")
    assert spec is not None
    assert type(spec.loader) is SourceFileLoader
    assert importlib.import_module("tinyyaml").load("") == 42
    assert len(shim.runs()) == 1
    assert len(shim.compiles()) == resolutions


def test_find_spec_alone_does_not_install(
    wheelhouse: Wheelhouse, cache_dir: Path, shim: UvShim
) -> None:
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options(cache_dir, wheelhouse))
    spec = importlib.util.find_spec("tinyyaml")
    assert spec is not None
    assert shim.runs() == []
    module = importlib.util.module_from_spec(spec)
    assert len(shim.runs()) == 1
    assert spec.loader is not None
    spec.loader.exec_module(module)
    assert module.load("") == 42


@pytest.mark.parametrize("name", ["tinyyaml", "pthpkg"])  # cold; cached with a .pth file
def test_the_lazy_loader_recipe_of_importlib(
    wheelhouse: Wheelhouse, cache_dir: Path, shim: UvShim, name: str
) -> None:
    # importlib.util.LazyLoader (the docs' recipe; scientific-python's lazy_loader) calls
    # the loader it wraps for create_module, then that loader's exec_module on first use.
    config = {"tinyyaml": "TinyYaml>=6", "pthpkg": "pthpkg"}
    lazyext.activate(config, **options(cache_dir, wheelhouse))
    if name == "pthpkg":
        lazyext.ensure("pthpkg")
        lazyext.deactivate()
        lazyext.activate(config, **options(cache_dir, wheelhouse))
    spec = importlib.util.find_spec(name)
    assert spec is not None
    assert isinstance(spec.loader, _finder.ProvisionLoader)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    value = module.WHERE if name == "pthpkg" else module.load("")
    assert value == {"pthpkg": "pth", "tinyyaml": 42}[name]
    assert str(cache_dir) in module.__file__
    assert len(shim.runs()) == 1


# -- deactivate -------------------------------------------------------------------------------


def test_deactivate_restores_everything(
    wheelhouse: Wheelhouse, extra_wheels: Wheelhouse, cache_dir: Path
) -> None:
    before_path = list(sys.path)
    before_meta = list(sys.meta_path)
    lazyext.activate(
        {"countpth": "countpth", "tinyyaml": "TinyYaml>=6"},
        **options(cache_dir, wheelhouse, extra_wheels),
    )
    import countpth  # type: ignore[import-not-found]
    import tinyyaml

    assert countpth.WHERE == "countlib"
    assert tinyyaml.load("") == 42
    view = _view.current()
    assert view is not None
    assert os.path.isdir(view)
    lazyext.deactivate()
    assert sys.path == before_path
    assert sys.meta_path == before_meta
    assert view not in sys.path_importer_cache
    assert not os.path.exists(view)
    assert _view.current() is None
    assert _api.active_config() is None
    # Modules already imported keep working; new imports of configured names do not.
    assert tinyyaml.load("") == 42
    for name in ("tinyyaml", "tinydep", "countpth", "count_extra"):
        sys.modules.pop(name, None)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("tinyyaml")
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("tinydep")
    assert not any("importlib.metadata" in repr(f) for f in sys.meta_path)
    # And it can come back.
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options(cache_dir, wheelhouse))
    assert importlib.import_module("tinyyaml").load("") == 42
    lazyext.deactivate()
    lazyext.deactivate()  # harmless twice
    assert sys.meta_path == before_meta


def test_a_disabled_extension_is_not_served(
    wheelhouse: Wheelhouse, cache_dir: Path, shim: UvShim
) -> None:
    lazyext.activate(
        [lazyext.Extension(name="alpha", package="alpha", enabled=False)],
        **options(cache_dir, wheelhouse),
    )
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("alpha")
    assert shim.runs() == []


def test_two_names_of_one_install_imported_together(
    wheelhouse: Wheelhouse, cache_dir: Path, shim: UvShim
) -> None:
    lazyext.activate(
        [
            lazyext.Extension(
                name="tinyyaml", package="TinyYaml>=6", modules=["tinyyaml", "_tinyyaml_speedups"]
            )
        ],
        **options(cache_dir, wheelhouse),
    )
    names = ["tinyyaml", "_tinyyaml_speedups"] * 4
    lock = threading.Lock()

    def work() -> ModuleType:
        with lock:
            name = names.pop()
        return importlib.import_module(name)

    results = run_threads(8, work)
    assert all(isinstance(result, ModuleType) for result in results), results
    assert len(shim.runs()) == 1
    assert publications(cache_dir) == {"tinyyaml": 1, "tinydep": 1}


def test_a_namespace_package_cold_and_cached(tmp_path: Path, cache_dir: Path, shim: UvShim) -> None:
    house = Wheelhouse(tmp_path / "wheels")
    house.build("nsx-pkg", "1.0", {"nsx/mod.py": "X = 5\n"})  # no __init__.py
    for _ in range(2):
        lazyext.activate({"nsx": "nsx-pkg"}, **options(cache_dir, house))
        nsx = importlib.import_module("nsx")
        assert nsx.__file__ is None
        (location,) = list(nsx.__path__)
        assert location.startswith(str(cache_dir))
        assert importlib.import_module("nsx.mod").X == 5
        lazyext.deactivate()
        for name in ("nsx", "nsx.mod"):
            del sys.modules[name]
    assert len(shim.runs()) == 1


def test_a_namespace_package_merges_with_its_portion_in_the_host(
    tmp_path: Path, cache_dir: Path, shim: UvShim
) -> None:
    # The `google` case: the host has one portion of a namespace package (from another
    # distribution), the configured requirement ships another. Both are importable, also
    # after sys.path changes (the namespace's __path__ is recomputed from sys.path then).
    house = Wheelhouse(tmp_path / "wheels")
    house.build("nsx-pkg", "1.0", {"nsx/mod.py": "X = 5\n", "nsx/later.py": "X = 6\n"})
    host = tmp_path / "host"
    (host / "nsx").mkdir(parents=True)
    (host / "nsx" / "other.py").write_text("Y = 1\n", encoding="utf-8")
    sys.path.insert(0, str(host))
    lazyext.activate({"nsx": "nsx-pkg"}, **options(cache_dir, house))
    assert importlib.import_module("nsx.mod").X == 5
    assert importlib.import_module("nsx.other").Y == 1
    sys.path.append(str(tmp_path))
    assert importlib.import_module("nsx.later").X == 6
    assert len(shim.runs()) == 1


def test_a_namespace_package_the_host_has_installed_is_the_hosts(
    tmp_path: Path, cache_dir: Path, shim: UvShim
) -> None:
    # The configured distribution itself is installed in the host, in a version that
    # satisfies the requirement: nothing to install, even though `nsx` is a namespace.
    house = Wheelhouse(tmp_path / "wheels")
    host = tmp_path / "host"
    (host / "nsx").mkdir(parents=True)
    (host / "nsx" / "mod.py").write_text("X = 'host'\n", encoding="utf-8")
    (host / "nsx_pkg-1.0.dist-info").mkdir()
    sys.path.insert(0, str(host))
    lazyext.activate({"nsx": "nsx-pkg>=1"}, **options(cache_dir, house))
    assert importlib.import_module("nsx.mod").X == "host"
    assert shim.runs() == []


@pytest.mark.parametrize("cached", [False, True])
def test_a_dependency_namespace_merges_with_its_portion_in_the_host(
    tmp_path: Path, cache_dir: Path, shim: UvShim, cached: bool
) -> None:
    # An extension's dependency ships a portion of a namespace the host also has (the
    # `google.protobuf` / `google.api_core` case): the host's portion does not hide it.
    house = Wheelhouse(tmp_path / "wheels")
    house.build("nsy-dep", "1.0", {"nsy/dep.py": "D = 7\n"})
    house.build(
        "nsuser",
        "1.0",
        {"nsuser/__init__.py": "from nsy import dep\nD = dep.D\n"},
        requires=("nsy-dep",),
    )
    host = tmp_path / "host"
    (host / "nsy").mkdir(parents=True)
    (host / "nsy" / "hostpart.py").write_text("H = 1\n", encoding="utf-8")
    house.build("plain", "1.0", {"plain/__init__.py": ""})
    sys.path.insert(0, str(host))
    config = lazyext.activate({"nsuser": "nsuser", "plain": "plain"}, **options(cache_dir, house))
    if cached:  # installed, not yet activated: served from find_spec, no install
        assert not isinstance(_use.warm(["nsuser"], config)["nsuser"], BaseException)
    importlib.import_module("plain")  # lazyext's own sys.path entry is in place already
    assert importlib.import_module("nsy.hostpart").H == 1  # imported before the install
    assert importlib.import_module("nsuser").D == 7
    sys.path.append(str(tmp_path))
    assert importlib.import_module("nsy.dep").D == 7
    assert importlib.import_module("nsy.hostpart").H == 1


def test_listing_distributions_while_another_thread_activates(cache_dir: Path) -> None:
    # importlib.metadata asks the finder for the active installs while other threads'
    # imports activate and retire entries: never "dictionary changed size".
    config = lazyext.activate({"tinyyaml": "TinyYaml>=6"}, cache_dir=cache_dir)
    runtime = _api._runtime
    assert runtime is not None

    def entry(number: int) -> _cache.Entry:
        path = str(cache_dir / "none" / f"g{number}")
        return _cache.Entry(DistKey(f"k{number}"), config.platform, "r", path, 0.0, 0.0, (), (), ())

    stop = threading.Event()

    def churn() -> None:
        number = 0
        while not stop.is_set():
            runtime.activate_entry(entry(number))
            runtime.forget(ReqKey("plan"), [DistKey(f"k{number - 4}")])
            number += 1

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    thread = threading.Thread(target=churn)
    thread.start()
    try:
        for _ in range(20000):
            runtime.front.find_distributions(None)
    finally:
        stop.set()
        thread.join(timeout=60)
        sys.setswitchinterval(interval)
