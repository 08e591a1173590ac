"""The README speaks to users first; the set-up commands stay at its very top; every
command of the CLI is documented."""

from __future__ import annotations

import re

from lazyext import cli

from support import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
USER_SECTIONS = [
    "What it is for",
    "Install",
    "Five minutes",
    "Use",
    "Configuration",
    "The command line",
    "Costs",
    "Security defaults",
    "Limitations",
]


def test_the_set_up_commands_come_first() -> None:
    first_block = README.split("```sh\n", 1)[1].split("```", 1)[0]
    assert (
        first_block.splitlines()[:2]
        == [line for line in first_block.splitlines() if line.startswith("sh tools/")][:2]
    )
    assert first_block.startswith("sh tools/demo.sh")
    assert "sh tools/test.sh" in first_block
    assert README.index("sh tools/demo.sh") < README.index("\n## ")


def test_user_sections_in_order_and_contributors_last() -> None:
    headings = re.findall(r"^## (.+)$", README, re.M)
    assert [h for h in headings if h in USER_SECTIONS] == USER_SECTIONS
    assert headings.index("Limitations") < headings.index("How it works")
    assert headings[-1] == "Developing lazyext"
    assert "sh tools/bench.sh" in README.split("## Developing lazyext", 1)[1]


def test_the_contract_and_alternatives_are_written_down() -> None:
    assert "`uv run --with" in README
    assert "PEP 723" in README
    assert "Optional extras" in README
    contract = README.split("## The command line", 1)[1].split("\n## ", 1)[0]
    for text in ("`0` success", "`1` the operation failed", "`2` usage error", "--version",
                 "--python PATH", "before or after the command"):  # fmt: skip
        assert text in contract


def test_every_command_is_documented() -> None:
    verbs = set(cli.build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    missing = sorted(verb for verb in verbs if f"lazyext {verb}" not in README)
    assert missing == []
