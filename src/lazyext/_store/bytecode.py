"""Bytecode: compiled ahead by ``lazyext warm`` and refresh, never on the import path.

An install is not byte-compiled when an import triggers it: ``--compile-bytecode``
cost ~160 ms on a 1,500-module wheel and started an interpreter even for a
one-module wheel, while the interpreter writes each ``.pyc`` as it imports (as in
``site-packages``, unless ``sys.dont_write_bytecode``) and a second process is then
exactly as fast as one importing from a precompiled directory (benchmarks B3).
``lazyext warm``, ``refresh`` and the maintenance tasks compile ahead of time: the
answer for read-only deployments and ``PYTHONDONTWRITEBYTECODE=1``.

A published generation is immutable except for ``__pycache__``: derived data that
either the interpreter or :func:`compile_target` writes (atomically, file by file),
that ``verify`` does not count as unlisted files and that may be deleted at any time.
"""

from __future__ import annotations

import os
import sys

from lazyext import _log

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re


def compile_target(target: str, optimize: int | None = None) -> bool:
    """Write the ``.pyc`` files of every module under ``target`` the interpreter lacks.

    ``optimize`` defaults to this interpreter's own level (``python -O -m lazyext warm``
    compiles for programs run with ``-O``). Timestamp-based, as the interpreter writes
    them on import. Up-to-date files are skipped (a header read each), so compiling a
    target twice costs little. A module that does not compile (a Python 2 test file,
    a template) is left to the import that may never come: False, logged.
    """
    import compileall
    import py_compile
    import re

    level = sys.flags.optimize if optimize is None else optimize
    # Console scripts in bin/ are not imported from the target.
    skip = re.compile(re.escape(os.path.join(target, "bin") + os.sep))
    # quiet=2: compileall prints nothing (redirecting sys.stdout instead would not be
    # thread-safe: `lazyext warm` compiles from several threads of the caller's process).
    ok = compileall.compile_dir(
        target,
        quiet=2,
        rx=skip,
        optimize=level,
        workers=1,
        invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP,
    )
    if not ok:
        _log.warning(
            "modules under %s do not compile (%s); they are compiled if imported",
            target,
            ", ".join(_not_compiling(target, skip)) or "unknown",
        )
    return bool(ok)


def _not_compiling(target: str, skip: re.Pattern[str]) -> list[str]:
    found = []
    for base, directories, files in os.walk(target):
        directories.sort()
        for name in sorted(files):
            path = os.path.join(base, name)
            if not name.endswith(".py") or skip.match(path):
                continue
            try:
                with open(path, "rb") as handle:
                    compile(handle.read(), path, "exec", dont_inherit=True)
            except (SyntaxError, ValueError, OSError):
                found.append(os.path.relpath(path, target))
    return found[:20]


def derived(relative: str, listed: set[str] | frozenset[str]) -> bool:
    """``pkg/__pycache__/mod.<tag>[.opt-N].pyc`` compiled from a listed ``pkg/mod.py``,
    or the temporary file of such a write that a killed process left behind
    (``mod.<tag>.pyc.<number>``): derived data, not an unlisted file."""
    directory, name = os.path.split(relative)
    if os.path.basename(directory) != "__pycache__":
        return False
    stem, dot, rest = name.partition(".")
    head, _, tail = rest.rpartition(".pyc")
    if not (dot and head and (tail == "" or (tail[:1] == "." and tail[1:].isdigit()))):
        return False
    return os.path.join(os.path.dirname(directory), stem + ".py") in listed
