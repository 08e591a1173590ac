"""Processor registration (the seed's ``xtnsmgr`` step 4): ``lazyext.extensions()`` and
``Extension.load()``, for built-in and external extensions alike."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import lazyext
from lazyext import _api

from support import Wheelhouse, run_python

CONFIG = """
[[extensions]]
name = "sphinx"
enabled = true

[[extensions]]
name = "off"
package = "beta==1.0"
enabled = false

[[extensions]]
name = "alpha"
package = "alpha>=1.0"
enabled = true
[extensions.arguments]
timeout = 30
"""


@pytest.fixture
def host_sphinx(tmp_path: Path) -> Path:
    """A module the host serves, as the seed's built-in ``sphinx`` processor."""
    host = tmp_path / "host"
    (host / "sphinx").mkdir(parents=True)
    (host / "sphinx" / "__init__.py").write_text("NAME = 'the host sphinx'\n")
    sys.path.append(str(host))
    return host


@pytest.fixture
def seed_config(wheelhouse: Wheelhouse, host_sphinx: Path) -> Path:
    path = Path("lazyext.toml")
    path.write_text(wheelhouse.toml() + CONFIG, encoding="utf-8")
    return path


def test_the_seed_loop_registers_built_in_and_external_alike(
    seed_config: Path, cache_dir: Path
) -> None:
    registered: list[tuple[str, ModuleType, dict[str, Any]]] = []

    def register(name: str, module: ModuleType, arguments: Any) -> None:
        registered.append((name, module, dict(arguments)))

    lazyext.activate()
    # -- the seed's loop, as the issue writes it --
    for ext in lazyext.extensions():
        register(ext.name, ext.load(), ext.arguments)
    # --
    assert [(name, arguments) for name, _, arguments in registered] == [
        ("sphinx", {}),
        ("alpha", {"timeout": 30}),
    ]
    sphinx, alpha = registered[0][1], registered[1][1]
    assert sphinx.NAME == "the host sphinx"  # built in: the host serves it
    assert alpha.NAME == "alpha"
    assert alpha.__file__ is not None
    assert alpha.__file__.startswith(str(cache_dir))  # external: installed into the cache
    assert "beta" not in sys.modules  # disabled: neither yielded nor installed


def test_extensions_activates_the_discovered_config(seed_config: Path) -> None:
    assert _api.active_config() is None
    names = [ext.name for ext in lazyext.extensions()]
    assert names == ["sphinx", "alpha"]
    active = _api.active_config()
    assert active is not None
    assert active.source.endswith("lazyext.toml")
    assert lazyext.extension("alpha").load().NAME == "alpha"


def test_the_active_config_wins(seed_config: Path, wheelhouse: Wheelhouse) -> None:
    mapping = {"tinyyaml": "TinyYaml>=6"}
    lazyext.activate(mapping, find_links=[str(wheelhouse.path)], no_index=True)
    (only,) = lazyext.extensions()
    assert (only.name, only.package) == ("tinyyaml", "TinyYaml>=6")
    assert only.load().__version__ == "6.1"


def test_a_disabled_extension_does_not_load(seed_config: Path) -> None:
    lazyext.activate()
    with pytest.raises(lazyext.ConfigError, match="'off' is disabled"):
        lazyext.extension("off").load()


def test_what_a_load_that_finds_nothing_says(seed_config: Path) -> None:
    lazyext.activate()
    built_in = lazyext.Extension("nothing_here")
    with pytest.raises(ModuleNotFoundError) as missing:
        built_in.load()
    assert "built-in extension (no package)" in "\n".join(missing.value.__notes__)
    elsewhere = lazyext.Extension("gamma_mod", package="gamma-dist>=1")  # not in the config
    with pytest.raises(ModuleNotFoundError) as unknown:
        elsewhere.load()
    assert "a config that declares 'gamma_mod' is active" in "\n".join(unknown.value.__notes__)


def test_an_install_that_fails_raises_install_error(wheelhouse: Wheelhouse) -> None:
    Path("lazyext.toml").write_text(
        wheelhouse.toml() + '[[extensions]]\nname = "missing"\npackage = "no-such-dist==9"\n'
    )
    (missing,) = lazyext.extensions()
    with pytest.raises(lazyext.InstallError):
        missing.load()


def test_the_names_keep_import_lazyext_light() -> None:
    code = (
        "import sys, lazyext\n"
        "print(callable(lazyext.extensions), callable(lazyext.Extension.load))\n"
        "print([m for m in ('lazyext._errors', 'lazyext._env.provision') if m in sys.modules])\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["True True", "[]"]
