"""Import fidelity: what a cold import through lazyext looks like to runpy and users."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

import lazyext

from support import Wheelhouse, run_python


@pytest.fixture
def house(tmp_path: Path) -> Wheelhouse:
    house = Wheelhouse(tmp_path / "wheels")
    house.build("singlemod", "1.0", {"singlemod.py": "print('single', __name__)\n"})
    house.build(
        "mainpkg",
        "1.0",
        {"mainpkg/__init__.py": "", "mainpkg/__main__.py": "print('package', __name__)\n"},
    )
    return house


def _config(house: Wheelhouse, cache: Path) -> str:
    return (
        f"import lazyext\nlazyext.activate({{'singlemod': 'singlemod', 'mainpkg': 'mainpkg'}}, "
        f"cache_dir={str(cache)!r}, find_links=[{str(house.path)!r}], no_index=True)\n"
    )


@pytest.mark.parametrize(
    ("module", "printed"), [("singlemod", "single __main__"), ("mainpkg", "package __main__")]
)
@pytest.mark.parametrize("temperature", ["cold", "warm"])
def test_run_module_of_an_extension(
    house: Wheelhouse, cache_dir: Path, module: str, printed: str, temperature: str
) -> None:
    setup = _config(house, cache_dir)
    if temperature == "warm":
        assert run_python(setup + f"import {module}").returncode == 0
    done = run_python(setup + f"import runpy\nrunpy.run_module({module!r}, run_name='__main__')")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == printed


def test_a_cold_single_file_module_is_not_a_package(house: Wheelhouse, cache_dir: Path) -> None:
    lazyext.activate({"singlemod": "singlemod"}, **house.options(cache_dir))
    import singlemod

    assert not hasattr(singlemod, "__path__")
    assert singlemod.__spec__.submodule_search_locations is None
    assert singlemod.__file__.endswith("singlemod.py")


def test_an_underscore_name_is_an_extension_name(cache_dir: Path) -> None:
    config = lazyext.activate({"_cffi_backend": "cffi"}, cache_dir=cache_dir)
    assert [plan.name for plan in config.plans] == ["_cffi_backend"]


def test_a_namespace_imported_before_activate_is_named_by_its_folder(
    tmp_path: Path,
    cache_dir: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "earlyns").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("earlyns")
    with caplog.at_level(logging.WARNING, logger="lazyext"):
        lazyext.activate({"earlyns": "earlyns"}, cache_dir=cache_dir)
    assert f"a namespace package in {tmp_path / 'earlyns'}" in caplog.text
    assert "built-in" not in caplog.text
    sys.modules.pop("earlyns", None)
