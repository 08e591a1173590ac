"""``PluginManager.validate``: everything ``install`` checks, as a dry run.

No plugin code runs (the manifest is read with ``ast`` or ``tomllib``, files are
compiled, never executed), nothing is written and nothing is installed: only a
folder or a zip/wheel on disk can be validated, since a requirement would have to be
installed first. The dependencies are resolved as install would resolve them (a
distribution or version that does not exist, or a conflict, is a problem), and the
resolution is kept in the cache like any other. Every problem is collected, not just
the first.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lazyext.plugins import _reader
from lazyext.plugins._archive import Limits, Tree
from lazyext.plugins._context import Context
from lazyext.plugins._dependencies import resolve_dependencies
from lazyext.plugins._errors import ManifestError
from lazyext.plugins._install import check_shadowing, check_syntax
from lazyext.plugins._manifest import Manifest
from lazyext.plugins._sources import is_path, open_source


@dataclass(frozen=True, slots=True)
class Validation:
    """The outcome of :meth:`PluginManager.validate`: ``ok`` when ``problems`` is empty."""

    source: str
    manifest: Manifest | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "ok": self.ok,
            "manifest": self.manifest.as_dict() if self.manifest is not None else None,
            "problems": list(self.problems),
        }


def validate(ctx: Context, source: str | os.PathLike[str]) -> Validation:
    """Check the plugin in ``source`` as :meth:`PluginManager.install` would."""
    label = os.fspath(source)
    if not isinstance(source, os.PathLike) and not is_path(label):
        problem = "validate takes a folder or a .zip/.whl file; a requirement is not on disk"
        return Validation(label, None, (problem,))
    problems: list[str] = []
    try:
        limits = Limits(max_bytes=ctx.settings.max_archive_bytes)
        opened = open_source(source, ctx.config, limits)
    except ManifestError as error:
        return Validation(label, None, error.problems)
    manifest = None
    try:
        try:
            manifest, copy = _reader.read(
                opened.tree,
                folder_name=opened.folder_name,
                allow_direct_urls=ctx.config.settings.allow_direct_urls,
            )
        except ManifestError as error:
            problems += error.problems
            copy = _everything(opened.tree)
        checks: list[Callable[[], None]] = [lambda: check_syntax(opened.tree, copy)]
        if manifest is not None:
            known = manifest
            checks.append(lambda: check_shadowing(known, opened.label))
            checks.append(lambda: _check_claims(ctx, known))
        for check in checks:
            try:
                check()
            except ManifestError as error:
                problems += error.problems
        if manifest is not None:
            problems += resolve_dependencies(manifest.dependencies, ctx.config)
    finally:
        opened.tree.close()
    return Validation(opened.label, manifest, tuple(dict.fromkeys(problems)))


def _everything(tree: Tree) -> dict[str, str]:
    try:
        return {path: path for path in tree.files}
    except ManifestError:
        return {}


def _check_claims(ctx: Context, manifest: Manifest) -> None:
    """Its import names must not belong to another installed plugin."""
    problems = []
    for info in ctx.store.all():
        clash = set(info.manifest.modules) & set(manifest.modules)
        if info.id != manifest.id and clash:
            problems.append(f"plugin {info.id!r} already ships {', '.join(sorted(clash))}")
    if problems:
        raise ManifestError("; ".join(problems), problems=tuple(problems))
