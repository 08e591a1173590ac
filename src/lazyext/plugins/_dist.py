"""The manifest of a plugin distribution: its entry point and METADATA.

A wheel (or a requirement installed through the cache) names its plugin with one
entry point in the ``lazyext.plugins`` group, ``<id> = module:attr``; name, version,
description, author and dependencies come from its METADATA. Requirements that apply
only with an extra are left out: nothing here ever asks for an extra.
"""

from __future__ import annotations

import configparser
from collections.abc import Mapping
from email.parser import BytesHeaderParser
from typing import Any, Final

from packaging.requirements import InvalidRequirement, Requirement

from lazyext.plugins._archive import Tree
from lazyext.plugins._errors import ManifestError

GROUP: Final = "lazyext.plugins"
READ_LIMIT: Final = 1 << 20


def raw_from_dist(tree: Tree, relative: Mapping[str, str]) -> tuple[dict[str, Any], str] | None:
    for path in sorted(relative):
        top, _, name = path.partition("/")
        if not top.endswith(".dist-info") or name != "entry_points.txt":
            continue
        parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        try:
            parser.read_string(tree.read(relative[path], READ_LIMIT).decode("utf-8"))
        except (UnicodeDecodeError, configparser.Error) as error:
            raise ManifestError(f"{tree.label}: {path}: unreadable: {error}") from error
        if not parser.has_section(GROUP):
            continue
        items = parser.items(GROUP)
        if len(items) != 1:
            raise ManifestError(
                f"{tree.label}: {path}: the [{GROUP}] group must hold exactly one plugin, "
                f"found {len(items)}"
            )
        plugin_id, entry = items[0]
        raw = _metadata(tree, relative.get(f"{top}/METADATA"))
        raw.update(id=plugin_id, entry=entry.replace(" ", ""))
        return raw, entry.strip().split(".", 1)[0].split(":", 1)[0]
    return None


def _metadata(tree: Tree, path: str | None) -> dict[str, Any]:
    if path is None:
        raise ManifestError(f"{tree.label}: a .dist-info folder without METADATA")
    message = BytesHeaderParser().parsebytes(tree.read(path, READ_LIMIT))
    requires = [value for value in message.get_all("Requires-Dist") or [] if not _extra(value)]
    return {
        "name": message.get("Name", ""),
        "version": message.get("Version", ""),
        "description": message.get("Summary", "") or "",
        "author": message.get("Author", "") or message.get("Author-email", "") or "",
        "dependencies": requires,
    }


def _extra(requirement: str) -> bool:
    """A ``Requires-Dist`` that applies only with an extra (never requested here)."""
    try:
        marker = Requirement(requirement).marker
    except InvalidRequirement:
        return False  # reported by the validation
    return marker is not None and "extra" in str(marker)
