"""Editable plugins: run from the author's folder, so edits are what ``reload`` and
hot reload pick up.

``install(path, editable=True)`` checks the folder like any install (manifest, syntax,
names, dependencies) but copies nothing: the state row points at the folder itself.
Whoever can write to that folder chooses what the plugin runs, so it must pass the
rule lazyext applies to its own directories (:mod:`lazyext._trust`: the folder and
every parent up to ``/``), at install and again before every import of it (enable,
reload, hot reload); each folder and file the plugin ships must also be this user's
(or root's) and writable by no one else. Uninstalling an editable plugin forgets it
and never deletes the folder.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping

from lazyext import _trust
from lazyext._errors import UnsafeCacheError
from lazyext._settings.config import Config
from lazyext.plugins import _reader
from lazyext.plugins._archive import Limits
from lazyext.plugins._errors import ManifestError
from lazyext.plugins._reload import signature
from lazyext.plugins._sources import open_source
from lazyext.plugins._store import PluginInfo


def is_editable(root: str, path: str) -> bool:
    """Is ``path`` (a plugin's recorded path) outside the managed directory ``root``?"""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return not (real == real_root or real.startswith(real_root + os.sep))


def check_folder(folder: str, files: Iterable[str] | None = None) -> str:
    """Refuse a folder others could write to (see the module docstring); its real path.

    The folder and its parents follow :mod:`lazyext._trust`'s rule. ``files`` are paths
    relative to the folder (``/``-separated) checked as well, with the folders between;
    ``None``: every file under it (hidden folders and bytecode caches aside)."""
    try:
        real = _trust.check_dir(folder, what="editable plugin folder", root_owned_ok=True)
    except (UnsafeCacheError, OSError) as error:
        raise ManifestError(f"{folder}: {error}", source=folder) from error
    if not hasattr(os, "geteuid"):
        return real
    if files is None:
        files = [path.replace(os.sep, "/") for path, _mtime, _size in signature(real)]
    inside: set[str] = set()
    for relative in files:
        parts = relative.split("/")
        inside.update(os.path.join(real, *parts[:i]) for i in range(1, len(parts) + 1))
    problems: list[str] = []
    for path in sorted(inside):
        _check(path, os.geteuid(), problems)
    if problems:
        raise ManifestError(
            f"{folder}: an editable plugin runs from this folder, but others could change "
            f"what it runs: {'; '.join(problems[:5])}"
            + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
            + "; fix the owner or permissions (chmod go-w), or install a copy instead",
            problems=tuple(problems),
            source=folder,
        )
    return real


def _check(path: str, me: int, problems: list[str]) -> None:
    try:
        info = os.stat(path)
    except OSError as error:
        problems.append(f"{path}: {error.strerror or error}")
        return
    if info.st_uid not in (me, 0):
        problems.append(f"{path} is owned by uid {info.st_uid}")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problems.append(f"{path} is writable by its group or others")


def run_root(folder: str, copy: Mapping[str, str], package: str) -> str:
    """The directory the plugin's names are imported from when it runs in ``folder``.

    ``copy`` maps the folder's files to where an install would put them: the folder is
    the package itself (its files go under ``<package>/``), or it holds the plugin's
    top-level names (perhaps inside one wrapper folder, which is then the root)."""
    pairs = list(copy.items())
    if all(dest == f"{package}/{src}" for src, dest in pairs):
        return folder
    bases = {src[: len(src) - len(dest)] for src, dest in pairs if src.endswith(dest)}
    if len(bases) == 1 and all(src.endswith(dest) for src, dest in pairs):
        base = bases.pop().strip("/")
        return os.path.join(folder, *base.split("/")) if base else folder
    raise ManifestError(
        f"{folder}: this folder's layout is not the one the plugin is imported with; "
        "install a copy instead (without --editable)",
        source=folder,
    )


def manifest_changed(root: str, config: Config, info: PluginInfo) -> bool:
    """Does the editable plugin's folder now declare another manifest than the one
    recorded? (``False`` for an installed copy, or a folder that no longer reads.)"""
    if not is_editable(root, info.path):
        return False
    try:
        opened = open_source(info.source, config, Limits())
    except ManifestError:
        return False
    try:
        manifest, _copy = _reader.read(
            opened.tree,
            folder_name=opened.folder_name,
            allow_direct_urls=config.settings.allow_direct_urls,
        )
    except ManifestError:
        return False  # reload reports what is wrong when it imports
    finally:
        opened.tree.close()
    return manifest != info.manifest
