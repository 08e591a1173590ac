"""Whether the host environment satisfies a requirement (_host), checked against packaging."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from lazyext._env import host as _host
from lazyext._settings.config import Settings

from support import Wheelhouse, run_python

VERSIONS = ["0", "1", "1.0", "1.0.0", "1.2", "1.2.3", "1.10", "2", "2.0.1", "6.1", "10.0", "007.1"]
CLAUSES = [
    "==1",
    "==1.0.0",
    "!=1.2",
    ">=1.2",
    "<=1.2",
    ">1",
    ">1.0",
    "<2",
    "<2.0.0",
    "~=1.2",
    "~=1.2.0",
    "~=2.0",
    ">=6,<7",
]


@pytest.mark.parametrize(("version", "clause"), list(itertools.product(VERSIONS, CLAUSES)))
def test_plain_versions_are_decided_like_packaging_without_it(version: str, clause: str) -> None:
    specifier = ",".join(sorted(str(s) for s in SpecifierSet(clause)))  # canonical, as in a plan
    expected = SpecifierSet(specifier).contains(Version(version), prereleases=True)
    assert _host._plain_satisfies(version, specifier) is expected
    assert _host.version_satisfies(version, specifier) is expected


@pytest.mark.parametrize(
    ("version", "specifier", "expected"),
    [
        ("1.0rc1", ">=1.0", False),  # pre-releases, post-releases, local versions, epochs,
        ("1.0.post1", ">1.0", False),  # wildcards and === are left to packaging
        ("1.0+local", "==1.0", True),
        ("1!1.0", ">=2", True),
        ("1.2.5", "==1.2.*", True),
        ("1.0", "===1.0", True),
        ("not a version", ">=1", False),
    ],
)
def test_everything_else_is_left_to_packaging(version: str, specifier: str, expected: bool) -> None:
    assert _host._plain_satisfies(version, specifier) is None
    assert _host.version_satisfies(version, specifier) is expected


# -- dotted names whose last part is a standard-library module (issue 21 #1) -----------


@pytest.fixture
def dotted_house(tmp_path: Path) -> Wheelhouse:
    house = Wheelhouse(tmp_path / "wheels")
    # PEP 420 portions of `nsx`, as jaraco.functools and backports.tarfile ship theirs.
    house.build("nsx.functools", "1.0", {"nsx/functools/__init__.py": "NAME = 'nsx.functools'\n"})
    house.build("nsx.tarfile", "1.0", {"nsx/tarfile.py": "NAME = 'nsx.tarfile'\n"})
    return house


def test_a_dotted_name_is_asked_in_its_parents_locations_not_on_sys_path() -> None:
    # On sys.path, the file finders would look up `functools` alone: the stdlib's.
    assert _host.host_spec("nsx.functools") is None
    assert not _host.serves("nsx-functools", "", "nsx.functools")
    assert _host.host_spec("json.decoder") is not None  # a real submodule still is the host's


def test_a_dotted_name_the_host_has_in_its_parent_is_the_hosts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "host" / "nsx").mkdir(parents=True)
    (tmp_path / "host" / "nsx" / "functools.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "host"))
    spec = _host.host_spec("nsx.functools")
    assert spec is not None
    assert spec.origin == str(tmp_path / "host" / "nsx" / "functools.py")
    # The cache's own portions of the parent are not the host's.
    own = _host.own_prefixes(Settings(cache_dir=str(tmp_path / "host")))
    assert _host.host_spec("nsx.functools", own) is None


@pytest.mark.parametrize(
    "order", [["nsx.functools", "nsx.tarfile"], ["nsx.tarfile", "nsx.functools"]]
)
def test_dotted_names_ending_in_a_stdlib_name_install_and_import(
    dotted_house: Wheelhouse, cache_dir: Path, order: list[str]
) -> None:
    config = {"nsx.functools": "nsx.functools", "nsx.tarfile": "nsx.tarfile"}
    options = {
        "cache_dir": str(cache_dir),
        "find_links": [str(dotted_house.path)],
        "no_index": True,
    }
    code = f"""
        import importlib, lazyext
        lazyext.activate({config!r}, **{options!r})
        for name in {order!r}:
            module = importlib.import_module(name)
            print(module.NAME, module.__file__.startswith({str(cache_dir)!r}))
        """
    for _ in range(2):  # cold, then from the cache
        done = run_python(code)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == [word for name in order for word in (name, "True")]
