"""The first run of a script: it starts at once while its environment is prepared.

Preparing (:func:`lazyext._run.prepare.finish`: one resolution, the import names read
from the wheels' directories) runs in a thread. Until it is done, two finders stand in
for lazyext's:

* one *first* on ``sys.meta_path`` for the names the config already declares (a
  configured extension wins over a host copy, as lazyext's own finder does);
* one *last*, for the top-level names nothing else finds, asked by the user's code
  (a frame outside the standard library, site-packages and lazyext): the script's
  dependencies are among them. A library probing for an optional module is answered
  as if lazyext were not there.

Each answers with a spec whose loader waits for the thread in ``create_module``
(outside the global import lock, as lazyext's own loader installs), then imports the
name again, now through the finished config: the dependency's closure is installed
then, and only if it is imported. The module keeps its own ``__spec__``.

The thread is not a daemon: a script that ends first waits for the resolution, so no
uv is left running and the next run finds the finished config.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading

# importlib.machinery's class, from the frozen module every interpreter has loaded.
from _frozen_importlib import ModuleSpec
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

_IMPORTLIB = os.path.join(os.path.dirname(importlib.__file__ or ""), "")
_LAZYEXT = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), "")
_SYSTEM = tuple(
    os.path.join(os.path.realpath(prefix), "")
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}
)
# The threads preparing the environment never wait for themselves: their imports (of
# packaging's optional ``_manylinux``, say) are answered as if lazyext were not there.
# (A thread pool names its threads after its prefix: ``lazyext-names_0``.)
OWN_THREADS = ("lazyext-run-prepare", "lazyext-names")


class Pending:
    """Imports that wait for ``prepare`` (run in a thread by :meth:`start`)."""

    def __init__(self, prepare: Callable[[], None], configured: Iterable[str]) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.front = _Finder(self, frozenset(configured))
        self.back = _Finder(self, None)
        self._thread = threading.Thread(
            target=self._prepare, args=(prepare,), name="lazyext-run-prepare"
        )

    def start(self) -> None:
        sys.meta_path.insert(0, self.front)
        sys.meta_path.append(self.back)
        self._thread.start()

    def _prepare(self, prepare: Callable[[], None]) -> None:
        try:
            prepare()
        except BaseException as error:  # handed to the imports that wait for it
            self.error = error
        else:
            self.remove()
        finally:
            self.done.set()

    def remove(self) -> None:
        for finder in (self.front, self.back):
            while finder in sys.meta_path:
                sys.meta_path.remove(finder)

    def wait(self) -> None:
        """Wait for the thread; raise what it raised (as an ImportError)."""
        self.done.wait()
        error = self.error
        if error is None:
            return
        if isinstance(error, ImportError):
            raise error
        raise ImportError(f"lazyext run: preparing the script's environment failed: {error}")


class _Finder:
    def __init__(self, pending: Pending, names: frozenset[str] | None) -> None:
        self.pending = pending
        self.names = names  # None: any top-level name the user's code imports

    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if self.pending.done.is_set() and self.pending.error is None:
            return None
        if threading.current_thread().name.startswith(OWN_THREADS):
            return None
        if self.names is not None:
            wanted = fullname in self.names
        else:
            wanted = path is None and _from_user_code()
        loader: Any = _Waiting(self.pending)
        return ModuleSpec(fullname, loader) if wanted else None

    def invalidate_caches(self) -> None:
        return None


class _Waiting:
    """Waits for the environment, then hands over the module a fresh import finds."""

    def __init__(self, pending: Pending) -> None:
        self.pending = pending
        self.real: Any = None

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        self.pending.wait()
        # This thread holds the module's lock, which is re-entrant: the import below
        # runs the module once, through the finished config's finders.
        module = importlib.import_module(spec.name)
        self.real = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The module ran in create_module; give it back its own spec and loader.
        if self.real is not None:
            module.__spec__ = self.real
            module.__loader__ = self.real.loader


def _from_user_code() -> bool:
    """Is the import asked by the user's code (not the standard library's, an installed
    package's or lazyext's)? The frames of the import machinery are skipped."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith("<frozen ") or name.startswith(_IMPORTLIB):
            frame = frame.f_back  # type: ignore[assignment]
            continue
        real = os.path.realpath(name) if os.path.isabs(name) else name
        return not real.startswith(_SYSTEM) and not real.startswith(_LAZYEXT)
    return False
