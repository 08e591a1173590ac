"""``.pth`` processing for an installed target.

By default the running interpreter's own ``site.addsitedir`` processes the target, so
the rules (hidden files, encodings, ``import`` lines, error handling) are exactly
those of this Python version; the target directory itself is pre-registered as known
so that ``site`` does not put it on ``sys.path`` (lazyext's finder resolves it
instead). Every executable line is logged first. In strict mode no line is executed:
only path lines that stay inside the target are honoured, everything else is refused
and logged.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

logger = logging.getLogger("lazyext")


def _is_import_line(line: str) -> bool:
    return line.startswith(("import ", "import\t"))


def read_lines(path: str) -> list[str] | None:
    """The file's lines as ``site`` would see them, or ``None`` if unreadable."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        logger.warning("skipping %s: not UTF-8", path)
        return None
    return text.split("\n")


def process(target: str, names: Sequence[str], *, strict: bool, label: str = "") -> list[str]:
    """Process the ``.pth`` files ``names`` in ``target``; return ``sys.path`` additions."""
    if not names:
        return []
    before = list(sys.path)
    if strict:
        _process_strict(target, sorted(names), label)
    else:
        for name in sorted(names):
            _log_executable_lines(os.path.join(target, name), label)
        _process_with_site(target)
    known = set(before)
    return [entry for entry in sys.path if entry not in known]


def _log_executable_lines(path: str, label: str) -> None:
    for number, line in enumerate(read_lines(path) or (), start=1):
        if _is_import_line(line):
            logger.warning(
                "executing line %d of %s%s: %s",
                number,
                path,
                f" ({label})" if label else "",
                line.strip(),
            )


def _process_with_site(target: str) -> None:
    import site

    known = {os.path.normcase(os.path.abspath(p)) for p in sys.path if p}
    known.add(os.path.normcase(os.path.abspath(target)))
    site.addsitedir(target, known)


def _process_strict(target: str, names: list[str], label: str) -> None:
    root = os.path.realpath(target)
    known = {os.path.normcase(os.path.abspath(p)) for p in sys.path if p}
    for name in names:
        if name.startswith("."):
            logger.debug("skipping hidden .pth file %s", os.path.join(target, name))
            continue
        path = os.path.join(target, name)
        for number, line in enumerate(read_lines(path) or (), start=1):
            where = f"line {number} of {path}" + (f" ({label})" if label else "")
            stripped = line.rstrip()
            if not stripped.strip() or stripped.startswith("#"):
                continue
            if _is_import_line(line) or line != line.lstrip():
                logger.warning("strict-pth: refused executable or indented %s: %s", where, stripped)
                continue
            directory = os.path.realpath(os.path.join(target, stripped))
            if os.path.commonpath([root, directory]) != root:
                logger.warning("strict-pth: refused %s: %s leaves the install", where, stripped)
                continue
            if os.path.exists(directory) and os.path.normcase(directory) not in known:
                sys.path.append(directory)
                known.add(os.path.normcase(directory))
