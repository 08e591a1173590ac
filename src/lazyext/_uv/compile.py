"""``uv pip compile``: a joint resolution as a PEP 751 lock, or as annotated pins.

The lock (``--format pylock.toml --generate-hashes``) pins every distribution with the
hashes of its files; its header names no path of this machine (``--no-header``, or for
a lock file people keep, ``lazyext lock`` as the command that made it); the annotated
form (``--annotation-style line``) says which distribution pulled in which, which the
lock leaves out (:mod:`lazyext._env.graph`). Output goes to a file: uv's standard
output reaches lazyext as its last lines only.
"""

from __future__ import annotations

import sys

from lazyext._settings.config import Settings
from lazyext._uv import command, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


def compile_requirements(
    requirements: str,
    output: str,
    settings: Settings,
    *,
    constraints: Sequence[str] = (),
    lock: bool = True,
    offline_first: bool = True,
    online: bool = True,
    for_file: bool = False,
) -> run.Ran:
    """Resolve the requirements file ``requirements`` into ``output``.

    ``lock``: a ``pylock.toml`` with hashes; else ``name==version  # via ...`` lines.
    ``constraints``: files of pins the resolution must keep. ``offline_first`` and
    ``online`` as for :func:`lazyext._uv.run.run`. ``for_file``: a lock file for a
    repository (``lazyext lock``): resolved for this interpreter's minor version (its
    ``requires-python`` is that, not the patch release that locked it).
    """
    tail: list[str] = []
    for constraint in constraints:
        tail += ["-c", constraint]
    if lock:
        tail += ["--format", "pylock.toml", "--generate-hashes"]
        if for_file:
            tail += ["--custom-compile-command", "lazyext lock"]
            tail += ["--python-version", f"{sys.version_info[0]}.{sys.version_info[1]}"]
        else:
            tail += ["--no-header"]
    else:
        tail += ["--annotation-style", "line", "--no-header"]
    tail += ["-o", output, requirements]

    def argv_for(offline: bool) -> list[str]:
        return [*command.pip("compile", settings, offline=offline), *tail]

    return run.run(argv_for, settings, what="resolving", offline_first=offline_first, online=online)
