"""lazyext._schemes on prefix layouts uv writes elsewhere: platlib apart from purelib
(``lib64``, as on Fedora), and a Debian-style ``local/lib/python3.X/dist-packages``."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import uv
from lazyext._errors import InstallError
from lazyext._store import schemes as _schemes
from lazyext._store.verify import verify_target
from lazyext._wheels import build_wheel


def _line(root: Path, site: str, relative: str) -> str:
    data = (root / site / relative).resolve().read_bytes()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{relative},sha256={digest},{len(data)}"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _install(prefix: Path, site: str, info: str, files: dict[str, str]) -> None:
    """What uv leaves: files under the prefix, ``site/info/RECORD`` relative to ``site``."""
    for path, text in files.items():
        _write(prefix / path, text)
    lines = [_line(prefix, site, os.path.relpath(path, site)) for path in files]
    lines.append(f"{info}/RECORD,,")
    _write(prefix / site / info / "RECORD", "\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("purelib", "platlib"),
    [
        ("lib/python3.11/site-packages", "lib64/python3.11/site-packages"),
        ("local/lib/python3.11/dist-packages", "local/lib/python3.11/dist-packages"),
    ],
)
def test_site_directories_merge_into_the_target_and_the_rest_is_data(
    tmp_path: Path, purelib: str, platlib: str
) -> None:
    prefix, target = tmp_path / "prefix", tmp_path / "target"
    info = "mixed-1.0.dist-info"
    _install(
        prefix,
        platlib,  # Root-Is-Purelib: false: the .dist-info is in platlib
        info,
        {
            f"{platlib}/{info}/METADATA": "Name: mixed\n",
            f"{platlib}/mixed/_speed.py": "FAST = 1\n",
            f"{purelib}/mixed/__init__.py": "NAME = 'mixed'\n",
            "evil.pth": "import os\n",
            "bin/mixed-tool": "#!/bin/sh\n",
            "lib/mixed-notes.txt": "beside the site directory\n",
        },
    )
    (prefix / ".lock").write_text("", encoding="utf-8")
    # The interpreter's layout, as Fedora's sysconfig gives it (sys.platlibdir = "lib64").
    _schemes.relocate(str(prefix), str(target), "mixed", layout=(purelib, platlib))
    assert not prefix.exists()
    assert sorted(p.name for p in target.iterdir()) == ["mixed", info]
    assert sorted(p.name for p in (target / "mixed").iterdir()) == ["__init__.py", "_speed.py"]
    data = tmp_path / "data"
    assert (data / "evil.pth").is_file()
    assert (data / "bin" / "mixed-tool").is_file()
    assert (data / "lib" / "mixed-notes.txt").is_file()
    record = (target / info / "RECORD").read_text(encoding="utf-8")
    assert "../data/evil.pth," in record
    assert "../data/lib/mixed-notes.txt," in record
    assert "\nmixed/__init__.py," in record  # the other site directory: now the target
    assert verify_target(str(target)) == []


def test_a_site_directory_inside_another_is_refused(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    site = "lib/python3.11/site-packages"
    _install(prefix, site, "real-1.0.dist-info", {f"{site}/real/__init__.py": ""})
    _write(prefix / "lib" / "real-1.0.dist-info" / "RECORD", "evil.pth,,\n")
    with pytest.raises(InstallError, match=r"\.dist-info directory") as caught:
        _schemes.relocate(str(prefix), str(tmp_path / "target"), "real")
    assert caught.value.security is True


def test_this_interpreters_layout_is_the_one_uv_writes(tmp_path: Path) -> None:
    build_wheel(tmp_path / "wheels", "tiny", "1.0", {"tiny/__init__.py": ""})
    prefix = tmp_path / "prefix"
    argv = [uv.find_uv_bin(), "pip", "install", "--no-config", "--quiet", "--python"]
    argv += [sys.executable, "--prefix", str(prefix), "--no-index", "--find-links"]
    subprocess.run([*argv, str(tmp_path / "wheels"), "tiny"], check=True)
    landed = {str(p.parent.relative_to(prefix)) for p in prefix.glob("**/tiny-1.0.dist-info")}
    assert landed <= set(_schemes.interpreter_layout())
    assert landed
