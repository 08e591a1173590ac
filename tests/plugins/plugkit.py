"""Builders of real test plugins: folders, zips and wheels, written from file maps.

The default entry (``<package>/run.py``) appends ``enable <version>`` /
``disable <version>`` to the log file named by the ``log`` argument or, failing
that, by ``$LAZYEXT_TEST_PLUGIN_LOG``: hooks are observed through a real file, which
also works across reloads and processes.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from lazyext._wheels import build_wheel

LOG_ENV = "LAZYEXT_TEST_PLUGIN_LOG"

RUN = """\
import os

VERSION = {version!r}


def _log(arguments, what):
    path = arguments.get("log") or os.environ.get({env!r})
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{{what}} {{VERSION}}\\n")


class Plugin:
    def __init__(self, arguments):
        self.arguments = arguments
        self.version = VERSION
        self.enabled = False

    def on_enable(self):
{on_enable}
        self.enabled = True
        _log(self.arguments, "enable")

    def on_disable(self):
{on_disable}
        self.enabled = False
        _log(self.arguments, "disable")
"""


def plugin_files(
    package: str,
    *,
    plugin_id: str | None = None,
    version: str = "1.0",
    dependencies: Sequence[str] = (),
    on_enable: str = "pass",
    on_disable: str = "pass",
    init: str = "",
    extra: Mapping[str, str] | None = None,
    info: Mapping[str, object] | None = None,
) -> dict[str, str]:
    """``{path: text}`` of a plugin package with PLUGIN_INFO and a default ``run.py``."""
    manifest: dict[str, object] = {"id": plugin_id or package, "version": version}
    if dependencies:
        manifest["dependencies"] = list(dependencies)
    manifest.update(info or {})
    files = {
        f"{package}/__init__.py": f"PLUGIN_INFO = {manifest!r}\n{init}",
        f"{package}/run.py": RUN.format(
            version=version,
            env=LOG_ENV,
            on_enable=_indent(on_enable),
            on_disable=_indent(on_disable),
        ),
    }
    files.update(extra or {})
    return files


def _indent(code: str) -> str:
    return "\n".join("        " + line for line in code.splitlines())


def write_tree(base: Path, files: Mapping[str, str | bytes]) -> Path:
    for path, content in files.items():
        target = base / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    return base


def write_folder(base: Path, package: str, **options: object) -> Path:
    """The plugin package as a folder ``base/<package>``; returns that folder."""
    write_tree(base, plugin_files(package, **options))  # type: ignore[arg-type]
    return base / package


def write_zip(path: Path, files: Mapping[str, str | bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return path


def write_wheel(
    directory: Path, dist: str, package: str, version: str = "1.0", **options: object
) -> Path:
    """A wheel whose ``lazyext.plugins`` entry point names the plugin (no PLUGIN_INFO)."""
    files = plugin_files(package, version=version, **options)  # type: ignore[arg-type]
    files[f"{package}/__init__.py"] = ""
    requires = tuple(options.get("dependencies", ()))  # type: ignore[call-overload]
    return build_wheel(
        directory,
        dist,
        version,
        files,
        requires=requires,
        entry_points={
            "lazyext.plugins": {str(options.get("plugin_id") or dist): f"{package}.run:Plugin"}
        },
        summary=f"{dist} plugin",
    )


def events(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def tree_of(root: Path) -> list[str]:
    """Every path under ``root`` (relative, sorted): what an operation left behind."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def env_with(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env
