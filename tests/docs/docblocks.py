"""The code blocks of the README and of the documentation site, as the tests see them.

Every fenced block of ``README.md``, ``docs/**/*.md`` and ``benchmarks/README.md`` (which
the site includes) is a :class:`Block`. How it is checked depends on its language and on
two visible conventions, so a reader sees what a test sees:

* a line ``# not run: <reason>`` (or ``# not run by the docs tests: <reason>``) anywhere
  in a block says it is not run, and why;
* a first line ``# <path>`` (``# app.py``, ``# lazyext.toml, next to the program``) makes
  the block a file: it is written there, in the project directory of every later block
  of the same page, instead of being run by itself.

One hidden directive exists, for what a reader needs no telling:
``<!-- docs: key=value ... -->`` on the line before a fence (``cwd=checkout``: run in the
checkout, not in a project directory; ``signatures=lazyext``: the block lists
signatures, compared with the real ones).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: Languages a block may declare; ``text`` is a figure or sample output, never code.
LANGUAGES = frozenset({"python", "toml", "yaml", "sh", "console", "dockerfile", "json", "text"})

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,})(?P<info>[^`]*)$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*docs:(?P<body>.*?)-->\s*$")
_NOT_RUN = re.compile(r"^\s*#\s*not run(?: by the docs tests)?:\s*(?P<reason>\S.*)$", re.I)
_FILE = re.compile(r"^#\s+(?P<path>[\w][\w./-]*\.(?:py|toml|yaml|txt))(?:[ ,].*)?$")


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is, its language, its text and directives."""

    path: str  # relative to the checkout, with forward slashes
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    directives: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def first_line(self) -> str:
        return self.text.splitlines()[0] if self.text.strip() else ""

    @property
    def not_run(self) -> str | None:
        """The reason given in the block's ``# not run: ...`` line, if it has one."""
        for line in self.text.splitlines():
            match = _NOT_RUN.match(line)
            if match:
                return match["reason"].strip()
        return None

    @property
    def file(self) -> str | None:
        """The path this block is written to (``# app.py`` as its first line)."""
        if self.lang not in {"python", "toml", "yaml"}:
            return None
        match = _FILE.match(self.first_line)
        return match["path"] if match else None

    @property
    def kind(self) -> str:
        """How the block is checked: ``not-run``, ``text``, ``file``, ``signatures``, or
        its language (``python``, ``toml``, ``sh``, ``console``, ``json``)."""
        if self.not_run is not None:
            return "not-run"
        if self.lang == "text":
            return "text"
        if self.file is not None:
            return "file"
        if "signatures" in self.directives:
            return "signatures"
        return self.lang


def parse(path: Path) -> list[Block]:
    """The fenced blocks of one Markdown file, in order."""
    relative = path.resolve().relative_to(REPO).as_posix()
    return parse_text(path.read_text(encoding="utf-8"), relative)


def parse_text(text: str, relative: str) -> list[Block]:
    """The fenced blocks of Markdown ``text``, as if it were the file ``relative``."""
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        indent, fence = len(match["indent"]), match["fence"]
        lang = (match["info"].split() or [""])[0].lower()  # "": test_every_block_says...
        body: list[str] = []
        start = index
        index += 1
        while index < len(lines) and lines[index].strip() != fence:
            body.append(lines[index][indent:] if lines[index][:indent].isspace() else lines[index])
            index += 1
        index += 1
        blocks.append(
            Block(relative, start + 1, lang, "\n".join(body) + "\n", _directives(lines, start))
        )
    return blocks


def _directives(lines: list[str], fence: int) -> dict[str, str]:
    match = _DIRECTIVE.match(lines[fence - 1]) if fence else None
    if match is None:
        return {}
    pairs = (item.partition("=") for item in match["body"].split())
    return {key: value for key, _, value in pairs}


def sources() -> list[Path]:
    """Every Markdown file whose blocks the tests run: the README, the site's pages and
    the benchmarks' README (the site includes it)."""
    pages = sorted((REPO / "docs").rglob("*.md"))
    return [REPO / "README.md", *pages, REPO / "benchmarks" / "README.md"]


def all_blocks() -> list[Block]:
    return [block for path in sources() for block in parse(path)]


def files_before(block: Block, blocks: list[Block]) -> list[Block]:
    """The file blocks of ``block``'s page that come before it (its project's files)."""
    return [
        other
        for other in blocks
        if other.path == block.path and other.line < block.line and other.kind == "file"
    ]
