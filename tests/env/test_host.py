"""Whether the host environment satisfies a requirement (_host), checked against packaging."""

from __future__ import annotations

import itertools

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from lazyext._env import host as _host

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
