"""A script's inline metadata (PEP 723): the ``# /// script`` block.

::

    # /// script
    # requires-python = ">=3.11"
    # dependencies = ["PyYAML>=6", "rich"]
    # [tool.lazyext]
    # find-links = ["wheels"]
    # ///

The block is found with the PEP's own pattern; its TOML is read and checked here.
Every problem is a :class:`lazyext.ConfigError` that names the script's line
(``script.py:4: ...``): ``lazyext run`` exits 2 on it, before the script starts.
"""

from __future__ import annotations

import re
import sys
from typing import Any, Final

from lazyext._errors import ConfigError
from lazyext._record import EMPTY, record
from lazyext._settings import keys

#: PEP 723's reference pattern.
_BLOCK: Final = re.compile(
    r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$"
)
_KEYS: Final = frozenset({"dependencies", "requires-python", "tool"})


@record
class Block:
    """The text of a script's ``script`` block and the line it starts on (1-based)."""

    text: str  # the TOML, comment markers removed
    line: int


@record
class Metadata:
    """What a script's block declares."""

    dependencies: tuple[str, ...] = ()
    requires_python: str = ""
    lazyext: Any = EMPTY  # the [tool.lazyext] table: the config's keys


def find_block(source: str, path: str) -> Block | None:
    """The script's ``script`` block, ``None`` if it has none; two are an error."""
    found = [match for match in _BLOCK.finditer(source) if match["type"] == "script"]
    if len(found) > 1:
        line = source.count("\n", 0, found[1].start()) + 1
        raise ConfigError(f"{path}:{line}: a second `# /// script` block; PEP 723 allows one")
    if not found:
        return None
    match = found[0]
    text = "".join(
        line[2:] if line.startswith("# ") else line[1:]
        for line in match["content"].splitlines(keepends=True)
    )
    return Block(text=text, line=source.count("\n", 0, match.start()) + 1)


def parse(block: Block, path: str) -> Metadata:
    """Read and check the block: its TOML, its keys, the interpreter it requires."""
    import tomllib

    try:
        table = tomllib.loads(block.text)
    except tomllib.TOMLDecodeError as error:
        line = block.line + _toml_line(str(error), block.text)
        raise ConfigError(
            f"{path}:{line}: the `# /// script` block is not valid TOML: {error}",
            source=path,
        ) from error
    for key in table:
        if key not in _KEYS:
            why = f"unknown key {key!r} (PEP 723 defines dependencies, requires-python, [tool])"
            raise _problem(block, path, key, why)
    dependencies = table.get("dependencies", [])
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise _problem(block, path, "dependencies", "dependencies must be a list of strings")
    for dependency in dependencies:
        try:
            keys.canonical_requirement(dependency, allow_direct_urls=True)
        except ConfigError as error:
            raise _problem(block, path, "dependencies", str(error)) from error
    requires = table.get("requires-python", "")
    if not isinstance(requires, str):
        raise _problem(block, path, "requires-python", "requires-python must be a string")
    check_python(requires, block, path)
    tool = table.get("tool", {})
    lazyext = tool.get("lazyext", {}) if isinstance(tool, dict) else None
    if not isinstance(lazyext, dict):
        raise _problem(block, path, "tool", "[tool.lazyext] must be a table")
    return Metadata(dependencies=tuple(dependencies), requires_python=requires, lazyext=lazyext)


def check_python(requires: str, block: Block, path: str) -> None:
    if not requires:
        return
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        specifier = SpecifierSet(requires)
    except InvalidSpecifier as error:
        raise _problem(
            block, path, "requires-python", f"requires-python = {requires!r} is not valid: {error}"
        ) from error
    running = ".".join(map(str, sys.version_info[:3]))
    if not specifier.contains(running, prereleases=True):
        raise _problem(
            block,
            path,
            "requires-python",
            f"requires-python = {requires!r} excludes this interpreter (Python {running}, "
            f"{sys.executable}); run it with a Python that matches",
        )


def _problem(block: Block, path: str, key: str, message: str) -> ConfigError:
    """An error at the line of ``key`` in the block (the block's first line otherwise)."""
    offset = 0
    for index, line in enumerate(block.text.splitlines(), start=1):
        if re.match(rf"\s*(\[\s*)?{re.escape(key)}\b", line):
            offset = index
            break
    return ConfigError(f"{path}:{block.line + offset}: {message}", source=path)


def _toml_line(message: str, text: str) -> int:
    """The block's line of tomllib's ``(at line N, column M)`` (or its last line, for
    ``(at end of document)``)."""
    found = re.search(r"at line (\d+)", message)
    if found is None:
        return len(text.splitlines()) if "end of document" in message else 0
    return int(found[1])
