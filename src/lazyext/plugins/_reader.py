"""A plugin's manifest and copy plan, read from a tree without running any of its code.

Where the manifest comes from, first match wins:

1. ``plugin.toml`` in the plugin's package (or at the top of the source);
2. a ``PLUGIN_INFO = {...}`` dict literal in the package's ``__init__.py``, read with
   ``ast`` (never imported: a non-literal value is an error, not a reason to execute);
3. for a distribution (a wheel, or a requirement installed through the cache): its
   ``lazyext.plugins`` entry point and its METADATA (see :mod:`._dist`).

The import name never depends on what the source folder is called: a source that is
the package itself (its ``__init__.py`` at the top) is imported as ``package``, else as
its id with ``-`` and ``.`` made ``_`` (``my-plugin`` -> ``my_plugin``); a source that
holds the package (a folder, zip or wheel) keeps that package's name.
"""

from __future__ import annotations

import ast
import keyword
import tomllib
from collections.abc import Mapping
from typing import Any, Final

from lazyext.plugins._archive import Tree
from lazyext.plugins._dist import raw_from_dist
from lazyext.plugins._errors import ManifestError
from lazyext.plugins._manifest import Manifest, is_metadata, problems_error, validate

MANIFEST_FILE: Final = "plugin.toml"
_READ_LIMIT: Final = 1 << 20


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
        copy = {path: rel for rel, path in relative.items() if not is_metadata(rel)}
        raw, package = _raw_from_root(tree, relative, problems)
    manifest = validate(raw, package, copy, allow_direct_urls, problems)
    if problems or manifest is None:
        raise problems_error(tree.label, problems, raw.get("id"))
    return manifest, copy


def _wrapper(files: list[str]) -> str:
    """``name-1.0/`` when everything sits in one folder that is not itself a package."""
    tops = {path.split("/", 1)[0] for path in files}
    if len(tops) != 1 or any("/" not in path for path in files):
        return ""
    top = tops.pop()
    return "" if f"{top}/__init__.py" in files else top + "/"


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
