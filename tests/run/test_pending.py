"""The stand-in finders of a script's first run."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from lazyext._run import pending


def test_the_preparing_threads_never_wait_for_themselves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thread that prepares, and the pool that reads names, import as if lazyext
    were not there: an import of theirs that waited for preparing (packaging's optional
    ``_manylinux``, from a site-packages outside ``sys.prefix``) would never end."""
    probe = tmp_path / "probe.py"  # a frame outside the system: "the user's code"
    probe.write_text(
        "import importlib.util\n\ndef ask(name):\n    return importlib.util.find_spec(name)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import probe  # type: ignore[import-not-found]

    release = threading.Event()
    work = pending.Pending(lambda: release.wait(30), ())
    answers: dict[str, object] = {}

    def ask(label: str) -> None:
        answers[label] = probe.ask("lazyext_no_such_module_anywhere")

    try:
        work.start()
        for name in ("lazyext-run-prepare", "lazyext-names_0", "user-thread"):
            thread = threading.Thread(target=ask, args=(name,), name=name)
            thread.start()
            thread.join(10)
            assert not thread.is_alive()
    finally:
        release.set()
        work._thread.join(10)
        work.remove()
        sys.modules.pop("probe", None)
    assert answers["lazyext-run-prepare"] is None
    assert answers["lazyext-names_0"] is None
    # Any other thread's import from the user's code waits (its spec is the stand-in).
    assert answers["user-thread"] is not None
