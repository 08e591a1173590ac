"""Build small, valid pure-Python wheels without a build backend.

Why this is in the runtime wheel: ``python -m lazyext.demo`` (:mod:`lazyext.demo`) runs
from an installed lazyext, offline, on wheels it builds with this module; the tests and
the benchmarks use it too, to serve real wheels from a local ``find-links`` directory.
Nothing else imports it (``tests/meta/test_layout.py``): ``import lazyext``, the import
path and the command line never load it. ~60 lines of the standard library (zipfile,
hashlib), no dependency.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path


def _digest(data: bytes) -> str:
    raw = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def build_wheel(
    directory: str | Path,
    name: str,
    version: str,
    files: Mapping[str, str | bytes],
    *,
    requires: Iterable[str] = (),
    entry_points: Mapping[str, Mapping[str, str]] | None = None,
    summary: str = "",
) -> Path:
    """Write ``<name>-<version>-py3-none-any.whl`` into ``directory`` and return it.

    ``files`` maps paths inside the wheel (``yaml/__init__.py``, ``extra.pth``) to
    their contents; the ``.dist-info`` directory (METADATA, WHEEL, RECORD and
    optionally entry_points.txt) is generated.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[-_.]+", "_", name)
    dist_info = f"{stem}-{version}.dist-info"
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if summary:
        metadata.append(f"Summary: {summary}")
    metadata += [f"Requires-Dist: {requirement}" for requirement in requires]
    contents: dict[str, bytes] = {
        path: data.encode() if isinstance(data, str) else data for path, data in files.items()
    }
    contents[f"{dist_info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    contents[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: lazyext\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    if entry_points:
        lines = []
        for group, items in entry_points.items():
            lines.append(f"[{group}]")
            lines += [f"{key} = {value}" for key, value in items.items()]
        contents[f"{dist_info}/entry_points.txt"] = ("\n".join(lines) + "\n").encode()
    record = [f"{path},{_digest(data)},{len(data)}" for path, data in contents.items()]
    record.append(f"{dist_info}/RECORD,,")
    contents[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = directory / f"{stem}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in contents.items():
            archive.writestr(path, data)
    return wheel
