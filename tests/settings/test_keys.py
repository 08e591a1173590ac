"""Canonical requirements, cache keys and the platform tag (_keys)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.tags import sys_tags

import lazyext
from fake_uv import UvShim
from lazyext._settings import keys as _keys
from lazyext._settings import load as _load
from lazyext._settings.config import Config
from lazyext._settings.names import canonical_name
from lazyext._store import layers as _layers
from lazyext._uv import command as _installer

from support import Wheelhouse, entry_of, published


def key_of(requirement: str, **overrides: object) -> str:
    config: Config = _load.load({"thing": requirement}, overrides)
    return config.plans[0].key


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("PyYAML>=6,<7", "pyyaml <7, >=6"),
        ("PyYAML>=6", "pyyaml >= 6"),
        ("py_yaml.Thing==1", "Py-Yaml-thing == 1"),
        ("requests[socks,security]", "requests[Security, SOCKS]"),
        ("a; python_version >= '3'", 'a ; python_version>="3"'),
        (" a>=1 ", "a>=1"),
    ],
)
def test_equivalent_spellings_share_a_key(one: str, other: str) -> None:
    assert key_of(one) == key_of(other)
    assert _keys.canonical_requirement(one) == _keys.canonical_requirement(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("PyYAML>=6", "PyYAML[ext]>=6"),
        ("PyYAML[a]>=6", "PyYAML[b]>=6"),
        ("PyYAML>=6", "PyYAML>=7"),
        ("PyYAML>=6", "PyYAML"),
        ("PyYAML>=6", "PyYAML>=6; python_version >= '3'"),
        ("PyYAML>=6", "ruamel.yaml>=6"),
    ],
)
def test_different_requirements_get_different_keys(one: str, other: str) -> None:
    assert key_of(one) != key_of(other)


def test_canonical_form() -> None:
    assert _keys.canonical_requirement("PyYAML[Ext,c]<7,>=6 ; python_version>='3'") == (
        'pyyaml[c,ext]<7,>=6; python_version >= "3"',
        "pyyaml",
        "<7,>=6",
    )
    assert _keys.canonical_requirement("six") == ("six", "six", "")


@pytest.mark.parametrize(
    "override",
    [
        {"index_url": "https://mirror.example/simple"},
        {"find_links": ["/srv/wheels"]},
        {"no_index": True},
    ],
)
def test_index_settings_change_the_key(override: dict[str, object]) -> None:
    assert key_of("PyYAML>=6") != key_of("PyYAML>=6", **override)


def test_extra_index_and_sdist_settings_change_the_key(tmp_path: Path) -> None:
    base = key_of("PyYAML>=6")
    extra = tmp_path / "extra.toml"
    extra.write_text(
        'extra-index-urls = ["https://extra.example/simple"]\n'
        '[[extensions]]\nname = "thing"\npackage = "PyYAML>=6"\n',
        encoding="utf-8",
    )
    sdist = tmp_path / "sdist.toml"
    sdist.write_text(
        'allow-sdist = true\n[[extensions]]\nname = "thing"\npackage = "PyYAML>=6"\n',
        encoding="utf-8",
    )
    keys = {base, _load.load(extra, {}).plans[0].key, _load.load(sdist, {}).plans[0].key}
    assert len(keys) == 3


def test_settings_that_do_not_change_the_result_keep_the_key() -> None:
    base = key_of("PyYAML>=6")
    assert key_of("PyYAML>=6", offline=True) == base
    assert key_of("PyYAML>=6", ttl_hours=1.0) == base


def test_hashes_change_the_key() -> None:
    digest = "sha256:" + "ab" * 32
    plain = lazyext.activate([lazyext.Extension(name="t", package="t==1")]).plans[0].key
    hashed = lazyext.activate([lazyext.Extension(name="t", package="t==1", hashes=[digest])])
    assert hashed.plans[0].key != plain


def test_key_is_a_short_hex_digest() -> None:
    key = key_of("PyYAML>=6")
    assert len(key) == 32
    int(key, 16)


def test_platform_tag_is_the_most_specific_wheel_tag() -> None:
    tag = next(iter(sys_tags()))
    assert _keys.platform_tag() == f"{tag.interpreter}-{tag.abi}-{tag.platform}"
    assert lazyext.activate({}).platform == _keys.platform_tag()


def test_equivalent_spellings_install_once_into_one_directory(
    wheelhouse: Wheelhouse, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shim = UvShim(tmp_path / "shim")
    monkeypatch.setattr(_installer, "uv_binary", lambda: str(shim))
    options = wheelhouse.options(cache_dir)
    first = lazyext.ensure("TinyYaml>=6,<7", **options)
    second = lazyext.ensure("tinyyaml <7, >=6", **options)
    assert first == second
    assert len(shim.runs()) == 1
    # One entry per distribution (TinyYaml and its tinydep), each published once.
    generations = published(cache_dir)
    assert sorted(generations) == ["tinydep", "tinyyaml"]
    assert all(len(found) == 1 for found in generations.values())
    keys = list((cache_dir / "entries").iterdir())
    assert len(keys) == 2
    # Per-platform directory inside the key.
    assert all([p.name for p in key.iterdir()] == [_keys.platform_tag()] for key in keys)


def test_other_platforms_do_not_see_an_install(wheelhouse: Wheelhouse, cache_dir: Path) -> None:
    config = lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **wheelhouse.options(cache_dir))
    lazyext.ensure("tinyyaml")
    key = entry_of(cache_dir, "TinyYaml").parent.parent.name
    root = str(cache_dir.resolve())
    assert _layers.find_entry(root, key, config.platform) is not None
    assert _layers.find_entry(root, key, "cp313-cp313t-manylinux_2_36_x86_64") is None


PLAIN = [
    "bench-one",
    "PyYAML>=6",
    "pyyaml <7, >=6",
    "A_b.c[X, y]==1.0.*",
    "a[x]",
    "a ~= 1.2",
    "a>1,!=1.5",
    "a<=2,>=1.0.0",
    "zope.interface>=5",
]
NOT_PLAIN = [
    "a===1",
    "a==1.0+local",
    "a<=2.0rc1",
    "a~=1",
    "a; python_version>'3'",
    "a @ https://example.org/a.whl",
    "a[]",
    "a>=",
    "a>=1,",
    "a==1.*.0",
    "-a",
    "a b",
    "a>=1 b",
    "ä>=1",
]


@pytest.mark.parametrize("text", PLAIN)
def test_plain_requirements_are_read_as_packaging_reads_them(text: str) -> None:
    from packaging.requirements import Requirement

    fast = _keys._plain_requirement(text)
    assert fast is not None
    requirement = Requirement(text)
    name = canonical_name(requirement.name)
    extras = ",".join(sorted(canonical_name(e) for e in requirement.extras))
    specifier = ",".join(sorted(str(s) for s in requirement.specifier))
    assert fast == (name + (f"[{extras}]" if extras else "") + specifier, name, specifier)


@pytest.mark.parametrize("text", NOT_PLAIN)
def test_anything_else_is_left_to_packaging(text: str) -> None:
    assert _keys._plain_requirement(text) is None


def test_a_plain_config_never_imports_packaging(tmp_path: Path) -> None:
    code = (
        "import sys, lazyext\n"
        "lazyext.activate({'yaml': 'PyYAML>=6,<7', 'dep': 'a-b[x]~=1.2'})\n"
        "print(sorted(m for m in sys.modules if m.startswith(('packaging', 'tomllib'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, LAZYEXT_CACHE_DIR=str(tmp_path / "cache")),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_platform_tag_is_packagings_first_tag() -> None:
    tag = next(iter(sys_tags()))
    assert _keys.platform_tag() == f"{tag.interpreter}-{tag.abi}-{tag.platform}"
