"""The parts of lazyext run: the PEP 723 block, the written config's TOML."""

from __future__ import annotations

import datetime
import tomllib
from typing import Any

import pytest

from lazyext._errors import ConfigError
from lazyext._run import script, tomlout

SCRIPT = """\
#!/usr/bin/env python
# /// script
# requires-python = ">=3.11"
# dependencies = [
#   "PyYAML>=6",
# ]
#
# [tool.lazyext]
# offline = true
# ///
import yaml
"""


def test_the_block_and_its_line() -> None:
    block = script.find_block(SCRIPT, "s.py")
    assert block is not None
    assert block.line == 2
    meta = script.parse(block, "s.py")
    assert meta.dependencies == ("PyYAML>=6",)
    assert meta.requires_python == ">=3.11"
    assert meta.lazyext == {"offline": True}
    assert script.find_block("import yaml\n# ///\n", "s.py") is None


def test_two_blocks_are_refused() -> None:
    twice = SCRIPT + "# /// script\n# dependencies = []\n# ///\n"
    with pytest.raises(ConfigError, match=r"^s.py:12: a second `# /// script` block"):
        script.find_block(twice, "s.py")


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ('dependencies = "yaml"', "s.py:2: dependencies must be a list of strings"),
        ('dependencies = ["x"]\nrequires-python = "3"', "s.py:3: requires-python = '3' is not"),
        ("\n\n[tool]\nlazyext = 3", "s.py:4: [tool.lazyext] must be a table"),
        ("x = ", "s.py:2: the `# /// script` block is not valid TOML"),
    ],
)
def test_problems_name_their_line(body: str, said: str) -> None:
    text = "# /// script\n" + "".join(
        f"# {line}\n".replace("# \n", "#\n") for line in body.split("\n")
    )
    block = script.find_block(text + "# ///\n", "s.py")
    assert block is not None
    with pytest.raises(ConfigError) as caught:
        script.parse(block, "s.py")
    assert str(caught.value).startswith(said)


TABLES: list[dict[str, Any]] = [
    {"find-links": ["/w h/eels", "https://x/y"], "no-index": True, "ttl-hours": 1.5},
    {
        "extensions": [
            {"name": "a", "package": "alpha>=1", "modules": ["a", "a.b"]},
            {"name": "b", "arguments": {"when": datetime.date(2024, 1, 2), "n": {"x": [1, 2]}}},
        ],
        "plugins": {"directory": "/p", "arguments": {"my.plugin": {"k": 'v\n"q" é \x01'}}},
    },
    {"weird key": {"list": [{"inline": 1}, {"inline": 2}], "f": float("inf")}},
]


@pytest.mark.parametrize("table", TABLES)
def test_the_written_toml_reads_back_the_same(table: dict[str, Any]) -> None:
    assert tomllib.loads(tomlout.dumps(table)) == table
