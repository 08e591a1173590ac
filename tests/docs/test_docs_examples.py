"""Every code block of the README and of the documentation site runs (docblocks,
docsandbox): Python twice, as programs are; TOML through lazyext's own validation;
shell blocks and transcripts in a user's home, offline; or it says why it does not."""

from __future__ import annotations

import pytest

from docblocks import LANGUAGES, Block, all_blocks, files_before
from docsandbox import Project, check

BLOCKS = all_blocks()


def _param(block: Block) -> object:
    marks = []
    if block.kind in {"not-run", "text"}:
        marks.append(pytest.mark.skip(reason=block.not_run or "text: not code"))
    return pytest.param(block, id=block.id, marks=marks)


@pytest.mark.parametrize("block", [_param(block) for block in BLOCKS])
def test_example(block: Block, project: Project) -> None:
    for earlier in files_before(block, BLOCKS):
        project.write(earlier)
    check(block, project)


def test_every_block_says_its_language() -> None:
    unknown = [f"{b.id}: {b.lang}" for b in BLOCKS if b.lang not in LANGUAGES]
    assert unknown == []


def test_a_block_that_is_not_run_says_why() -> None:
    vague = [b.id for b in BLOCKS if b.not_run is not None and len(b.not_run) < 12]
    assert vague == []
