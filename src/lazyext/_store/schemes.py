"""Where a wheel's install schemes land: site-packages in ``target/``, the rest in ``data/``.

A wheel's ``<name>-<version>.data/`` directory holds files for the ``scripts``,
``headers`` and ``data`` schemes, which a standard install puts under the
environment's prefix (``bin/``, ``include/``, the prefix itself), never in
site-packages. ``uv pip install --target`` puts the ``data`` scheme at the top of the
target instead, where ``.pth`` files are processed: a ``.data/data/evil.pth`` ran on
every activation. So uv installs into a private prefix (``--prefix``) and
:func:`relocate` then moves::

    <prefix>/<site dir>/...   -> <gen>/target/   (purelib and platlib merged)
    everything else           -> <gen>/data/     (bin/, include/, share/, a data .pth)

The RECORD lines of the moved files are rewritten relative to the target, as RECORD
paths are: ``../data/<path under the prefix>``; ``importlib.metadata.files()``,
``locate_file`` and ``verify`` find them there. The site directories are those that
hold ``*.dist-info`` directories; a ``.dist-info`` directory planted through a data
scheme (to pass its directory off as site-packages) is refused.
"""

from __future__ import annotations

import _thread
import os

from lazyext._errors import InstallError
from lazyext._store.recordfile import DATA, rows_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

PREFIX: Final = "prefix"
#: How deep a site directory may be under the prefix (``local/lib/python3.X/dist-packages``).
_SITE_DEPTH: Final = 5


def prefix_for(target: str) -> str:
    """The private prefix uv installs into for ``target`` (its sibling)."""
    return os.path.join(os.path.dirname(os.path.abspath(target)), PREFIX)


def data_for(target: str) -> str:
    """The directory of ``target``'s data-scheme files (its sibling)."""
    return os.path.join(os.path.dirname(target), DATA)


def relocate(
    prefix: str, target: str, requirement: str, layout: tuple[str, ...] | None = None
) -> None:
    """Move uv's prefix install into ``target`` (site files) and ``data/`` (the rest).

    ``layout``: the interpreter's purelib and platlib relative to a prefix (default:
    :func:`interpreter_layout`); consulted only when a RECORD lists files outside its
    own directory, since a ``.dist-info`` is in one of them only.
    """
    if not os.path.isdir(prefix):
        return  # uv installed nothing: the caller reports a missing target
    sites = _site_dirs(prefix)
    records = _read_records(prefix, sites, requirement)
    if any(
        os.pardir in row[0].replace("\\", "/").split("/") for r in records.values() for row in r
    ):
        known = set(sites)
        sites += sorted(
            site
            for site in (interpreter_layout() if layout is None else layout)
            if site not in known and os.path.isdir(os.path.join(prefix, site))
        )
    os.mkdir(target, 0o700)
    for site in sites:
        _merge(os.path.join(prefix, site), target, requirement)
    for (site, record), rows in records.items():
        _rewrite(os.path.join(target, record), site, sites, rows)
    _drop_empty(prefix, sites)
    lock = os.path.join(prefix, ".lock")  # uv's lock file (uv#16845)
    if os.path.lexists(lock):
        os.unlink(lock)
    if os.listdir(prefix):
        os.rename(prefix, data_for(target))
    else:
        os.rmdir(prefix)


_layout_lock = _thread.allocate_lock()
_layout: tuple[str, ...] | None = None


def _reset_after_fork() -> None:
    global _layout_lock
    _layout_lock = _thread.allocate_lock()  # held by a thread the child does not have


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def interpreter_layout() -> tuple[str, ...]:
    """This interpreter's purelib and platlib relative to a prefix, as uv lays out
    ``--prefix`` (its ``venv`` sysconfig scheme): ``lib64/...`` for platlib where
    ``sys.platlibdir`` says so. Once, under a lock (sysconfig's first use is not
    thread-safe on 3.11), and only for wheels with files outside site-packages."""
    global _layout
    with _layout_lock:
        if _layout is None:
            import sysconfig

            base = os.path.join(os.sep, "@prefix")
            names = ("base", "platbase", "installed_base", "installed_platbase")
            try:
                paths = sysconfig.get_paths("venv", vars=dict.fromkeys(names, base))
                found = {os.path.relpath(paths[key], base) for key in ("purelib", "platlib")}
            except KeyError:  # no venv scheme: the .dist-info directories tell
                found = set()
            _layout = tuple(sorted(p for p in found if not p.startswith(os.pardir)))
        return _layout


def _site_dirs(prefix: str) -> list[str]:
    """Directories under ``prefix`` (relative) that hold a ``*.dist-info`` directory."""
    found = []
    skip = len(prefix.rstrip(os.sep)) + 1
    for base, directories, _files in os.walk(prefix):
        relative = base[skip:]
        depth = relative.count(os.sep) + 1 if relative else 0
        if depth >= _SITE_DEPTH:
            directories[:] = []
        if relative and any(name.endswith(".dist-info") for name in directories):
            found.append(relative)
    return sorted(found)


def _read_records(
    prefix: str, sites: list[str], requirement: str
) -> dict[tuple[str, str], list[tuple[str, str, str]]]:
    """The RECORD rows of every site directory's ``*.dist-info``; refuse what is not a
    plain install: a ``.dist-info`` directory among another one's non-site files, or a
    site directory nested in another that does not list it as its own files."""
    records: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    owned: set[str] = set()  # site dirs listed as files of another (vendored dist-infos)
    for site in sites:
        base = os.path.join(prefix, site)
        for name in sorted(os.listdir(base)):
            path = os.path.join(base, name, "RECORD")
            if not name.endswith(".dist-info") or not os.path.isfile(path):
                continue
            try:
                rows = rows_of(path)
            except Exception:  # unreadable or malformed: verify reports it before publishing
                continue
            records[(site, os.path.join(name, "RECORD"))] = rows
            for row in rows:
                full = os.path.normpath(os.path.join(site, row[0]))
                inside = full.startswith(site + os.sep)
                if not inside and any(p.endswith(".dist-info") for p in full.split(os.sep)):
                    raise _planted(requirement, row[0])
                if inside:  # a candidate inside this one that holds its files: vendored
                    owned.update(
                        s
                        for s in sites
                        if s.startswith(site + os.sep) and full.startswith(s + os.sep)
                    )
    sites[:] = [site for site in sites if site not in owned]
    for site in sites:
        outer = next((other for other in sites if site.startswith(other + os.sep)), None)
        if outer is not None:
            raise _planted(requirement, outer)
    return {key: rows for key, rows in records.items() if key[0] in sites}


def _planted(requirement: str, path: str) -> InstallError:
    return InstallError(
        f"refusing to publish {requirement}: its wheel installs a .dist-info directory "
        f"through a data scheme ({path}), which would pass its files off as importable "
        "ones; nothing was installed",
        spec=requirement,
        security=True,
    )


def _merge(source: str, destination: str, requirement: str) -> None:
    """Move everything in ``source`` into ``destination`` (purelib and platlib)."""
    for name in os.listdir(source):
        origin, into = os.path.join(source, name), os.path.join(destination, name)
        if not os.path.lexists(into):
            os.rename(origin, into)
        elif os.path.isdir(into) and not os.path.islink(into) and os.path.isdir(origin):
            _merge(origin, into, requirement)
        else:
            raise InstallError(
                f"cannot install {requirement}: {name} is in both of the interpreter's "
                "site directories (purelib and platlib)",
                spec=requirement,
            )


def _rewrite(record: str, site: str, sites: list[str], rows: list[tuple[str, str, str]]) -> None:
    """Rewrite ``record``'s paths outside ``site`` relative to the target."""
    lines, changed = [], False
    for path, digest, size in rows:
        new = path
        if os.pardir in path.replace("\\", "/").split("/"):
            full = os.path.normpath(os.path.join(site, path))
            home = next((s for s in sites if full.startswith(s + os.sep)), None)
            if home is not None:
                new = os.path.relpath(full, home)
            elif not full.startswith(os.pardir):  # else outside the prefix: verify says so
                new = os.path.join(os.pardir, DATA, full)
            new = new.replace(os.sep, "/")
            changed = changed or new != path
        lines.append(",".join((_quoted(new), digest, size)))
    if changed:
        # A new file renamed over it, never written in place: with uv's hard-link mode a
        # file of the install may be uv's cache's own copy.
        temporary = record + ".lazyext-new"
        with open(temporary, "x", encoding="utf-8", newline="") as handle:
            handle.write("\n".join(lines) + "\n")
        os.replace(temporary, record)


def _quoted(path: str) -> str:
    if any(character in path for character in ',"\r\n'):
        return '"' + path.replace('"', '""') + '"'
    return path


def _drop_empty(prefix: str, sites: list[str]) -> None:
    """Remove the site directories (emptied) and their parents up to ``prefix``."""
    for site in sorted(sites, key=len, reverse=True):
        path = os.path.join(prefix, site)
        while path != prefix:
            try:
                os.rmdir(path)
            except OSError:
                break  # not empty: data files live beside it (lib/<x>)
            path = os.path.dirname(path)
