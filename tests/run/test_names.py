"""Import names from a wheel's file list: local, remote by range requests, cached."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lazyext._run import names
from lazyext._settings.names import DistName
from lazyext._wheels import build_wheel

from httpkit import Served


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (["yaml/__init__.py", "yaml/reader.py", "_yaml/__init__.py"], ("_yaml", "yaml")),
        (["six.py", "six-1.16.dist-info/RECORD"], ("six",)),
        (["_cffi_backend.cpython-311-x86_64-linux-gnu.so"], ("_cffi_backend",)),
        (["google/protobuf/__init__.py", "google/_upb/x.so"], ("google.protobuf",)),
        (["pkg-1.0.data/purelib/pkg/__init__.py", "pkg-1.0.data/scripts/tool"], ("pkg",)),
        (["typing.py", "tests/__init__.py", "docs/conf.py", "lazyext/__init__.py"], ()),
        (["a-b/__init__.py", "class/__init__.py", "x.pth"], ()),
    ],
)
def test_top_level_names(files: list[str], expected: tuple[str, ...]) -> None:
    assert names.top_level(files) == expected


def test_the_distributions_own_names_come_first() -> None:
    assert names.ordered(DistName("pyyaml"), ("_yaml", "yaml")) == ("yaml",)
    assert names.ordered(DistName("attrs"), ("attr", "attrs")) == ("attrs", "attr")


def _lock(wheel: Path, url: str) -> str:
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    return (
        'lock-version = "1.0"\ncreated-by = "uv"\n\n[[packages]]\nname = "yamlish-dist"\n'
        f'version = "1.0"\nwheels = [\n  {{ url = "{url}", hashes = {{ sha256 = "{digest}" }} }},\n'
        '  { url = "https://example.invalid/yamlish_dist-1.0-cp27-cp27m-win32.whl", '
        'hashes = { sha256 = "' + "0" * 64 + '" } },\n]\n'
    )


@pytest.fixture
def wheel(tmp_path: Path) -> Path:
    files = {"yamlish/__init__.py": "X = 1\n"}
    files.update({f"yamlish/m{n}.py": "# padding\n" * 50 for n in range(2000)})
    return build_wheel(tmp_path / "wheels", "yamlish-dist", "1.0", files)


def test_a_local_wheel_is_read_where_it_lies(wheel: Path, cache_dir: Path) -> None:
    found, guessed = names.import_names(
        _lock(wheel, wheel.as_uri()), [DistName("yamlish-dist")], str(cache_dir), offline=True
    )
    assert found == {"yamlish-dist": ("yamlish",)}
    assert guessed == frozenset()


@pytest.mark.parametrize("ranges", [True, False])
def test_a_remote_wheel_is_read_from_its_directory(
    wheel: Path, cache_dir: Path, ranges: bool
) -> None:
    data = wheel.read_bytes()
    assert len(data) > 100_000  # its directory is not in the last 64 KiB
    with Served({wheel.name: data}, ranges=ranges) as server:
        lock = _lock(wheel, server.url(wheel.name))
        found, _ = names.import_names(
            lock, [DistName("yamlish-dist")], str(cache_dir), offline=False
        )
        assert found == {"yamlish-dist": ("yamlish",)}
        asked = [headers.get("Range") for _, headers in server.requests]
        # Kept under the wheel's hash: asked again, the server is not.
        again, _ = names.import_names(
            lock, [DistName("yamlish-dist")], str(cache_dir), offline=True
        )
        assert again == found
        assert len(server.requests) == len(asked)
    if ranges:
        assert asked[0] == "bytes=-65536"
        assert len(asked) == 2  # and the directory, by its range
        assert asked[1] is not None


def test_names_that_cannot_be_read_are_guessed_with_a_warning(
    wheel: Path, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lock = _lock(wheel, "https://files.example.invalid/" + wheel.name)
    found, guessed = names.import_names(
        lock, [DistName("yamlish-dist")], str(cache_dir), offline=True
    )
    assert found == {"yamlish-dist": ("yamlish_dist",)}
    assert guessed == {"yamlish-dist"}
    assert "cannot read the import names of yamlish-dist (offline, never read)" in caplog.text
