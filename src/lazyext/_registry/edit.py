"""Editing a config file: one ``[[extensions]]`` table added or removed.

tomlkit keeps what it does not touch byte for byte: comments, blank lines, key order,
quoting. The new text is made in memory and parsed as the config would be
(:func:`parse_text`): ``lazyext add`` checks that config, not a guess of it, and writes
the text only once the check passed, and only if the file is still what was read.
A refused edit writes nothing.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from typing import Any

from lazyext._errors import ConfigError
from lazyext._record import record
from lazyext._settings import parse
from lazyext._settings.config import Config


@record
class ConfigFile:
    """A config file as it was read: its path and its exact text."""

    path: str
    text: str
    exists: bool = True

    @property
    def pyproject(self) -> bool:
        return os.path.basename(self.path) == "pyproject.toml"


def read(path: str) -> ConfigFile:
    """The config file at ``path``; a missing one reads as empty (``add`` creates it)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return ConfigFile(path=path, text="", exists=False)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file: {error}", source=path) from error
    try:
        return ConfigFile(path=path, text=data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text", source=path) from error


def added(config: ConfigFile, table: Mapping[str, Any]) -> str:
    """The file's text with ``table`` appended to its extensions."""
    import tomlkit  # ~40 ms: add and remove only

    document = _document(config.text, config.path)
    container = _container(document, config.pyproject, create=True)
    existing = container.get("extensions")
    if existing is not None and not isinstance(existing, list):
        raise ConfigError(f"{config.path}: extensions must be an array of tables")
    if isinstance(existing, tomlkit.items.Array):  # extensions = [{...}, ...]
        inline = tomlkit.inline_table()
        inline.update(table)
        existing.append(inline)
    else:
        item = tomlkit.table()
        for key, value in table.items():
            item[key] = value
        item.add(tomlkit.nl())
        if existing is None:
            if config.text and not config.text.endswith("\n\n") and not config.pyproject:
                document.add(tomlkit.nl())
            array = tomlkit.aot()
            array.append(item)
            container.append("extensions", array)
        else:
            last = existing[-1] if len(existing) else None
            if last is not None and not last.as_string().endswith("\n\n"):
                last.add(tomlkit.nl())  # a blank line between the tables
            existing.append(item)
    return _tidy(tomlkit.dumps(document), config.text)


def removed(config: ConfigFile, name: str) -> str:
    """The file's text without the extension named ``name`` (ConfigError if absent)."""
    document = _document(config.text, config.path)
    container = _container(document, config.pyproject, create=False)
    extensions = container.get("extensions") if container is not None else None
    names = [item.get("name") for item in extensions or () if isinstance(item, Mapping)]
    if extensions is None or name not in names:
        raise ConfigError(f"{config.path}: no extension named {name!r} in the file")
    if len(extensions) == 1:
        del container["extensions"]  # not an empty `extensions = []` at the top
    else:
        del extensions[names.index(name)]
    return _tidy(_dumps(document), config.text)


def parse_text(config: ConfigFile, text: str) -> Config:
    """``text`` parsed as the config at ``config.path`` would be."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:  # not expected: tomlkit wrote it
        raise ConfigError(f"{config.path}: the edited text is not valid TOML: {error}") from error
    table: Any = document
    if config.pyproject:
        table = document.get("tool", {}).get("lazyext", {})
    return parse.parse_table(
        table, source=config.path, base=os.path.dirname(config.path), overrides={}
    )


def write(config: ConfigFile, text: str) -> None:
    """Replace the file with ``text`` atomically, keeping its mode, if it still holds
    what was read (another edit meanwhile: ConfigError, nothing written)."""
    if read(config.path).text != config.text:
        raise ConfigError(
            f"{config.path} changed while lazyext was checking the edit; nothing was "
            "written, run the command again",
            source=config.path,
        )
    mode = os.stat(config.path).st_mode & 0o7777 if config.exists else 0o644
    temporary = f"{config.path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        with open(os.open(temporary, flags, mode), "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, config.path)
    except OSError as error:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise ConfigError(
            f"cannot write {config.path}: {error.strerror or error}", source=config.path
        ) from error


def _document(text: str, path: str) -> Any:
    import tomlkit

    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}", source=path) from error


def _dumps(document: Any) -> str:
    import tomlkit

    return tomlkit.dumps(document)


def _container(document: Any, pyproject: bool, *, create: bool) -> Any:
    """The table that holds the settings: the document, or ``[tool.lazyext]``."""
    import tomlkit

    if not pyproject:
        return document
    tool = document.get("tool")
    if tool is None:
        if not create:
            return None
        document.add(tomlkit.nl())
        document["tool"] = tomlkit.table(is_super_table=True)
        tool = document["tool"]
    lazyext = tool.get("lazyext")
    if lazyext is None:
        if not create:
            return None
        tool["lazyext"] = tomlkit.table()
        lazyext = tool["lazyext"]
    return lazyext


def _tidy(text: str, before: str) -> str:
    """One newline at the end, as the file had (tomlkit leaves the blank line that
    separates an appended table from what follows)."""
    if text.endswith("\n\n") and not before.endswith("\n\n"):
        text = text.rstrip("\n") + "\n"
    return text
