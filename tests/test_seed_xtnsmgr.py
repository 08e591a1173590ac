"""The seed's extension-manager ("xtnsmgr") shapes: async ensure, parallel warm with
per-extension results, an extension's arguments, its exception names."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

import pytest

import lazyext

from support import Wheelhouse, run_python

CONFIG = """
[[extensions]]
name = "sphinx"
enabled = true

[[extensions]]
name = "alpha"
package = "alpha>=1.0"
enabled = true
[extensions.arguments]
timeout = 30

[[extensions]]
name = "beta"
package = "beta==1.0"

[[extensions]]
name = "missing"
package = "no-such-dist==9"
"""


@pytest.fixture
def seed_config(wheelhouse: Wheelhouse) -> Path:
    path = Path("lazyext.toml")
    path.write_text(wheelhouse.toml() + CONFIG, encoding="utf-8")
    return path


def test_the_seed_ensure_and_invalidate_flow_with_await(seed_config: Path) -> None:
    ensure_package = lazyext.ensure_async  # the seed's `await cachemgr.ensure_package(spec)`

    async def load_processors(specifications: list[str]) -> list[Path]:
        # The seed's "after" loop, gathered: the installs run in parallel threads.
        return list(await asyncio.gather(*(ensure_package(spec) for spec in specifications)))

    first, second = asyncio.run(load_processors(["alpha>=1.0", "beta==1.0"]))
    assert (first / "alpha" / "__init__.py").is_file()
    assert (second / "beta" / "__init__.py").is_file()
    assert importlib.import_module("beta").NAME == "beta"
    assert lazyext.invalidate("alpha>=1.0") == 1  # the seed's invalidate(specification)
    again = asyncio.run(ensure_package("alpha>=1.0"))
    assert again != first  # reinstalled on the next ensure
    with pytest.raises(lazyext.ExtensionInstallationError):
        asyncio.run(ensure_package("no-such-dist==9"))


def test_warm_in_parallel_returns_a_result_per_extension(seed_config: Path) -> None:
    results = lazyext.warm(["alpha", "beta", "missing"], parallel=2)
    assert set(results) == {"alpha", "beta", "missing"}
    assert isinstance(results["alpha"], Path)
    assert isinstance(results["beta"], Path)
    assert isinstance(results["missing"], lazyext.ExtensionInstallationError)
    for wrong in ("2", 0, -3, True):
        with pytest.raises(lazyext.ConfigError, match="parallel"):
            lazyext.warm(["gamma"], parallel=wrong)  # type: ignore[arg-type]


def test_warm_checks_parallel_before_any_install(seed_config: Path, cache_dir: Path) -> None:
    with pytest.raises(lazyext.ConfigError, match="parallel"):
        lazyext.warm(parallel=0)
    assert not list(cache_dir.glob("entries/*"))


def test_the_arguments_of_a_plain_extension(seed_config: Path) -> None:
    assert dict(lazyext.extension("alpha").arguments) == {"timeout": 30}
    assert lazyext.extension("alpha").package == "alpha>=1.0"
    assert lazyext.extension("sphinx").package is None  # a built-in one
    with pytest.raises(lazyext.ExtensionConfigError, match="no configured extension named"):
        lazyext.extension("nope")


def test_the_seed_exception_names_are_aliases() -> None:
    assert lazyext.ExtensionInstallationError is lazyext.InstallError
    assert lazyext.ExtensionConfigError is lazyext.ConfigError
    with pytest.raises(lazyext.ExtensionConfigError):
        lazyext.activate({"bad name!": "x"})


def test_the_new_names_keep_import_lazyext_light() -> None:
    code = (
        "import sys, lazyext\n"
        "lazyext.ensure_async, lazyext.warm, lazyext.extension\n"
        "lazyext.ExtensionInstallationError, lazyext.ExtensionConfigError\n"
        "heavy = [m for m in ('asyncio', 'concurrent.futures') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
