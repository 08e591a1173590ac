"""A plugin's manifest, read without running any of its code.

Where it comes from, first match wins:

1. ``plugin.toml`` in the plugin's package (or at the top of the source);
2. a ``PLUGIN_INFO = {...}`` dict literal in the package's ``__init__.py``, read with
   ``ast`` (never imported: a non-literal value is an error, not a reason to execute);
3. for a distribution (a wheel, or a requirement installed through the cache): its
   ``lazyext.plugins`` entry point and its METADATA (see :mod:`._dist`).

Keys: ``id``, ``name``, ``version`` (PEP 440), ``description``, ``author``,
``dependencies`` (PEP 508, checked exactly like extension requirements: no options,
paths or URLs), ``entry`` (default ``run:Plugin``, relative to the package),
``package`` (the import name). Every problem is collected and reported at once.

The import name never depends on what the source folder is called: a source that is
the package itself (its ``__init__.py`` at the top) is imported as ``package``, else as
its id with ``-`` and ``.`` made ``_`` (``my-plugin`` -> ``my_plugin``); a source that
holds the package (a folder, zip or wheel) keeps that package's name.
"""

from __future__ import annotations

import ast
import importlib.machinery
import keyword
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

from lazyext._errors import ConfigError
from lazyext._settings import keys as _keys
from lazyext.plugins._archive import Tree
from lazyext.plugins._dist import raw_from_dist
from lazyext.plugins._errors import ManifestError

MANIFEST_FILE: Final = "plugin.toml"
_KEYS: Final = frozenset(
    {"id", "name", "version", "description", "author", "dependencies", "entry"}
)
_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_ATTR: Final = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_READ_LIMIT: Final = 1 << 20
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


def read(
    tree: Tree, *, folder_name: str | None, allow_direct_urls: bool
) -> tuple[Manifest, dict[str, str]]:
    """The manifest of the plugin in ``tree`` and its copy plan (tree path -> path)."""
    files = sorted(tree.files)
    base = _wrapper(files)
    relative = {path[len(base) :]: path for path in files if path.startswith(base)}
    problems: list[str] = []
    if "__init__.py" in relative:
        raw = _raw_from_package(tree, relative, "")
        package = _package_name(folder_name, raw, tree.label, problems)
        copy = {path: f"{package}/{rel}" for rel, path in relative.items()}
    else:
        copy = {path: rel for rel, path in relative.items() if not _is_metadata(rel)}
        raw, package = _raw_from_root(tree, relative, problems)
    manifest = _validate(raw, package, copy, allow_direct_urls, problems)
    if problems or manifest is None:
        raise _problems(tree.label, problems, raw.get("id"))
    return manifest, copy


def _wrapper(files: list[str]) -> str:
    """``name-1.0/`` when everything sits in one folder that is not itself a package."""
    tops = {path.split("/", 1)[0] for path in files}
    if len(tops) != 1 or any("/" not in path for path in files):
        return ""
    top = tops.pop()
    return "" if f"{top}/__init__.py" in files else top + "/"


def _is_metadata(path: str) -> bool:
    return path.split("/", 1)[0].endswith(_NOT_MODULES)


def _raw_from_package(tree: Tree, relative: Mapping[str, str], prefix: str) -> dict[str, Any]:
    toml = relative.get(prefix + MANIFEST_FILE)
    if toml is not None:
        return _toml(tree, toml)
    init = relative.get(prefix + "__init__.py")
    info = _plugin_info(tree, init) if init is not None else None
    if info is None:
        raise ManifestError(
            f"{tree.label}: no manifest: add {MANIFEST_FILE} or a PLUGIN_INFO dict literal "
            f"to {prefix}__init__.py",
            source=tree.label,
        )
    return info


def _raw_from_root(
    tree: Tree, relative: Mapping[str, str], problems: list[str]
) -> tuple[dict[str, Any], str]:
    from_dist = raw_from_dist(tree, relative)
    if from_dist is not None:
        raw, package = from_dist
        return raw, package
    if MANIFEST_FILE in relative:
        raw = _toml(tree, relative[MANIFEST_FILE])
        packages = _packages(relative)
        named = raw.pop("package", None)
        if isinstance(named, str):
            return raw, named
        if len(packages) == 1:
            return raw, packages[0]
        problems.append(f'{MANIFEST_FILE}: set package = "..." (found {packages or "none"})')
        return raw, ""
    candidates = [
        name
        for name in _packages(relative)
        if f"{name}/{MANIFEST_FILE}" in relative or _has_info(tree, relative, name)
    ]
    if len(candidates) != 1:
        found = ", ".join(candidates) if candidates else "none"
        raise ManifestError(
            f"{tree.label}: expected exactly one package with a manifest ({MANIFEST_FILE} or "
            f"PLUGIN_INFO), found {found}",
            source=tree.label,
        )
    raw = _raw_from_package(tree, relative, candidates[0] + "/")
    named = raw.pop("package", candidates[0])
    if named != candidates[0]:
        problems.append(f"package: {named!r}, but the package's folder is {candidates[0]!r}")
    return raw, candidates[0]


def _packages(relative: Mapping[str, str]) -> list[str]:
    return sorted(
        path.split("/", 1)[0]
        for path in relative
        if path.count("/") == 1 and path.endswith("/__init__.py")
    )


def _has_info(tree: Tree, relative: Mapping[str, str], package: str) -> bool:
    init = relative.get(f"{package}/__init__.py")
    return init is not None and b"PLUGIN_INFO" in tree.read(init, _READ_LIMIT)


def _toml(tree: Tree, path: str) -> dict[str, Any]:
    import tomllib

    try:
        document = tomllib.loads(tree.read(path, _READ_LIMIT).decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ManifestError(f"{tree.label}: {path}: not valid TOML: {error}") from error
    return document


def _plugin_info(tree: Tree, path: str) -> dict[str, Any] | None:
    source = tree.read(path, _READ_LIMIT)
    if b"PLUGIN_INFO" not in source:
        return None
    where = f"{tree.label}: {path}"
    try:
        module = ast.parse(source, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        raise ManifestError(f"{where}: not valid Python: {error}") from error
    values = [
        node.value
        for node in module.body
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "PLUGIN_INFO" for t in node.targets)
        )
        or (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == "PLUGIN_INFO"
        )
    ]
    if not values:
        return None
    if len(values) > 1 or values[0] is None:
        raise ManifestError(f"{where}: PLUGIN_INFO must be assigned exactly once")
    try:
        info = ast.literal_eval(values[0])
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError) as error:
        raise ManifestError(
            f"{where}: PLUGIN_INFO must be a dict literal (it is read without running the "
            f"plugin): {error}"
        ) from error
    if not isinstance(info, dict):
        raise ManifestError(f"{where}: PLUGIN_INFO must be a dict, not {type(info).__name__}")
    return info


def package_for_id(plugin_id: object) -> str:
    """The import name of a plugin whose source is its package itself: its id with
    ``-`` and ``.`` made ``_`` (``""`` if that is no identifier)."""
    guess = str(plugin_id or "").replace("-", "_").replace(".", "_")
    return guess if guess.isidentifier() and not keyword.iskeyword(guess) else ""


def _package_name(
    folder_name: str | None, raw: dict[str, Any], label: str, problems: list[str]
) -> str:
    # The manifest, not the folder: installing from "my_plugin_v2/" or a checkout named
    # "my-plugin-main/" must not change what the plugin is imported as.
    named = raw.pop("package", None)
    if named is not None:
        if isinstance(named, str) and named.isidentifier() and not keyword.iskeyword(named):
            return named
        problems.append(f"package: {named!r} is not a Python identifier")
    by_id = package_for_id(raw.get("id"))
    if by_id:
        return by_id
    if folder_name is not None and folder_name.isidentifier():
        return folder_name
    raise ManifestError(
        f"{label}: cannot name the package: neither the id {raw.get('id')!r} nor the folder "
        f"{folder_name!r} is a Python identifier; give the plugin an id like 'my_plugin'",
        source=label,
    )


def modules_of(paths: list[str]) -> tuple[list[str], list[str]]:
    """Top-level import names among destination paths, and the names that are invalid.

    A folder is one when it holds Python code: a folder of data beside the package
    (``static/``, ``templates/``) is copied but claims no import name."""
    suffixes = (".py", *importlib.machinery.EXTENSION_SUFFIXES)
    names: set[str] = set()
    for path in paths:
        top, slash, _ = path.partition("/")
        if slash and not _is_metadata(path) and top.isidentifier() and path.endswith(suffixes):
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


def _validate(
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


def _field(problems: list[str], key: str, check: Any) -> Any:
    try:
        return check()
    except ConfigError as error:
        problems.append(f"{key}: {error}")
        return None


def _version(value: object) -> str:
    from packaging.version import InvalidVersion, Version

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


def _problems(label: str, problems: list[str], plugin_id: object) -> ManifestError:
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
