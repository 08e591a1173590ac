"""mkdocs hook: the CLI and configuration references, generated at build time.

A page that holds ``<!-- lazyext:cli -->`` gets the command line as lazyext's own
argument parser defines it; ``<!-- lazyext:settings -->`` gets every config key from the
settings' definitions with the descriptions of the settings table (see
``settings_table.py``). Neither can drift: a key without a description, a description
without a key, or a default that differs fails the build.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[1] / "src" / "lazyext"

MISSING: Any = object()  # a definition without a default (a required or computed value)

SECTIONS = {
    "": "Top level",
    "extensions": "`[[extensions]]`",
    "plugins": "`[plugins]`",
    "maintenance": "`[maintenance]`",
    "tasks": "`[tasks]`",
    "web": "`[web]`",
}


def on_page_markdown(markdown: str, **_: Any) -> str:
    if "<!-- lazyext:cli -->" in markdown:
        markdown = markdown.replace("<!-- lazyext:cli -->", cli_reference())
    if "<!-- lazyext:settings -->" in markdown:
        markdown = markdown.replace("<!-- lazyext:settings -->", settings_reference())
    return markdown


# --- the command line -------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """``lazyext.cli.build_parser()``."""
    cli = importlib.import_module("lazyext.cli")
    factory = cli.build_parser
    parser: argparse.ArgumentParser = factory()
    return parser


def cli_reference() -> str:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "90"  # argparse wraps usage lines at the terminal's width
    try:
        parser = build_parser()
        lines = ["### Global options", "", _usage(parser), "", *_options(parser)]
        for name, help_text, command in _commands(parser):
            lines += ["", f"### `{name}`", "", help_text, "", _usage(command), ""]
            lines += _options(command)
        return "\n".join(lines) + "\n"
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous


def _commands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, Any]]:
    """Every (sub)command in the parser's order: ``lazyext tasks add`` and so on."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
        for name, command in action.choices.items():
            text = helps.get(name, "")
            yield command.prog, _sentence(text), command
            yield from _commands(command)


def _usage(parser: argparse.ArgumentParser) -> str:
    usage = parser.format_usage().strip().removeprefix("usage: ").replace("\n       ", "\n")
    return f"```text\n{usage}\n```"


def _options(parser: argparse.ArgumentParser) -> list[str]:
    formatter = parser._get_formatter()
    rows = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(
            action, (argparse._HelpAction, argparse._SubParsersAction)
        ):
            continue
        if action.option_strings:
            metavar = (
                formatter._format_args(action, action.dest.upper()) if action.nargs != 0 else ""
            )
            name = ", ".join(
                f"`{option}{' ' + metavar if metavar else ''}`" for option in action.option_strings
            )
        else:
            name = f"`{formatter._format_args(action, action.dest.upper())}`"
        text = formatter._expand_help(action) if action.help else ""
        rows.append(f"| {name} | {_cell(text)} |")
    if not rows:
        return ["No arguments."]
    return ["| argument | description |", "|---|---|", *rows]


def _sentence(text: str) -> str:
    return (text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")) if text else ""


def _cell(text: str) -> str:
    """One table cell: on one line, Markdown's specials escaped outside code spans."""
    pieces = " ".join(text.split()).replace("|", "\\|").split("`")
    for index in range(0, len(pieces), 2):
        pieces[index] = pieces[index].replace("<", "&lt;").replace("*", "\\*")
    return "`".join(pieces)


# --- the configuration ------------------------------------------------------------------


def settings_table() -> Any:
    """The descriptions: :mod:`lazyext._settings.reference`."""
    return importlib.import_module("lazyext._settings.reference")


def settings_reference() -> str:
    table = settings_table()
    check_settings(table)
    lines: list[str] = []
    for section, title in SECTIONS.items():
        rows = [s for s in table.SETTINGS if s.section == section]
        lines += [f"### {title}", "", "| key | type | default | description |", "|---|---|---|---|"]
        for s in rows:
            env = f" Environment: {_code_names(s.env)}." if s.env else ""
            lines.append(
                f"| `{s.key}` | {s.type} | {_default(s.default)} | {_cell(s.description)}{env} |"
            )
        lines.append("")
    lines += ["### Environment variables", "", "| variable | meaning |", "|---|---|"]
    lines += [f"| `{name}` | {_cell(text)} |" for name, text in table.ENVIRONMENT]
    return "\n".join(lines) + "\n"


def _code_names(text: str) -> str:
    return re.sub(r"\b((?:LAZYEXT|UV)_[A-Z_]+)", r"`\1`", text)


def _default(default: str | None) -> str:
    if default is None:
        return "unset"
    if default.startswith("("):
        return default[1:-1]
    return f"`{default}`"


def definitions() -> dict[str, dict[str, object]]:
    """Each section's keys and their defaults, from the definitions in lazyext."""
    from lazyext._settings import maintenance
    from lazyext.plugins import _settings as plugins
    from lazyext.web import _settings as web

    config = importlib.import_module("lazyext._settings.config")
    missing = MISSING
    return {
        "": _record_defaults(config.Settings, missing),
        "extensions": _record_defaults(config.Extension, missing),
        "plugins": {
            key: _field_default(plugins.PluginSettings, key, missing) for key in plugins._TYPES
        },
        "maintenance": _record_defaults(maintenance.Maintenance, missing),
        "tasks": {"directory": None},
        "web": {key: _field_default(web.WebSettings, key, missing) for key in web._TYPES},
    }


def _record_defaults(cls: type, missing: object) -> dict[str, object]:
    import inspect

    return {
        name.replace("_", "-"): (missing if p.default is p.empty else p.default)
        for name, p in inspect.signature(cls).parameters.items()
    }


def _field_default(cls: type, key: str, missing: object) -> object:
    import dataclasses

    for field in dataclasses.fields(cls):
        if field.name == key.replace("-", "_"):
            if field.default is not dataclasses.MISSING:
                return field.default
            if field.default_factory is not dataclasses.MISSING:
                return field.default_factory()
    return missing


def check_settings(table: Any) -> None:
    """Raise if the table and the definitions disagree (mkdocs then fails the build)."""
    problems = []
    defined = definitions()
    for section, keys in defined.items():
        described = {s.key: s for s in table.SETTINGS if s.section == section}
        for key in sorted(set(keys) - set(described)):
            problems.append(f"[{section or 'top level'}] {key}: no description")
        for key in sorted(set(described) - set(keys)):
            problems.append(f"[{section or 'top level'}] {key}: described, not defined")
        for key in sorted(set(keys) & set(described)):
            problem = _default_problem(section, key, described[key].default, keys[key], MISSING)
            if problem:
                problems.append(f"[{section or 'top level'}] {key}: {problem}")
    documented = {name for name, _ in table.ENVIRONMENT}
    documented |= {m for s in table.SETTINGS for m in re.findall(r"LAZYEXT_[A-Z_]+", s.env)}
    for name in sorted(_variables_in_source() - documented):
        problems.append(f"environment variable {name}: not documented")
    if problems:
        raise ValueError("settings reference:\n  " + "\n  ".join(problems))


def _default_problem(
    section: str, key: str, text: str | None, real: object, missing: object
) -> str | None:
    if text is not None and text.startswith("("):
        return None  # a computed default, described in words
    if real is missing:
        return None if text is None else f"documented default {text}, none defined"
    if text is None:
        return None if real is None or real == () else f"documented unset, defined {real!r}"
    value = tomllib.loads(f"value = {text}")["value"]
    if isinstance(value, str) and isinstance(real, int | float) and section == "maintenance":
        from lazyext._settings.maintenance import parse_duration, parse_size

        value = (parse_size if key == "max-size" else parse_duration)(value)
    if isinstance(value, list):
        value = tuple(value)
    if value != real:
        return f"documented default {text}, defined {real!r}"
    return None


def _variables_in_source() -> set[str]:
    found: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        found |= set(re.findall(r"\bLAZYEXT_[A-Z_]*[A-Z]\b", path.read_text(encoding="utf-8")))
    return found
