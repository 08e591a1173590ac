"""The README speaks to users first, in at most 300 lines; the set-up commands stay at
its very top; its links lead somewhere; the CLI's contract and every command are
written down in the documentation site (docs/)."""

from __future__ import annotations

import re
import sys

from support import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
DOCS = {path.name: path.read_text(encoding="utf-8") for path in (REPO / "docs").glob("*.md")}
USER_SECTIONS = ["What it is for", "Install", "Five minutes", "Use", "Documentation"]


def test_the_set_up_commands_come_first() -> None:
    first_block = README.split("```sh\n", 1)[1].split("```", 1)[0]
    assert (
        first_block.splitlines()[:2]
        == [line for line in first_block.splitlines() if line.startswith("sh tools/")][:2]
    )
    assert first_block.startswith("sh tools/demo.sh")
    assert "sh tools/test.sh" in first_block
    assert README.index("sh tools/demo.sh") < README.index("\n## ")


def test_short_user_sections_in_order_and_contributors_last() -> None:
    assert len(README.splitlines()) <= 300
    headings = re.findall(r"^## (.+)$", README, re.M)
    assert [h for h in headings if h in USER_SECTIONS] == USER_SECTIONS
    assert headings[-1] == "Developing lazyext"
    assert "sh tools/bench.sh" in README.split("## Developing lazyext", 1)[1]


def test_install_from_a_checkout_until_published() -> None:
    install = README.split("## Install", 1)[1].split("\n## ", 1)[0]
    assert "pip install ." in install
    assert "git+" in install
    assert not re.search(r"pip install '?lazyext", README)


def test_relative_links_lead_somewhere() -> None:
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README):
        assert (REPO / target).exists(), target


def test_the_contract_and_alternatives_are_written_down() -> None:
    assert "`uv run --with" in README
    assert "PEP 723" in README
    assert "Optional extras" in README
    contract = DOCS["cli.md"].split("## The commands at a glance", 1)[0]
    for text in ("`0` success", "`1` the operation failed", "`2` usage error", "--version",
                 "--python PATH", "before or after the command"):  # fmt: skip
        assert text in contract


def test_every_command_is_documented() -> None:
    """By hand in some page of the site, and in the generated CLI reference."""
    sys.path.insert(0, str(REPO / "docs" / "_hooks"))
    try:
        import reference
    finally:
        sys.path.remove(str(REPO / "docs" / "_hooks"))
    parser = reference.build_parser()  # cli.build_parser(), or _parser() before the rename
    verbs = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    pages = "\n".join(DOCS.values())
    assert sorted(verb for verb in verbs if f"lazyext {verb}" not in pages) == []
    generated = reference.cli_reference()
    assert sorted(verb for verb in verbs if f"### `lazyext {verb}`" not in generated) == []
