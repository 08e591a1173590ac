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


def compile_target(target: str, optimize: int | None = None) -> bool:
    """Write the ``.pyc`` files of every module under ``target`` the interpreter lacks.

    ``optimize`` defaults to this interpreter's own level (``python -O -m lazyext warm``
    compiles for programs run with ``-O``). Timestamp-based, as the interpreter writes
    them on import. Up-to-date files are skipped (a header read each), so compiling a
    target twice costs little. A module that does not compile (a Python 2 test file,
    a template) is left to the import that may never come: False, logged.
    """
    import compileall
    import contextlib
    import io
    import py_compile
    import re

    level = sys.flags.optimize if optimize is None else optimize
    # Console scripts in bin/ are not imported from the target.
    skip = re.compile(re.escape(os.path.join(target, "bin") + os.sep))
    with contextlib.redirect_stdout(io.StringIO()) as output:
        ok = compileall.compile_dir(
            target,
            quiet=1,
            rx=skip,
            optimize=level,
            workers=1,
            invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP,
        )
    if not ok:
        _log.warning(
            "some modules under %s do not compile; they are compiled if imported: %s",
            target,
            output.getvalue().strip()[-2000:],
        )
    return bool(ok)


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
