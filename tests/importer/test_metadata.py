"""What importlib.metadata sees, and the top-level names of cached distributions
(_importer.metadata, _importer.cached; issue 21 #2, #3, #4)."""

from __future__ import annotations

import importlib.util
import sys
from importlib import metadata
from pathlib import Path

import pytest

import lazyext
from lazyext._use import warm

from support import Wheelhouse, run_python


@pytest.fixture
def house(tmp_path: Path) -> Wheelhouse:
    house = Wheelhouse(tmp_path / "wheels")
    # A pytest plugin whose module is a top-level module of its own, as hypothesis's
    # `hypothesispytest = _hypothesis_pytestplugin`: no configured name covers it.
    house.build(
        "hypo",
        "1.0",
        {
            "hypo/__init__.py": "import hypodep\nVALUE = hypodep.VALUE\n",
            "_hypo_pytestplugin.py": (
                "import pytest\nimport hypo\n\n"
                "@pytest.fixture\ndef hypo_value():\n    return hypo.VALUE\n"
            ),
        },
        requires=("hypodep",),
        entry_points={"pytest11": {"hypopytest": "_hypo_pytestplugin"}},
    )
    house.build("hypodep", "1.0", {"hypodep/__init__.py": "VALUE = 42\n"})
    house.build(
        "withpth",
        "1.0",
        {
            "withpth/__init__.py": "",
            "_withpth_extra.py": "import os\nMARK = os.environ.get('LAZYEXT_TEST_CLOSURE_PTH')\n",
            "withpth.pth": "import os; os.environ['LAZYEXT_TEST_CLOSURE_PTH'] = 'ran'\n",
        },
    )
    house.build("probed", "2.5", {"probed/__init__.py": ""})
    return house


def opts(house: Wheelhouse, cache: Path) -> dict[str, object]:
    return {"cache_dir": str(cache), "find_links": [str(house.path)], "no_index": True}


# -- #2: every top-level name of a cached distribution imports --------------------------


def test_an_entry_point_naming_an_unconfigured_module_loads(
    house: Wheelhouse, cache_dir: Path, tmp_path: Path
) -> None:
    options = opts(house, cache_dir)
    warm(config=lazyext.activate({"hypo": "hypo"}, **options))
    code = f"""
        import sys, lazyext
        from importlib.metadata import entry_points
        lazyext.activate({{"hypo": "hypo"}}, **{options!r})
        (ep,) = [ep for ep in entry_points(group="pytest11") if ep.name == "hypopytest"]
        plugin = ep.load()
        print(plugin.__name__, plugin.__file__.startswith({str(cache_dir)!r}))
        print(sorted(n for n in ("hypo", "hypodep") if n in sys.modules))
        """
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    # Loading it activated its distribution's closure: hypo imports hypodep.
    assert done.stdout.splitlines() == ["_hypo_pytestplugin True", "['hypo', 'hypodep']"]


def test_python_m_pytest_starts_with_a_plugin_from_the_cache(
    house: Wheelhouse, cache_dir: Path, tmp_path: Path
) -> None:
    options = opts(house, cache_dir)
    warm(config=lazyext.activate({"hypo": "hypo"}, **options))
    (tmp_path / "test_uses_it.py").write_text(
        "def test_it(hypo_value):\n    assert hypo_value == 42\n"
    )
    code = f"""
        import sys, lazyext
        lazyext.activate({{"hypo": "hypo"}}, **{options!r})
        import pytest
        sys.exit(pytest.main(["test_uses_it.py", "-q", "-p", "no:cacheprovider"]))
        """
    for _ in range(2):  # every process, not only the first after warm
        done = run_python(code, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "1 passed" in done.stdout


def test_a_dependency_imports_before_its_extension(house: Wheelhouse, cache_dir: Path) -> None:
    options = opts(house, cache_dir)
    warm(config=lazyext.activate({"hypo": "hypo"}, **options))
    code = f"""
        import sys, lazyext
        lazyext.activate({{"hypo": "hypo"}}, **{options!r})
        import hypodep
        print(hypodep.VALUE, "hypo" in sys.modules)
        try:
            import not_in_any_install
        except ModuleNotFoundError:
            print("still missing")
        """
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["42", "False", "still", "missing"]


def test_a_closure_with_pth_files_activates_them_first(house: Wheelhouse, cache_dir: Path) -> None:
    options = opts(house, cache_dir)
    warm(config=lazyext.activate({"withpth": "withpth"}, **options))
    code = f"""
        import lazyext
        lazyext.activate({{"withpth": "withpth"}}, **{options!r})
        import _withpth_extra
        print(_withpth_extra.MARK)
        """
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ran"


# -- #3: the first process's metadata agrees with find_spec -----------------------------


def test_find_spec_and_version_agree_in_the_first_process(
    house: Wheelhouse, cache_dir: Path
) -> None:
    lazyext.activate({"probed": "probed"}, **house.options(cache_dir))
    assert importlib.util.find_spec("probed") is not None
    assert metadata.version("probed") == "2.5"  # the query installed it, as an import would
    assert "probed" not in sys.modules
    assert metadata.distribution("probed").files
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.version("not-configured-anywhere")


def test_a_query_for_an_uninstallable_distribution_finds_nothing(cache_dir: Path) -> None:
    lazyext.activate({"nothere": "nothere-dist"}, cache_dir=cache_dir, no_index=True)
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.version("nothere-dist")
    with pytest.raises(ImportError):
        import nothere  # type: ignore[import-not-found]  # noqa: F401


def test_an_unnamed_listing_installs_nothing(house: Wheelhouse, cache_dir: Path) -> None:
    lazyext.activate({"probed": "probed"}, **house.options(cache_dir))
    assert "probed" not in {d.metadata["Name"] for d in metadata.distributions()}
    assert not list(cache_dir.glob("entries/*/*/g*"))


# -- #4: a finder honours context.path ------------------------------------------------


def test_a_search_of_other_paths_finds_nothing_of_lazyexts(
    house: Wheelhouse, cache_dir: Path, tmp_path: Path
) -> None:
    lazyext.activate({"probed": "probed"}, **house.options(cache_dir))
    import probed  # type: ignore[import-not-found]  # noqa: F401

    empty = tmp_path / "empty"
    empty.mkdir()
    assert list(metadata.distributions(path=[str(empty)])) == []
    assert list(metadata.distributions(name="probed", path=[str(empty)])) == []
    assert [d.version for d in metadata.distributions(name="probed")] == ["2.5"]
    assert [d.version for d in metadata.distributions(name="probed", path=list(sys.path))] == [
        "2.5"
    ]


def _cpython_metadata_tests() -> str:
    for name in ("test.test_importlib.metadata.test_zip", "test.test_importlib.test_zip"):
        try:
            if importlib.util.find_spec(name) is not None:
                return name
        except ModuleNotFoundError:
            continue
    pytest.skip("this interpreter ships without CPython's test package")


def test_cpythons_own_metadata_tests_pass_with_lazyext_active(
    house: Wheelhouse, cache_dir: Path
) -> None:
    tests = _cpython_metadata_tests()
    options = opts(house, cache_dir)
    warm(config=lazyext.activate({"probed": "probed"}, **options))
    code = f"""
        import sys, unittest, lazyext
        lazyext.activate({{"probed": "probed"}}, **{options!r})
        import probed
        suite = unittest.defaultTestLoader.loadTestsFromName({tests!r})
        result = unittest.TextTestRunner(verbosity=0).run(suite)
        print("RUN", result.testsRun, "FAILED", len(result.failures) + len(result.errors))
        """
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("RUN"))
    assert line.split()[3] == "0", done.stderr
