"""The one rule for every directory lazyext reads code or state from.

The cache root and its read-only layers, the data directory, the plugins directory,
the state database and the plugin folders that database rows name all pass it:

* the directory is owned by the current user (or by root, for read-only layers) and
  is writable by neither group nor others (group-writable is allowed for a layer
  shared through a group, when asked for: ``trust_group``);
* every parent up to ``/`` is owned by the current user or root and is writable by
  nobody else, as ``ssh`` checks ``~/.ssh``; a world-writable parent is accepted only
  with the sticky bit and owned by root (``/tmp``): there nobody else can rename or
  replace what is ours;
* a symlink at any level is followed only if it is owned by the current user or root
  (in ``/tmp`` anyone can plant one) and its target passes the same checks, parents
  included;
* the process is not set-uid (``euid == uid``): the user it runs for decides.

Whoever can write to one of these directories chooses what ``import`` executes or
which task runs, as this user (or as root). Every refusal names the path, the rule it
failed and the command that fixes it.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

    from lazyext._errors import UnsafeCacheError

#: As the kernel's ELOOP limit: more links than this on one path is a loop.
_MAX_LINKS: Final = 40
_POSIX: Final = hasattr(os, "geteuid")


def user() -> int:
    return os.geteuid() if _POSIX else 0


def check_dir(
    path: str, *, what: str, root_owned_ok: bool = False, trust_group: bool = False
) -> str:
    """Check ``path`` and its parents (links followed only when safe); its real path.

    ``root_owned_ok``: a directory of root's passes too (read-only cache layers).
    ``trust_group``: a group-writable directory (and parents) passes (shared layers).
    """
    if not _POSIX:
        return os.path.realpath(path)
    _check_not_setuid(path, what)
    real = _walk(os.path.abspath(path), what, trust_group)
    _check_leaf(real, os.lstat(real), what, root_owned_ok, trust_group)
    return real


def ensure_dir(path: str, *, what: str) -> str:
    """Create ``path`` (each missing component 0700) and :func:`check_dir` it."""
    path = os.path.abspath(path)
    if _POSIX:
        _check_not_setuid(path, what)
    missing: list[str] = []
    existing = path
    while not os.path.lexists(existing):
        existing, name = os.path.split(existing)
        missing.append(name)
    try:
        if missing:  # the parents are checked before anything is made under them
            _make_missing(existing, missing, what, path)
        # One walk when the directory exists (every activate(): memo key, cache root).
        return check_dir(path, what=what)
    except FileNotFoundError as error:  # a link on the way points nowhere
        raise _unsafe(
            f"cannot use the {what} {path!r}: {error.filename!r} on the way does not exist "
            "(a symlink to nothing?); fix or remove the link, or choose another directory",
            path=str(error.filename or path),
        ) from error


def _make_missing(existing: str, missing: list[str], what: str, path: str) -> None:
    """Make ``missing`` (innermost first) under ``existing``, once its walk passes."""
    base = _walk(existing, what, False) if _POSIX else os.path.realpath(existing)
    if _POSIX:
        _check_parent(base, os.lstat(base), what, path, False)
    for name in reversed(missing):
        base = os.path.join(base, name)
        try:
            os.mkdir(base, 0o700)
        except FileExistsError:
            pass  # another process made it meanwhile: checked below like any other
        except OSError as error:
            raise _unsafe(
                f"cannot create the {what} {base!r}: {error.strerror or error}; choose a "
                "directory you can write to",
                path=base,
            ) from error


_checked_roots: dict[str, str] = {}  # a cache root as configured -> its real path, checked


def ensure_root(root: str) -> str:
    """Create the cache root 0700 and refuse one that is unsafe to load code from, once
    per process (it runs on every ``activate()``: the compiled config is kept there).

    A cache root writable by others (or owned by another user, or reached through a
    parent or a link they control) lets them choose what ``import`` executes, so
    lazyext refuses it instead of carrying on like pip does.
    """
    real = _checked_roots.get(root)
    if real is None:
        real = ensure_dir(root, what="cache directory")
        _mark_cache(real)
        _checked_roots[root] = _checked_roots[real] = real
    return real


#: The Cache Directory Tagging Specification's signature (https://bford.info/cachedir/):
#: backup tools (tar --exclude-caches, borg, restic) and pytest skip such a directory.
CACHEDIR_TAG: Final = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by lazyext.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)


def _mark_cache(root: str) -> None:
    """Tell other tools to skip the cache, as uv does with its own: ``CACHEDIR.TAG``,
    and a ``.gitignore`` of ``*`` (git, and the tools that read it, ignore it all).

    Once per process and cache root (:func:`ensure_root` is memoised): one ``lstat``
    (~7 us measured, of ~80-120 us for the root's checks) when the tag exists; both files are
    written, each only where missing, when it does not. A read-only cache keeps working
    without them."""
    tag = os.path.join(root, "CACHEDIR.TAG")
    if os.path.lexists(tag):
        return
    for path, text in ((tag, CACHEDIR_TAG), (os.path.join(root, ".gitignore"), "*\n")):
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:  # read-only, full, or there already (another process, the user's): no matter
            with open(os.open(path, flags, 0o600), "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError:
            continue
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:  # read-only, full, or another process made it meanwhile: no matter
            with open(os.open(path, flags, 0o600), "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError:
            continue


def check_private_dir(path: str, *, what: str) -> None:
    """One component inside a checked directory: this user's, private, never a link."""
    if not _POSIX:
        return
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        kind = "a symlink" if stat.S_ISLNK(info.st_mode) else "not a directory"
        raise _unsafe(
            f"refusing the {what} {path!r}: it is {kind}; lazyext never follows links "
            "inside its own directories (remove it and let lazyext recreate it)",
            path=path,
        )
    _check_not_setuid(path, what)
    _check_leaf(path, info, what, False, False)


def check_item(path: str, info: os.stat_result, *, what: str, where: str, group: bool) -> None:
    """One file or directory inside ``where`` (an entry of a read-only layer, checked
    itself): a regular file or a directory (installs have no links or devices), owned
    by the current user or root, writable by neither group nor others (group-writable
    with ``group``). Whoever could write it chooses code that ``import`` runs."""
    mode = stat.S_IMODE(info.st_mode)
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        kind = "a symlink" if stat.S_ISLNK(info.st_mode) else "a device or special file"
        problem = f"is {kind}, which no install has; rebuild the layer"
    elif info.st_uid not in (user(), 0):
        problem = (
            f"is owned by uid {info.st_uid}, neither you (uid {user()}) nor root; run: "
            f"chown -R root {where}"
        )
    elif mode & 0o002:
        problem = (
            f"is writable by others (mode {mode:o}), so they could replace the code you "
            f"import; mount the layer read-only or run: chmod -R o-w {where}"
        )
    elif mode & 0o020 and not group:
        problem = (
            f"is writable by its group (gid {info.st_gid}, mode {mode:o}), so its members "
            f"could replace the code you import; mount the layer read-only or run: chmod -R "
            f"g-w {where}; or, if every member of that group may choose code you run, set "
            "trust-group = true"
        )
    else:
        return
    raise _unsafe(f"refusing the {what} {where!r}: {path!r} inside it {problem}", path=path)


def real_if_trusted(path: str) -> str:
    """``realpath(path)`` if the way there passes the rule, else ``abspath(path)``.

    For settings that store a resolved path: resolving a link that fails the rule
    would hide it from the check made when the directory is used, so such a path is
    kept as given and that check names the link.
    """
    path = os.path.abspath(path)
    if not _POSIX:
        return os.path.realpath(path)
    existing, rest = path, ""
    while not os.path.lexists(existing):
        existing, name = os.path.split(existing)
        rest = os.path.join(name, rest) if rest else name
    try:
        real = _walk(existing, "directory", False)
    except OSError:  # UnsafeCacheError is one
        return path
    return os.path.join(real, rest) if rest else real


def check_inside(path: str, root: str, *, what: str) -> str:
    """``path`` (named by stored state) is a directory inside ``root`` passing the rule."""
    real_root = os.path.realpath(root)
    try:
        real = check_dir(path, what=what)
    except FileNotFoundError as error:
        raise _unsafe(f"refusing the {what} {path!r}: it does not exist", path=path) from error
    if real == real_root or os.path.commonpath([real, real_root]) != real_root:
        raise _unsafe(
            f"refusing the {what} {path!r}: it is outside {real_root!r}, where lazyext "
            "keeps these files; the state database was changed by something else than "
            "lazyext (reinstall the plugin)",
            path=path,
        )
    return real


def private_file(path: str, *, what: str) -> None:
    """Create ``path`` 0600 if missing; refuse a link, a non-file or a foreign file.

    A file of this user's readable by others (an older lazyext made it 0644) is
    made private: it may hold secrets (stored task arguments).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        os.close(os.open(path, flags, 0o600))
    except FileExistsError:
        pass
    if not _POSIX:
        return
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode):
        kind = "a symlink" if stat.S_ISLNK(info.st_mode) else "not a regular file"
        raise _unsafe(
            f"refusing the {what} {path!r}: it is {kind}; move it away (it is not lazyext's)",
            path=path,
        )
    _check_owner(path, info, what, False, "file")
    if info.st_mode & 0o022:
        raise _unsafe(
            f"refusing the {what} {path!r}: writable by group or others (mode "
            f"{stat.S_IMODE(info.st_mode):o}); run: chmod 600 {path}",
            path=path,
        )
    if info.st_mode & 0o077:
        os.chmod(path, 0o600)


# -- the rule, one check at a time ------------------------------------------------------


def _walk(path: str, what: str, trust_group: bool) -> str:
    """The real path of ``path``; each parent and each link on the way checked."""
    pending = [part for part in reversed(path.split(os.sep)) if part]
    current = os.sep
    _check_parent(current, os.lstat(current), what, path, trust_group)
    links = 0
    while pending:
        name = pending.pop()
        if name == ".":
            continue
        if name == "..":
            current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, name)
        info = os.lstat(candidate)
        if stat.S_ISLNK(info.st_mode):
            links += 1
            if links > _MAX_LINKS:
                raise _unsafe(
                    f"refusing the {what} {path!r}: too many symlinks (a loop?) at {candidate!r}",
                    path=candidate,
                )
            _check_link(candidate, info, what, path)
            target = os.readlink(candidate)
            if os.path.isabs(target):
                current = os.sep
            pending.extend(part for part in reversed(target.split(os.sep)) if part)
            continue
        current = candidate
        if pending:  # a parent of what is asked for (the caller checks that one)
            _check_parent(current, info, what, path, trust_group)
    return current


def _check_not_setuid(path: str, what: str) -> None:
    if os.geteuid() != os.getuid():
        raise _unsafe(
            f"refusing the {what} {path!r}: running set-uid (euid {os.geteuid()} != uid "
            f"{os.getuid()}); lazyext only loads code for the user it runs as",
            path=path,
        )


def _check_parent(parent: str, info: os.stat_result, what: str, path: str, group: bool) -> None:
    mine = info.st_uid in (user(), 0)
    if not stat.S_ISDIR(info.st_mode) or not mine:
        whose = f"owned by uid {info.st_uid}" if not mine else "not a directory"
        raise _unsafe(
            f"refusing the {what} {path!r}: its parent {parent!r} is {whose}, neither you "
            f"(uid {user()}) nor root, so it could replace the directory; choose a "
            "directory whose parents only you and root can change",
            path=parent,
        )
    others = info.st_mode & (0o002 if group else 0o022)
    sticky_root = info.st_mode & stat.S_ISVTX and info.st_uid == 0
    if others and not sticky_root:
        who, fix = ("others", "o-w") if group else ("group or others", "go-w")
        raise _unsafe(
            f"refusing the {what} {path!r}: its parent {parent!r} is writable by {who} "
            f"(mode {stat.S_IMODE(info.st_mode):o}) without the sticky bit, so they could "
            f"replace the directory; run: chmod {fix} {parent}",
            path=parent,
        )


def _check_link(link: str, info: os.stat_result, what: str, path: str) -> None:
    if info.st_uid not in (user(), 0):
        raise _unsafe(
            f"refusing the {what} {path!r}: the symlink {link!r} on the way is owned by uid "
            f"{info.st_uid}, neither you (uid {user()}) nor root, so it is never followed; "
            "point the setting at the real directory, or remove the link",
            path=link,
        )


def _check_leaf(
    path: str, info: os.stat_result, what: str, root_owned_ok: bool, trust_group: bool
) -> None:
    if not stat.S_ISDIR(info.st_mode):
        raise _unsafe(f"refusing the {what} {path!r}: it is not a directory", path=path)
    _check_owner(path, info, what, root_owned_ok, "directory")
    mode = stat.S_IMODE(info.st_mode)
    if not mode & (0o002 if trust_group else 0o022):
        return
    if not root_owned_ok:  # one's own directory: private is the fix
        problem = f"writable by group or others (mode {mode:o}); run: chmod 700 {path}"
    elif mode & 0o002:  # a shared read-only layer: say which bit and the mount fix
        problem = f"writable by others (mode {mode:o}); mount it read-only or run: chmod o-w {path}"
    else:
        problem = (
            f"writable by its group (gid {info.st_gid}, mode {mode:o}); mount it read-only "
            f"or run: chmod g-w {path}; or, if every member of that group may choose code "
            "you run (a Kubernetes fsGroup volume), set trust-group = true"
        )
    raise _unsafe(f"refusing the {what} {path!r}: {problem}", path=path)


def _check_owner(
    path: str, info: os.stat_result, what: str, root_owned_ok: bool, kind: str
) -> None:
    if info.st_uid == user() or (root_owned_ok and info.st_uid == 0):
        return
    owners = "you or root" if root_owned_ok else "you"
    raise _unsafe(
        f"refusing the {what} {path!r}: owned by uid {info.st_uid}, not by you "
        f"(uid {user()}); lazyext only uses a {kind} owned by {owners}: use one of your "
        "own (see LAZYEXT_CACHE_DIR / LAZYEXT_DATA_DIR)",
        path=path,
    )


def _unsafe(message: str, *, path: str = "") -> UnsafeCacheError:
    """The error for a refused directory; _errors is imported only when one is refused
    (the checks run on every ``activate()``: benchmark B1)."""
    from lazyext._errors import UnsafeCacheError

    return UnsafeCacheError(message, path=path)
