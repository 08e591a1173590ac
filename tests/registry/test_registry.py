"""Registries: entries checked whole, search, local files and URLs (ETag, offline, limits)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from lazyext._errors import ConfigError, UnsafeCacheError
from lazyext._record import replace
from lazyext._registry import catalog, source
from lazyext._registry.source import RegistryError
from lazyext._settings.config import Settings

from httpkit import Served

REGISTRY = """\
[[extensions]]
name = "yaml"
package = "PyYAML>=6"
modules = ["yaml"]
description = "YAML parser and emitter"
tags = ["yaml", "config"]
homepage = "https://pyyaml.org"

[[extensions]]
name = "toml-writer"
package = "tomli-w"
modules = ["tomli_w"]
description = "Write TOML; pairs with a YAML config loader"
tags = ["toml"]

[[extensions]]
name = "fastyaml"
package = "ruamel.yaml"
modules = ["ruamel.yaml"]
description = "Round-trip parser"
tags = ["yaml-roundtrip"]
"""


@pytest.fixture
def settings(cache_dir: Path) -> Settings:
    return Settings(cache_dir=str(cache_dir))


def write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_entries_keep_the_config_keys_and_describe_themselves(
    tmp_path: Path, settings: Settings
) -> None:
    entries = source.read(str(write(tmp_path / "registry.toml", REGISTRY)), settings)
    assert [e.name for e in entries] == ["yaml", "toml-writer", "fastyaml"]
    assert entries[0].table() == {"name": "yaml", "package": "PyYAML>=6", "modules": ["yaml"]}
    assert entries[0].homepage == "https://pyyaml.org"
    assert entries[0].registry == str(tmp_path / "registry.toml")


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["yaml"], ["yaml", "fastyaml", "toml-writer"]),  # name, in a name, description
        (["YAML", "config"], ["yaml", "toml-writer"]),  # every word, any case
        (["roundtrip"], ["fastyaml"]),  # in a tag
        (["toml"], ["toml-writer"]),
        (["nothing-like-it"], []),
    ],
)
def test_search_looks_in_names_descriptions_and_tags(
    words: list[str], expected: list[str], tmp_path: Path, settings: Settings
) -> None:
    entries = source.read(str(write(tmp_path / "registry.toml", REGISTRY)), settings)
    assert [entry.name for entry in catalog.search(entries, words)] == expected


def test_the_first_registry_wins_a_name(tmp_path: Path, settings: Settings) -> None:
    first = write(tmp_path / "a.toml", '[[extensions]]\nname = "yaml"\npackage = "PyYAML"\n')
    second = write(tmp_path / "b.toml", REGISTRY)
    entries = source.load([str(first), str(second)], settings)
    found = catalog.find(entries, "yaml")
    assert found is not None
    assert found.package == "PyYAML"
    assert len(entries) == 3


def test_a_malformed_registry_names_every_problem(tmp_path: Path, settings: Settings) -> None:
    text = """\
owner = "me"

[[extensions]]
name = "../escape"
package = "not a requirement!"
modules = ["os"]
tags = "yaml"
colour = "blue"

[[extensions]]
name = "ok"
description = 3
"""
    with pytest.raises(ConfigError) as caught:
        source.read(str(write(tmp_path / "bad.toml", text)), settings)
    problems = "\n".join(caught.value.problems)
    for expected in (
        "owner: unknown key",
        "extensions[0] (name='../escape'): name",
        "extensions[0] (name='../escape'): package",
        "extensions[0] (name='../escape'): modules",
        "tags: expected a list of strings",
        "colour: unknown key",
        "extensions[1] (name='ok'): description: expected a string",
    ):
        assert expected in problems
    assert len(caught.value.problems) == 7


def test_not_toml_and_missing_files_are_config_errors(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"not valid TOML"):
        source.read(str(write(tmp_path / "bad.toml", "[[extensions]\n")), settings)
    with pytest.raises(ConfigError, match=r"no such file"):
        source.read(str(tmp_path / "absent.toml"), settings)


def test_a_registry_others_can_change_is_refused(tmp_path: Path, settings: Settings) -> None:
    path = write(tmp_path / "registry.toml", REGISTRY, mode=0o666)
    with pytest.raises(RegistryError, match=r"writable by group or others .*chmod go-w"):
        source.read(str(path), settings)
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    inside = write(shared / "registry.toml", REGISTRY)
    with pytest.raises(UnsafeCacheError, match=r"shared': writable by others"):
        source.read(str(inside), settings)


def test_a_registry_larger_than_the_limit_is_refused(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source, "MAX_BYTES", 100)
    with pytest.raises(RegistryError, match=r"a registry is at most 100"):
        source.read(str(write(tmp_path / "registry.toml", REGISTRY)), settings)


# -- URLs -------------------------------------------------------------------------------


def test_a_url_is_cached_with_its_etag(settings: Settings) -> None:
    with Served({"registry.toml": REGISTRY.encode()}) as server:
        url = server.url("registry.toml")
        assert len(source.read(url, settings)) == 3
        assert len(source.read(url, settings)) == 3  # revalidated: 304, no body
        assert server.count("registry.toml") == 2
        assert server.not_modified == 1
        assert server.requests[1][1]["If-None-Match"].startswith('"')
    cached = list(Path(settings.cache_dir, "registries").glob("*/registry.json"))
    assert len(cached) == 1
    assert cached[0].stat().st_mode & 0o777 == 0o600


def test_offline_reads_the_cached_copy_without_asking(settings: Settings) -> None:
    offline = replace(settings, offline=True)
    with Served({"registry.toml": REGISTRY.encode()}) as server:
        url = server.url("registry.toml")
        with pytest.raises(RegistryError, match=r"offline, and it was never fetched"):
            source.read(url, offline)
        assert server.requests == []
        source.read(url, settings)
        assert [e.name for e in source.read(url, offline)] == ["yaml", "toml-writer", "fastyaml"]
        assert server.count("registry.toml") == 1


def test_an_unreachable_registry_falls_back_to_its_cached_copy(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with Served({"registry.toml": REGISTRY.encode()}) as server:
        url = server.url("registry.toml")
        source.read(url, settings)
        server.status = 503
        with caplog.at_level(logging.WARNING, logger="lazyext"):
            assert len(source.read(url, settings)) == 3
    assert "answered HTTP 503" in caplog.text
    assert "using its copy cached at" in caplog.text
    with pytest.raises(RegistryError, match=r"is unreachable"):
        source.read(url, replace(settings, cache_dir=settings.cache_dir + "-other"))


def test_a_malformed_answer_changes_nothing(settings: Settings) -> None:
    with Served({"registry.toml": REGISTRY.encode()}) as server:
        url = server.url("registry.toml")
        source.read(url, settings)
        [copy] = Path(settings.cache_dir, "registries").glob("*/registry.json")
        before = copy.read_bytes()
        server.files["registry.toml"] = b"[[extensions]]\nname = 7\n"
        with pytest.raises(ConfigError, match=r"name"):
            source.read(url, settings)
        assert copy.read_bytes() == before
        server.files["registry.toml"] = b"x" * (source.MAX_BYTES + 1)
        with pytest.raises(RegistryError, match=r"larger than"):
            source.read(url, settings)
        assert copy.read_bytes() == before


def test_a_redirect_away_from_https_is_refused(settings: Settings) -> None:
    with Served({}) as server:
        server.redirects["registry.toml"] = "http://registry.example/registry.toml"
        with pytest.raises(RegistryError, match=r"redirects to .* which is not https"):
            source.read(server.url("registry.toml"), settings)


def test_credentials_go_in_a_header_and_never_in_messages(settings: Settings) -> None:
    with Served({"registry.toml": REGISTRY.encode()}) as server:
        url = server.url("registry.toml").replace("://", "://me:s3cret@")
        source.read(url, settings)
        assert server.requests[0][1]["Authorization"].startswith("Basic ")
        server.status = 500
        cached = replace(settings, cache_dir=settings.cache_dir + "-other")
        with pytest.raises(RegistryError) as caught:
            source.read(url, cached)
    assert "s3cret" not in str(caught.value)
    assert "me:***@" in str(caught.value)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("https://example.org/registry.toml", True),
        ("http://127.0.0.1:8000/registry.toml", True),
        ("http://localhost/registry.toml", True),
        ("http://example.org/registry.toml", False),
        ("ftp://example.org/registry.toml", False),
        ("registry.toml", True),
    ],
)
def test_the_registry_setting(value: str, ok: bool, tmp_path: Path) -> None:
    import lazyext

    config = tmp_path / "lazyext.toml"
    config.write_text(f"registry = [{value!r}]\n".replace("'", '"'), encoding="utf-8")
    if ok:
        loaded = lazyext.activate(config)
        expected = value if "://" in value else os.path.realpath(tmp_path / value)
        assert loaded.settings.registry == (expected,)
    else:
        with pytest.raises(ConfigError, match=r"a registry URL must be https://"):
            lazyext.activate(config)
