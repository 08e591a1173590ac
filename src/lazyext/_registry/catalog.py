"""A registry's entries: parsed, checked, searched.

A registry is a TOML document of ``[[extensions]]`` tables. Each has the config's keys
(``name``, ``package``, ``modules``, ``arguments``) plus ``description``, ``tags`` and
``homepage``::

    [[extensions]]
    name = "yaml"
    package = "PyYAML>=6"
    modules = ["yaml"]
    description = "YAML parser and emitter"
    tags = ["yaml", "config"]
    homepage = "https://pyyaml.org"

Every problem of a document is reported together (as a config's are), and a document
with any problem is refused whole: a registry either loads or changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from lazyext._errors import ConfigError
from lazyext._record import EMPTY, record
from lazyext._settings import keys
from lazyext._settings.checks import Problems, did_you_mean

_KEYS: Final = frozenset(
    {"name", "package", "modules", "arguments", "description", "tags", "homepage"}
)
#: What a config's [[extensions]] table takes from an entry (the rest describes it).
CONFIG_KEYS: Final = ("name", "package", "modules", "arguments")
_MAX_ENTRIES: Final = 10_000
_MAX_DESCRIPTION: Final = 2_000


@record
class Entry:
    """One extension a registry offers."""

    name: str
    package: str | None = None
    modules: tuple[str, ...] = ()
    arguments: Mapping[str, Any] = EMPTY
    description: str = ""
    tags: tuple[str, ...] = ()
    homepage: str = ""
    registry: str = ""  # where it was read (a path, or the URL without credentials)

    def table(self) -> dict[str, Any]:
        """The entry as a config's ``[[extensions]]`` table (only the keys it sets)."""
        table: dict[str, Any] = {"name": self.name}
        if self.package is not None:
            table["package"] = self.package
        if self.modules:
            table["modules"] = list(self.modules)
        if self.arguments:
            table["arguments"] = dict(self.arguments)
        return table

    def row(self) -> dict[str, Any]:
        """The entry as ``lazyext search`` shows it."""
        return {
            "name": self.name,
            "package": self.package,
            "modules": list(self.modules or (self.name,)),
            "description": self.description,
            "tags": list(self.tags),
            "homepage": self.homepage,
            "registry": self.registry,
        }


def parse(document: Mapping[str, Any], source: str) -> tuple[Entry, ...]:
    """The entries of a parsed registry document read from ``source`` (a path or a URL
    without credentials); ConfigError listing every problem."""
    problems = Problems(f"registry {source}")
    for key in document:
        if key != "extensions":
            problems.add(key, "unknown key (a registry has [[extensions]] tables only)")
    raw = document.get("extensions", [])
    if not isinstance(raw, list):
        problems.add("extensions", "expected an array of tables ([[extensions]])")
        raw = []
    if len(raw) > _MAX_ENTRIES:
        problems.add("extensions", f"{len(raw)} entries; at most {_MAX_ENTRIES}")
        raw = []
    entries: list[Entry] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        where = f"extensions[{index}]"
        if not isinstance(item, dict):
            problems.add(where, "expected a table")
            continue
        if isinstance(item.get("name"), str):
            where += f" (name={item['name']!r})"
        entry = _entry(item, where, source, problems)
        if entry is None:
            continue
        if entry.name in seen:
            problems.add(where, "named twice in this registry; names must be unique")
        seen.add(entry.name)
        entries.append(entry)
    problems.raise_if_any()
    return tuple(entries)


def _entry(item: Mapping[str, Any], where: str, source: str, problems: Problems) -> Entry | None:
    before = len(problems.items)
    for key in item:
        if key not in _KEYS:
            problems.add(f"{where}: {key}", f"unknown key{did_you_mean(key, _KEYS)}")
    name, package = item.get("name"), item.get("package")
    modules, arguments = item.get("modules", []), item.get("arguments", {})
    tags = item.get("tags", [])
    description, homepage = item.get("description", ""), item.get("homepage", "")
    _check(where, "name", lambda: keys.check_extension_name(name), problems)
    if package is not None:
        _check(where, "package", lambda: keys.canonical_requirement(str(package)), problems)
        if not isinstance(package, str):
            problems.add(f"{where}: package", "expected a string")
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        problems.add(f"{where}: modules", "expected a list of import names")
    else:
        for module in modules:
            _check(where, "modules", lambda m=module: keys.check_module_name(m), problems)
    if not isinstance(arguments, dict):
        problems.add(f"{where}: arguments", "expected a table")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        problems.add(f"{where}: tags", "expected a list of strings")
    else:
        for tag in tags:
            _check(where, "tags", lambda t=tag: keys.check_text(t, "tag", keys.MAX_NAME), problems)
    for key, text, limit in (
        ("description", description, _MAX_DESCRIPTION),
        ("homepage", homepage, keys.MAX_TEXT),
    ):
        if not isinstance(text, str):
            problems.add(f"{where}: {key}", "expected a string")
        else:
            _check(where, key, lambda t=text, k=key, n=limit: keys.check_text(t, k, n), problems)
    if len(problems.items) > before:
        return None
    return Entry(
        name=str(name),
        package=package,
        modules=tuple(modules),
        arguments=arguments,
        description=description,
        tags=tuple(tags),
        homepage=homepage,
        registry=source,
    )


def _check(where: str, key: str, check: Any, problems: Problems) -> None:
    try:
        check()
    except ConfigError as error:
        problems.add(f"{where}: {key}", str(error))


def merged(registries: Sequence[Sequence[Entry]]) -> tuple[Entry, ...]:
    """The entries of several registries, the first registry's winning a name."""
    found: dict[str, Entry] = {}
    for entries in registries:
        for entry in entries:
            found.setdefault(entry.name, entry)
    return tuple(found.values())


def find(entries: Sequence[Entry], name: str) -> Entry | None:
    for entry in entries:
        if entry.name == name:
            return entry
    return None


def search(entries: Sequence[Entry], words: Sequence[str]) -> list[Entry]:
    """The entries whose name, description or tags contain every word (any case),
    best first: a word that is the name, then one in the name, then a tag, then the
    description; ties in registry order."""
    wanted = [word.lower() for word in words if word.strip()]
    scored: list[tuple[int, int, Entry]] = []
    for index, entry in enumerate(entries):
        total = 0
        for word in wanted:
            score = _score(entry, word)
            if score == 0:
                break
            total += score
        else:
            scored.append((-total, index, entry))
    return [entry for _, _, entry in sorted(scored, key=lambda row: row[:2])]


def _score(entry: Entry, word: str) -> int:
    name = entry.name.lower()
    tags = [tag.lower() for tag in entry.tags]
    if word == name:
        return 8
    if word in name:
        return 4
    if word in tags:
        return 3
    if any(word in tag for tag in tags):
        return 2
    return 1 if word in entry.description.lower() else 0
