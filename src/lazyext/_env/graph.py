"""The dependency graph of a resolved environment, from uv's annotations.

``uv pip compile --format pylock.toml`` writes no ``dependencies`` into the lock, so
a second compile of the same requirements, with ``--annotation-style line``, says which
distribution pulled in which (``# via``); :mod:`.lockfile` writes that into the lock.
The second compile runs beside the first when both have the same inputs
(:func:`speculate`), else after it, pinned to the lock's versions.
"""

from __future__ import annotations

import _thread
import os
import re

from lazyext._errors import InstallError
from lazyext._settings.config import Settings
from lazyext._settings.names import DistName, canonical_name
from lazyext._uv.compile import compile_requirements

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from lazyext._env.lockfile import Package


def speculate(
    settings: Settings, requirements: str, host_file: str, work: str
) -> Callable[[], str | None]:
    """Start the graph's offline compile from the lock's own inputs in a thread; the
    returned function waits for it: uv's annotated output, or ``None`` if it failed."""
    output = os.path.join(work, "graph-guess.txt")
    done = _thread.allocate_lock()
    done.acquire()
    box: list[str | None] = [None]

    def work_() -> None:
        try:
            ran = compile_requirements(
                requirements, output, settings, constraints=[host_file], lock=False, online=False
            )
            box[0] = read(output) if ran.ok else None
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
    packages: Sequence[Package],
    work: str,
    guessed: str | None = None,
) -> dict[DistName, list[DistName]]:
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
    write_lines(pins, [p.requirement() for p in packages if p.version])
    output = os.path.join(work, "graph.txt")
    ran = compile_requirements(requirements, output, settings, constraints=[pins], lock=False)
    if ran.ok:
        return _parse_annotations(read(output))
    raise InstallError(f"cannot read the environment's dependency graph from uv: {ran.tail}")


def read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def write_lines(path: str, lines: Sequence[str]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line + "\n")


def _pins_of(annotated: str) -> set[str]:
    """``name==version`` of every requirement line of uv's annotated output."""
    found = set()
    for line in annotated.splitlines():
        requirement = line.partition("#")[0].strip()
        name, equals, version = requirement.partition("==")
        if equals and name and " " not in name:
            found.add(f"{canonical_name(name)}=={version.split(';')[0].strip()}")
    return found


def _parse_annotations(text: str) -> dict[DistName, list[DistName]]:
    edges: dict[DistName, list[DistName]] = {}
    for line in text.splitlines():
        requirement, marker, via = line.partition("# via ")
        if not marker or line.startswith("#"):
            continue
        child = canonical_name(re.split(r"[=@ \[;]", requirement.strip(), maxsplit=1)[0])
        for item in via.split(","):
            parent = item.strip()
            if parent and not parent.startswith("-"):
                name = canonical_name(parent.split("[")[0].split()[0])
                edges.setdefault(name, []).append(child)
    return edges
