"""The dependency graph of a resolved environment, from uv's annotations.

``uv pip compile --format pylock.toml`` writes no ``dependencies`` into the lock, so
a second compile of the same requirements, with ``--annotation-style line``, says which
distribution pulled in which (``# via``); :mod:`lazyext._lockfile` writes that into the
lock. The second compile runs beside the first when both have the same inputs
(:func:`speculate`), else after it, pinned to the lock's versions.
"""

from __future__ import annotations

import os
import re

from lazyext import _lockfile, _resolve
from lazyext._errors import InstallError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from lazyext._config import Settings


def speculate(
    settings: Settings, requirements: str, host_file: str, work: str
) -> Callable[[], str | None]:
    """Start the graph's offline compile from the lock's own inputs in a thread; the
    returned function waits for it: uv's annotated output, or ``None`` if it failed."""
    import _thread

    output = os.path.join(work, "graph-guess.txt")
    argv = [
        *_resolve._compile_argv(settings, offline=True),
        *_tail(host_file, requirements, output),
    ]
    done = _thread.allocate_lock()
    done.acquire()
    box: list[str | None] = [None]

    def work_() -> None:
        try:
            box[0] = _read(output) if _resolve._run(argv, settings)[0] == 0 else None
        except BaseException:  # the pinned compile after the lock's reports it
            box[0] = None
        finally:
            done.release()

    _thread.start_new_thread(work_, ())

    def result() -> str | None:
        with done:
            return box[0]

    return result


def graph(
    settings: Settings,
    requirements: str,
    packages: Sequence[_lockfile.Package],
    work: str,
    guessed: str | None = None,
) -> dict[str, list[str]]:
    """``{name: [dependency, ...]}`` from uv's annotations, pinned to the lock's versions.

    A lock of one distribution has no edges. ``guessed``: uv's annotated output from
    the lock's own inputs (:func:`speculate`), used if it names exactly the lock's
    versions.
    """
    if len(packages) <= 1:
        return {}
    locked = {f"{p.name}=={p.version}" for p in packages}
    if guessed is not None and not any(p.url for p in packages) and _pins_of(guessed) == locked:
        return _parse_annotations(guessed)
    pins = os.path.join(work, "pins.txt")
    _resolve._write_lines(pins, [p.requirement() for p in packages if p.version])
    output = os.path.join(work, "graph.txt")
    said = ""
    for offline in (True, False):
        argv = [
            *_resolve._compile_argv(settings, offline=offline),
            *_tail(pins, requirements, output),
        ]
        code, said = _resolve._run(argv, settings)
        if code == 0:
            return _parse_annotations(_read(output))
    raise InstallError(f"cannot read the environment's dependency graph from uv: {said}")


def _tail(constraints: str, requirements: str, output: str) -> list[str]:
    # Written to a file: uv's standard output reaches lazyext as its last lines only.
    return [
        *("--annotation-style", "line", "--no-header"),
        *("-c", constraints, "-o", output, requirements),
    ]


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _pins_of(annotated: str) -> set[str]:
    """``name==version`` of every requirement line of uv's annotated output."""
    found = set()
    for line in annotated.splitlines():
        requirement = line.partition("#")[0].strip()
        name, equals, version = requirement.partition("==")
        if equals and name and " " not in name:
            found.add(f"{_lockfile.normalize(name)}=={version.split(';')[0].strip()}")
    return found


def _parse_annotations(text: str) -> dict[str, list[str]]:
    graph: dict[str, list[str]] = {}
    for line in text.splitlines():
        requirement, marker, via = line.partition("# via ")
        if not marker or line.startswith("#"):
            continue
        child = _lockfile.normalize(re.split(r"[=@ \[;]", requirement.strip(), maxsplit=1)[0])
        for item in via.split(","):
            parent = item.strip()
            if parent and not parent.startswith("-"):
                name = _lockfile.normalize(parent.split("[")[0].split()[0])
                graph.setdefault(name, []).append(child)
    return graph
