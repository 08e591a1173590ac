"""Where plugins come from: a folder, a zip or wheel, or a requirement.

A source is a folder, a zip (a ``.whl`` is a zip too) or a requirement string. A
requirement is installed through the cache like any extension and only the plugin
distribution's own files (from its ``RECORD``) are taken from the install: nothing is
ever installed into the host environment. Dependencies are :mod:`._dependencies`'s.
"""

from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from dataclasses import dataclass

from lazyext._env.provision import provision
from lazyext._settings.config import Config
from lazyext._use import plan_for
from lazyext.plugins._archive import DirTree, Limits, Tree, ZipTree
from lazyext.plugins._errors import ManifestError

#: ``name [extras] @ scheme:...``: PEP 508's direct reference (a name, then a URL).
_DIRECT_URL = re.compile(
    r"^\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?\s*@\s*[A-Za-z][A-Za-z0-9+.-]*:"
)


@dataclass(frozen=True, slots=True)
class Source:
    tree: Tree
    label: str  # recorded as the plugin's source
    folder_name: str | None  # names the package when the source is the package itself


def open_source(source: str | os.PathLike[str], config: Config, limits: Limits) -> Source:
    """Open a folder, zip or requirement; nothing is written except a cache install."""
    if not isinstance(source, (str, os.PathLike)):
        raise ManifestError(f"a plugin source is a path or a requirement, not {source!r}")
    text = os.fspath(source)
    if isinstance(source, os.PathLike) or is_path(text):
        return _open_path(os.path.abspath(os.path.expanduser(text)), limits)
    return _open_requirement(text, config, limits)


def is_path(text: str) -> bool:
    """Does ``text`` name a folder or a zip (else it is a requirement)?

    What exists is a path. A direct-URL requirement (``name @ https://...``) is a
    requirement although its URL has slashes: it is installed through the cache like
    any other, and refused there unless ``allow-direct-urls``. Otherwise what looks
    like a path (``./x``, ``/x``, ``~/x``, ``a/b``, ``x.zip``, ``x.whl``) is one.
    """
    if os.path.lexists(os.path.abspath(os.path.expanduser(text))):
        return True
    if _DIRECT_URL.match(text):
        return False
    return (
        text.startswith((".", "~"))
        or "/" in text
        or "\\" in text
        or text.lower().endswith((".zip", ".whl"))
    )


def _open_path(path: str, limits: Limits) -> Source:
    if not os.path.lexists(path):
        raise ManifestError(f"{path}: no such file or folder", source=path)
    if os.path.isdir(path):
        name = os.path.basename(os.path.realpath(path))
        return Source(DirTree(path, limits), path, name)
    if not zipfile.is_zipfile(path):
        raise ManifestError(f"{path}: neither a folder nor a zip archive", source=path)
    return Source(ZipTree(path, limits), path, None)


def _open_requirement(requirement: str, config: Config, limits: Limits) -> Source:
    plan = plan_for(requirement, config)
    if not plan.marker_ok:
        raise ManifestError(f"{requirement!r} does not apply to this interpreter (marker)")
    entry = provision(plan, config.settings, config.platform)
    target = entry.target
    record = _record_of(target, plan.dist, requirement)
    files = [path for path in record if not path.startswith(("../", "/")) and ".." not in path]
    tree = DirTree(target, limits, only=files)
    return Source(tree, plan.requirement, None)


def _normalize(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def _record_of(target: str, dist: str, requirement: str) -> list[str]:
    for name in os.listdir(target):
        stem = name.removesuffix(".dist-info")
        if stem != name and _normalize(stem.rpartition("-")[0]) == _normalize(dist):
            path = os.path.join(target, name, "RECORD")
            try:
                with open(path, encoding="utf-8") as handle:
                    rows = list(csv.reader(io.StringIO(handle.read())))
            except OSError as error:
                raise ManifestError(f"{requirement}: cannot read {path}: {error}") from error
            return [row[0] for row in rows if row and row[0]]
    raise ManifestError(f"{requirement}: the install holds no .dist-info for {dist}")
