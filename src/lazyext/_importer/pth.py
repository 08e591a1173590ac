"""``.pth`` processing for an installed target.

By default the running interpreter's own ``site`` processes the target: the files
``site.addsitedir`` would read, in its order, each with ``site.addpackage``, so the
rules (hidden files, encodings, ``import`` lines, errors that end a file) are exactly
those of this Python version. The target directory itself is pre-registered as known
so that ``site`` does not put it on ``sys.path`` (lazyext's finder resolves it
instead). One deviation: a file that makes ``site`` raise (a ``.pth`` that is not in
the locale's encoding, on Pythons before 3.13) is skipped and logged instead of
failing the import and every file after it. Every line ``site`` will execute is
logged first. In strict mode no line is executed: only path lines that stay inside
the target are honoured, everything else is refused and logged.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


class _WarmLogger:
    """The ``lazyext`` logger, used only once the application has imported logging.

    ``.pth`` files are processed on the warm path of every process, which must not
    import logging (it brings re, threading and traceback). A process that never
    imported logging has configured no handler for these records; installs, which do
    import it, report the same lines when an entry is first published.
    """

    def _emit(self, level: str, message: str, *args: object) -> None:
        logging = sys.modules.get("logging")
        if logging is not None:
            getattr(logging.getLogger("lazyext"), level)(message, *args)

    def debug(self, message: str, *args: object) -> None:
        self._emit("debug", message, *args)

    def warning(self, message: str, *args: object) -> None:
        self._emit("warning", message, *args)


logger = _WarmLogger()


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
        _process_with_site(target, label)
    known = set(before)
    return [entry for entry in sys.path if entry not in known]


def _process_with_site(target: str, label: str) -> None:
    import site

    known = {os.path.normcase(os.path.abspath(p)) for p in sys.path if p}
    known.add(os.path.normcase(os.path.abspath(target)))
    for name in site_names(target):
        path = os.path.join(target, name)
        _log_executable_lines(path, label)
        try:
            site.addpackage(target, name, known)
        except Exception as error:
            logger.warning("skipped %s: site could not read it (%s)", path, error)


def site_names(target: str) -> list[str]:
    """The ``.pth`` files ``site.addsitedir(target)`` reads, in the order it reads them."""
    try:
        names = [name for name in os.listdir(target) if name.endswith(".pth")]
    except OSError:
        return []
    if _site_skips_dot_files():
        names = [name for name in names if not name.startswith(".")]
    return sorted(names)


def _site_skips_dot_files() -> bool:
    """Whether this interpreter's ``site.addsitedir`` skips ``.*.pth`` (3.13, and patch
    releases of older lines that got the fix): its code compares names with ``"."``."""
    import site

    pending = [site.addsitedir.__code__]
    while pending:
        code = pending.pop()
        for constant in code.co_consts:
            if constant == ".":
                return True
            if hasattr(constant, "co_consts"):
                pending.append(constant)
    return False


def _site_lines(path: str) -> list[str]:
    """The lines of ``path`` decoded and split exactly as this version's ``site`` does."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError:
        return []
    try:
        if sys.version_info >= (3, 13):
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                import locale

                text = raw.decode(locale.getencoding())
            return text.splitlines()
        import io

        return list(io.TextIOWrapper(io.BytesIO(raw), encoding="locale"))
    except (UnicodeDecodeError, LookupError):
        return []  # site raises on it: skipped, see _process_with_site


def _log_executable_lines(path: str, label: str) -> None:
    for number, line in enumerate(_site_lines(path), start=1):
        if _is_import_line(line):
            logger.warning(
                "executing line %d of %s%s: %s",
                number,
                path,
                f" ({label})" if label else "",
                line.strip(),
            )


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
            if any(ord(char) < 0x20 or char in "\x7f\x85\u2028\u2029" for char in stripped):
                # A NUL makes os.path raise; other controls split lines differently
                # across Python versions. Neither is a directory name anyone means.
                logger.warning("strict-pth: refused %s: %r has control characters", where, stripped)
                continue
            directory = os.path.realpath(os.path.join(target, stripped))
            if os.path.commonpath([root, directory]) != root:
                logger.warning("strict-pth: refused %s: %s leaves the install", where, stripped)
                continue
            if os.path.exists(directory) and os.path.normcase(directory) not in known:
                sys.path.append(directory)
                known.add(os.path.normcase(directory))
