"""What a plugin is: its manifest, checked field by field, and the names it owns.

Keys: ``id``, ``name``, ``version`` (PEP 440), ``description``, ``author``,
``dependencies`` (PEP 508, checked exactly like extension requirements: no options,
paths or URLs), ``entry`` (default ``run:Plugin``, relative to the package),
``package`` (the import name). Every problem is collected and reported at once.
Where a manifest comes from is :mod:`._reader`'s.
"""

from __future__ import annotations

import importlib.machinery
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

from packaging.version import InvalidVersion, Version

from lazyext._errors import ConfigError
from lazyext._settings import keys as _keys
from lazyext.plugins._errors import ManifestError

_KEYS: Final = frozenset(
    {"id", "name", "version", "description", "author", "dependencies", "entry"}
)
_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_ATTR: Final = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_NOT_MODULES: Final = (".dist-info", ".data", ".egg-info")


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a plugin is, where its entry object lives and which import names it owns."""

    id: str
    name: str
    version: str
    description: str = ""
    author: str = ""
    dependencies: tuple[str, ...] = ()
    entry: str = ""  # absolute "module:attr" ("module" alone: the module is the entry)
    package: str = ""  # the plugin's own package
    modules: tuple[str, ...] = ()  # every top-level import name the plugin ships

    @property
    def entry_module(self) -> str:
        return self.entry.partition(":")[0]

    @property
    def entry_attr(self) -> str:
        return self.entry.partition(":")[2]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["dependencies"] = list(self.dependencies)
        data["modules"] = list(self.modules)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        values = dict(data)
        values["dependencies"] = tuple(values.get("dependencies", ()))
        values["modules"] = tuple(values.get("modules", ()))
        return cls(**values)


def check_id(value: object) -> str:
    if not isinstance(value, str) or not _ID.match(value) or ".." in value:
        raise ManifestError(
            f"plugin id {value!r} must be 1-100 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit (it names a folder)"
        )
    return value


def is_metadata(path: str) -> bool:
    return path.split("/", 1)[0].endswith(_NOT_MODULES)


def modules_of(paths: list[str]) -> tuple[list[str], list[str]]:
    """Top-level import names among destination paths, and the names that are invalid.

    A folder is one when it holds Python code: a folder of data beside the package
    (``static/``, ``templates/``) is copied but claims no import name."""
    suffixes = (".py", *importlib.machinery.EXTENSION_SUFFIXES)
    names: set[str] = set()
    for path in paths:
        top, slash, _ = path.partition("/")
        if slash and not is_metadata(path) and top.isidentifier() and path.endswith(suffixes):
            names.add(top)
        elif not slash and top.endswith(suffixes):
            names.add(top.partition(".")[0])
    bad = []
    for name in sorted(names):
        try:
            _keys.check_module_name(name)
        except ConfigError as error:
            bad.append(str(error))
    return sorted(names), bad


def validate(
    raw: Mapping[str, Any],
    package: str,
    copy: Mapping[str, str],
    allow_direct_urls: bool,
    problems: list[str],
) -> Manifest | None:
    for key in sorted(set(raw) - _KEYS):
        problems.append(f"{key}: unknown manifest key (known: {', '.join(sorted(_KEYS))})")
    plugin_id = _field(problems, "id", lambda: check_id(raw.get("id")))
    version = _field(problems, "version", lambda: _version(raw.get("version")))
    texts = {}
    for key in ("name", "description", "author"):
        value = raw.get(key, "")
        if not isinstance(value, str):
            problems.append(f"{key}: expected a string, got {type(value).__name__}")
        texts[key] = value if isinstance(value, str) else ""
    dependencies = _dependencies(raw.get("dependencies", []), allow_direct_urls, problems)
    destinations = sorted(copy.values())
    modules, bad = modules_of(destinations)
    problems += bad
    entry = _field(problems, "entry", lambda: _entry(raw.get("entry"), package, modules, copy))
    if problems or plugin_id is None or version is None or entry is None:
        return None
    return Manifest(
        id=plugin_id,
        name=texts["name"] or plugin_id,
        version=version,
        description=texts["description"],
        author=texts["author"],
        dependencies=tuple(dependencies),
        entry=entry,
        package=package,
        modules=tuple(modules),
    )


def _field(problems: list[str], key: str, check: Callable[[], Any]) -> Any:
    try:
        return check()
    except ConfigError as error:
        problems.append(f"{key}: {error}")
        return None


def _version(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ManifestError(f"required, a PEP 440 version string, got {value!r}")
    try:
        return str(Version(value))
    except InvalidVersion as error:
        raise ManifestError(f"{value!r} is not a PEP 440 version") from error


def _dependencies(value: object, allow_direct_urls: bool, problems: list[str]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.append("dependencies: expected a list of PEP 508 requirement strings")
        return []
    result = []
    for item in value:
        try:
            canonical = _keys.canonical_requirement(item, allow_direct_urls=allow_direct_urls)[0]
        except ConfigError as error:
            problems.append(f"dependencies: {error}")
            continue
        result.append(canonical)
    return result


def _entry(value: object, package: str, modules: list[str], copy: Mapping[str, str]) -> str:
    if value is None:
        value = "run:Plugin"
    if not isinstance(value, str) or value.count(":") > 1:
        raise ManifestError(f"expected 'module:attr', got {value!r}")
    module, _, attr = value.partition(":")
    if attr and not _ATTR.match(attr):
        raise ManifestError(f"{attr!r} is not an attribute name")
    if not package:
        raise ManifestError("the plugin's package is unknown")
    destinations = set(copy.values())
    if module.startswith("."):
        candidates = [package + module]  # ".run" -> "<package>.run", "." -> the package
    elif module == package or module.startswith(package + "."):
        candidates = [module]
    else:
        candidates = [f"{package}.{module}" if module else package]
        if module.split(".", 1)[0] in modules:
            candidates.append(module)  # a top-level sibling module of the plugin
    for candidate in candidates:
        if _ships(candidate.rstrip("."), destinations):
            return candidate.rstrip(".") + (f":{attr}" if attr else "")
    raise ManifestError(
        f"{value!r} names a module the plugin does not ship (looked for "
        f"{' or '.join(c.rstrip('.') for c in candidates)})"
    )


def _ships(module: str, destinations: set[str]) -> bool:
    path = module.replace(".", "/")
    suffixes = (".py", *importlib.machinery.EXTENSION_SUFFIXES)
    return f"{path}/__init__.py" in destinations or any(
        path + suffix in destinations for suffix in suffixes
    )


def problems_error(label: str, problems: list[str], plugin_id: object) -> ManifestError:
    if len(problems) == 1:
        message = f"{label}: invalid plugin manifest: {problems[0]}"
    else:
        listing = "\n".join(f"  - {item}" for item in problems)
        message = f"{label}: invalid plugin manifest, {len(problems)} problems:\n{listing}"
    return ManifestError(
        message,
        plugin_id=plugin_id if isinstance(plugin_id, str) else "",
        problems=tuple(problems),
        source=label,
    )
