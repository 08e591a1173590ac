"""Help on every option, shell completion, the JSON Schema of lazyext.toml, and the short
``name = "requirement"`` form (issue 25 item 7)."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import lazyext
from docs.docblocks import all_blocks
from lazyext import cli
from lazyext._settings.reference import SETTINGS, json_schema


def _parsers(
    parser: argparse.ArgumentParser, path: str = "lazyext"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_option_and_argument_has_help() -> None:
    missing = [
        f"{path}: {'/'.join(action.option_strings) or action.dest}"
        for path, parser in _parsers(cli.build_parser())
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert missing == []


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert cli.main(list(argv)) == 0
    return capsys.readouterr().out


# --- completion ------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize(
    ("line", "expected", "absent"),
    [
        ("lazyext ", {"status", "plugins", "tasks", "completion"}, {"enable"}),
        ("lazyext plu", {"plugins"}, {"status"}),
        ("lazyext plugins ", {"enable", "restore", "--help"}, {"status", "--directory"}),
        ("lazyext plugins enable --", {"--directory", "--help"}, {"--repair"}),
        ("lazyext --json tasks ru", {"run"}, {"remove"}),
        ("lazyext verify --re", {"--repair"}, set()),
    ],
)
def test_bash_completes_verbs_and_options(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    line: str,
    expected: set[str],
    absent: set[str],
) -> None:
    script = tmp_path / "lazyext.bash"
    script.write_text(run(capsys, "completion", "bash"), encoding="utf-8")
    words = line.split(" ")
    probe = (
        f"source {script}\n"
        f"COMP_WORDS=({' '.join(repr(word) for word in words)}); COMP_CWORD={len(words) - 1}\n"
        "_lazyext; printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
    offered = set(done.stdout.split())
    assert expected <= offered, offered
    assert not absent & offered, offered


def test_zsh_and_fish_scripts_know_every_verb(capsys: pytest.CaptureFixture[str]) -> None:
    zsh = run(capsys, "completion", "zsh")
    assert "bashcompinit" in zsh
    assert '"plugins") words="list info install validate enable' in zsh
    fish = run(capsys, "completion", "fish")
    assert "complete -c lazyext -n 'not __fish_seen_subcommand_from" in fish
    condition = "__fish_seen_subcommand_from plugins && not __fish_seen_subcommand_from list"
    assert f"-n '{condition}" in fish
    assert "-a enable -d 'import and run on_enable; recorded as enabled'" in fish


@pytest.mark.skipif(shutil.which("fish") is None, reason="needs fish")
def test_fish_loads_the_script(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    script = tmp_path / "lazyext.fish"
    script.write_text(run(capsys, "completion", "fish"), encoding="utf-8")
    done = subprocess.run(
        ["fish", "-c", f"source {script}; complete -C 'lazyext plugins en'"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split()[0] == "enable"


# --- the JSON Schema --------------------------------------------------------------------


def _schema(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(run(capsys, "schema"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _configs() -> list[Any]:
    """Every lazyext.toml and pyproject.toml of the README and the docs, parsed."""
    found = []
    for block in all_blocks():
        if block.lang != "toml" or block.kind == "not-run":
            continue
        if block.file is not None and Path(block.file).name == "registry.toml":
            continue  # a registry, not a config (checked by tests/registry)
        document = tomllib.loads(block.text)
        if "tool" in document:
            document = document["tool"].get("lazyext")
            if document is None:
                continue
        found.append(pytest.param(document, id=block.id))
    return found


@pytest.mark.parametrize("document", _configs())
def test_the_schema_accepts_every_example(
    capsys: pytest.CaptureFixture[str], document: dict[str, Any]
) -> None:
    jsonschema.validate(document, _schema(capsys))


@pytest.mark.parametrize(
    "document",
    [
        {"cache_dir": "x"},  # misspelt: cache-dir
        {"ttl-hours": "soon"},
        {"expired": "later"},
        {"extensions": [{"name": "yaml", "pacakge": "PyYAML"}]},
        {"extensions": [{"package": "PyYAML"}]},  # no name
        {"extensions": {"yaml": 6}},
        {"maintenance": {"gc-every": "often"}},
        {"web": {"port": "80"}},
    ],
)
def test_the_schema_rejects_what_lazyext_rejects(
    capsys: pytest.CaptureFixture[str], document: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, _schema(capsys))


def test_the_schema_has_every_setting_with_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    schema = _schema(capsys)
    for setting in SETTINGS:
        table = schema if not setting.section else schema["properties"][setting.section]
        if setting.section == "extensions":
            table = table["oneOf"][0]["items"]
        described = table["properties"][setting.key]
        assert setting.description in described["description"]
    assert schema["properties"]["ttl-hours"]["default"] == 24.0
    assert json_schema() == schema


# --- the short form ---------------------------------------------------------------------


def test_the_short_form_is_the_mapping_activate_takes(tmp_path: Path) -> None:
    path = tmp_path / "lazyext.toml"
    path.write_text(
        '[extensions]\nyaml = "PyYAML>=6"\nalpha = { package = "alpha", modules = ["alpha"] }\n'
        'later = { package = "beta", enabled = false }\n',
        encoding="utf-8",
    )
    config = lazyext.activate(path)
    short = {p.name: (p.extension.package, p.extension.modules) for p in config.plans}
    assert short == {
        "yaml": ("PyYAML>=6", ("yaml",)),
        "alpha": ("alpha", ("alpha",)),
        "later": ("beta", ("later",)),
    }
    assert config.plan_for("later").extension.enabled is False  # type: ignore[union-attr]
    same = lazyext.activate({"yaml": "PyYAML>=6"})
    assert [(p.name, p.key) for p in same.plans] == [(p.name, p.key) for p in config.plans[:1]]


def test_the_short_form_in_pyproject(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.lazyext.extensions]\nyaml = "PyYAML>=6"\n', encoding="utf-8")
    assert [p.requirement for p in lazyext.activate(path).plans] == ["pyyaml>=6"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[extensions]\nyaml = 6\n", "extensions.yaml: expected a requirement string or a table"),
        (
            '[extensions]\nyaml = { name = "y", package = "PyYAML" }\n',
            "extensions.yaml: name: the key is the name",
        ),
        ('[extensions]\nyaml = { pacakge = "PyYAML" }\n', "did you mean 'package'?"),
        ('[extensions]\nyaml = "--evil"\n', "extension 'yaml'"),
    ],
)
def test_the_short_form_reports_its_problems(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "lazyext.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(lazyext.ConfigError) as caught:
        lazyext.activate(path)
    assert expected in str(caught.value)
