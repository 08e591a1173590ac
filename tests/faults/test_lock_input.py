"""A lock from elsewhere (issue 22 #1, #3, #6): every field checked against its grammar
before any of it reaches uv, only the sources the config allows, and a marker that does
not parse refused, naming the line."""

from __future__ import annotations

import hashlib
import importlib
import sys
from pathlib import Path
from typing import Any

import pytest

import lazyext
from faults.kit import CountingUv, generations
from lazyext._uv import install as uv_install

from support import Wheelhouse


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _wheel(house: Wheelhouse, name: str) -> str:
    """A ``wheels = [...]`` line for the wheelhouse's ``<name>-1.0`` wheel."""
    wheel = house.path / f"{name}-1.0-py3-none-any.whl"
    return f'wheels = [{{ name = "{wheel.name}", hashes = {{ sha256 = "{_sha256(wheel)}" }} }}]'


def _project(house: Wheelhouse, extensions: dict[str, str], lock: str, **settings: str) -> Path:
    """``lazyext.toml`` (with ``lock = "pylock.toml"``) and the lock, in the working
    directory; the lock's path."""
    lines = [house.toml().rstrip(), 'lock = "pylock.toml"']
    lines += [f"{key} = {value}" for key, value in settings.items()]
    for name, requirement in extensions.items():
        lines += ["[[extensions]]", f'name = "{name}"', f'package = "{requirement}"']
    Path("lazyext.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = Path.cwd() / "pylock.toml"
    path.write_text('lock-version = "1.0"\ncreated-by = "someone else"\n' + lock, encoding="utf-8")
    return path


def _import(name: str) -> Any:
    sys.modules.pop(name, None)
    importlib.invalidate_caches()
    return importlib.import_module(name)


@pytest.fixture
def evil(tmp_path: Path) -> Path:
    """``alpha 1.0`` built by someone else: importing it leaves a mark."""
    mark = tmp_path / "evil-ran"
    house = Wheelhouse(tmp_path / "elsewhere")
    house.build(
        "alpha",
        "1.0",
        {"alpha/__init__.py": f"open({str(mark)!r}, 'w').close()\nNAME = 'evil'\n"},
    )
    return house.path / "alpha-1.0-py3-none-any.whl"


def _sources(evil: Path) -> dict[str, str]:
    digest = _sha256(evil)
    source = evil.parent.parent / "evil-src"
    hashes = f'hashes = {{ sha256 = "{digest}" }}'
    return {
        "archive url": f'archive = {{ url = "{evil.as_uri()}", {hashes} }}',
        "archive path": f'archive = {{ path = "{evil}", {hashes} }}',
        "directory": f'directory = {{ path = "{source}" }}',
        "vcs": f'vcs = {{ type = "git", url = "{source.as_uri()}", commit-id = "{"a" * 40}" }}',
    }


# -- #1: a lock names only the sources the config allows ---------------------------------


@pytest.mark.parametrize("kind", ["archive url", "archive path", "directory", "vcs"])
def test_a_lock_naming_a_direct_source_is_refused_without_allow_direct_urls(
    house: Wheelhouse, evil: Path, shim: CountingUv, cache_dir: Path, kind: str
) -> None:
    lock = _project(
        house,
        {"alpha": "alpha"},
        '\n[[packages]]\nname = "alpha"\nversion = "1.0"\n' + _sources(evil)[kind] + "\n",
    )
    lazyext.activate()
    with pytest.raises(lazyext.LockFileError) as caught:
        _import("alpha")
    message = str(caught.value)
    print(message)
    assert f"{lock}, line 7: package alpha comes from the {kind.split(maxsplit=1)[0]}" in message
    assert f"not from this config's index or find-links ({house.path})" in message
    assert "allow-direct-urls = true" in message
    assert shim.runs() == []
    assert shim.compiles() == []
    assert not (evil.parent.parent / "evil-ran").exists()
    assert generations(cache_dir) == []


def test_with_allow_direct_urls_the_lock_installs_from_where_it_says(
    house: Wheelhouse, evil: Path, shim: CountingUv
) -> None:
    _project(
        house,
        {"alpha": "alpha"},
        '\n[[packages]]\nname = "alpha"\nversion = "1.0"\n' + _sources(evil)["archive url"] + "\n",
        **{"allow-direct-urls": "true"},
    )
    lazyext.activate()
    assert _import("alpha").NAME == "evil"  # what the lock says, now that the config allows it


def test_wheels_of_a_lock_come_from_the_configured_index_never_from_the_lock_s_urls(
    house: Wheelhouse, evil: Path, shim: CountingUv
) -> None:
    # The lock names the foreign wheel's URL and hash: it is installed by name, version
    # and hash from find-links, where no file has that hash: nothing is installed.
    wheel = f'wheels = [{{ url = "{evil.as_uri()}", hashes = {{ sha256 = "{_sha256(evil)}" }} }}]'
    _project(
        house, {"alpha": "alpha"}, f'\n[[packages]]\nname = "alpha"\nversion = "1.0"\n{wheel}\n'
    )
    lazyext.activate()
    with pytest.raises(lazyext.InstallError):
        _import("alpha")
    assert not (evil.parent.parent / "evil-ran").exists()


# -- #3: every field by its grammar, before anything reaches uv --------------------------


PEP440 = "is not a PEP 440 version"
BAD_FIELDS = {
    # A lone carriage return: uv reads it as a line break (the lines after it are live).
    "version with a carriage return": (
        'version = "1.0\\r--index-url=http://127.0.0.1:9/simple"',
        "line 11",
        PEP440,
    ),
    "version with an option after a space": (
        'version = "1.0 --index-url=http://127.0.0.1:9/"',
        "line 11",
        PEP440,
    ),
    "version with a line feed": ('version = "1.0\\n-r /etc/passwd"', "line 11", PEP440),
    "version not PEP 440": ('version = "1.0-evil-"', "line 11", PEP440),
    "name with a carriage return": (
        'name = "gamma\\r-r /etc/passwd"',
        "line 10",
        "is not a valid package name",
    ),
    "hash with a line feed": ("HASH\\n", "line 12", "malformed"),
    "hash of an unknown algorithm": ("md5", "line 12", "malformed or unknown hash"),
    "wheel URL of an unknown scheme": ("ftp", "line 12", "not a URL lazyext passes on"),
}


def _bad_gamma(house: Wheelhouse, field: str) -> str:
    wheel = _wheel(house, "gamma")
    digest = wheel.split('sha256 = "')[1][:64]
    table = ['name = "gamma"', 'version = "1.0"', wheel]
    if field.startswith(("version", "name")):
        key = field.partition(" = ")[0]
        table = [field if line.startswith(key + " =") else line for line in table]
    elif field == "md5":
        table[2] = wheel.replace("sha256", "md5")
    elif field == "ftp":
        table[2] = wheel.replace('name = "', 'url = "ftp://mirror.example/')
    else:
        table[2] = wheel.replace(digest, field.replace("HASH", digest))
    return "\n".join(table)


@pytest.mark.parametrize("case", sorted(BAD_FIELDS))
def test_a_lock_field_outside_its_grammar_never_reaches_uv(
    house: Wheelhouse, shim: CountingUv, cache_dir: Path, case: str
) -> None:
    field, line, problem = BAD_FIELDS[case]
    # alpha is the extension; gamma a locked distribution nothing checks against the
    # config. Without a graph in the lock, lazyext asks uv for one, pinned to the lock.
    lock = _project(
        house,
        {"alpha": "alpha"},
        f'\n[[packages]]\nname = "alpha"\nversion = "1.0"\n{_wheel(house, "alpha")}\n'
        f"\n[[packages]]\n{_bad_gamma(house, field)}\n",
    )
    lazyext.activate()
    with pytest.raises(lazyext.LockFileError) as caught:
        _import("alpha")
    message = str(caught.value)
    print(message)
    assert message.startswith(f"{lock}, {line}: ")
    assert problem in message
    assert shim.compiles() == []
    assert shim.runs() == []
    assert generations(cache_dir) == []


@pytest.mark.parametrize(
    "value",
    [
        "a==1 --index-url=http://127.0.0.1:9/simple",
        "a==1\r-r /etc/passwd",
        "a==1\x85-c /etc/passwd",
        "a==1 #",
        "a==1;python_version>'3'",
        "a[x]==1",
        "a>=1",
        "-ra==1",
        "a @ https://h.example/a.whl --index-url=http://evil",
        "a @ https://h.example/${UV_INDEX_URL}/a.whl",
        "a @ ftp://h.example/a.whl",
    ],
)
def test_requirements_reach_uv_only_in_a_form_that_cannot_be_split(
    value: str, tmp_path: Path
) -> None:
    path = tmp_path / "requirements.txt"
    with pytest.raises(lazyext.LockFileError, match="refusing to pass"):
        uv_install.write_requirements(str(path), [(value, ())])
    with pytest.raises(lazyext.LockFileError, match="refusing to pass"):
        uv_install.write_requirements(str(path), [("a==1", ("sha256:" + "0" * 64 + value,))])
    assert not path.exists()
    digest = "sha256:" + "0" * 64
    uv_install.write_requirements(
        str(path), [("a==1", (digest,)), ("b @ https://h.example/b.whl", ())]
    )
    assert path.read_bytes() == f"a==1 --hash={digest}\nb @ https://h.example/b.whl\n".encode()


# -- #6: a marker that does not parse ---------------------------------------------------


def test_a_lock_package_whose_marker_does_not_parse_refuses_the_lock_naming_the_line(
    house: Wheelhouse, shim: CountingUv, cache_dir: Path
) -> None:
    # beta imports alpha; the lock's alpha has a marker nobody can evaluate. Left out,
    # beta would install and fail later with "No module named 'alpha'".
    lock = _project(
        house,
        {"beta": "beta"},
        f'\n[[packages]]\nname = "beta"\nversion = "1.0"\n{_wheel(house, "beta")}\n'
        'dependencies = [{ name = "alpha" }]\n'
        f'\n[[packages]]\nname = "alpha"\nversion = "1.0"\n'
        "marker = \"python_version >< '3'\"\n"
        f"{_wheel(house, 'alpha')}\n",
    )
    lazyext.activate()
    with pytest.raises(lazyext.LockFileError) as caught:
        _import("beta")
    message = str(caught.value)
    print(message)
    line = (
        lock.read_text(encoding="utf-8").split("\n").index("marker = \"python_version >< '3'\"") + 1
    )
    assert message.startswith(
        f"{lock}, line {line}: package alpha has a marker that does not parse"
    )
    assert "refusing the lock rather than leaving alpha out" in message
    assert shim.runs() == []
    assert generations(cache_dir) == []
