"""Hot reload: a polling thread that reloads plugins whose files changed.

No file-watching dependency: every ``interval`` seconds the thread compares each
loaded plugin's files (path, mtime, size; ``__pycache__`` ignored) with what it saw
before. A change is acted on once the files have stayed the same for ``debounce``
seconds, so an editor's save (or a copy of many files) reloads once, not per file.
Once the manager is started, each poll also follows the shared state
(:meth:`PluginManager.sync`), so a plugin enabled, disabled, upgraded, restored or
reloaded by another process (the CLI) is picked up here too. The clock is injectable
for tests.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from lazyext.plugins._errors import PluginError

logger = logging.getLogger("lazyext.plugins")

Signature = tuple[tuple[str, int, int], ...]


def signature(root: str) -> Signature:
    """``(path, mtime_ns, size)`` of every file under ``root``, bytecode caches aside."""
    found = []
    for base, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")]
        for name in files:
            path = os.path.join(base, name)
            try:
                info = os.stat(path)
            except OSError:
                continue  # removed meanwhile: the next poll sees the result
            found.append((os.path.relpath(path, root), info.st_mtime_ns, info.st_size))
    return tuple(sorted(found))


class Followed(Protocol):
    """What the watcher needs of a :class:`PluginManager`."""

    def follow(self) -> Mapping[str, PluginError]:
        """Follow the shared state (once started); the errors by plugin id."""
        ...

    def loaded_roots(self) -> list[tuple[str, str, Signature]]: ...

    def wants_hot_reload(self, plugin_id: str) -> bool: ...

    def hot_reload(self, plugin_id: str) -> None: ...


class Watcher:
    """Polls the loaded plugins of one manager; :meth:`poll` is one round."""

    def __init__(
        self,
        manager: Followed,
        interval: float,
        debounce: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.manager = manager
        self.interval = max(interval, 0.01)
        self.debounce = debounce
        self.clock = clock
        self._seen: dict[str, tuple[str, Signature]] = {}  # id -> (root, last signature)
        self._applied: dict[str, Signature] = {}  # id -> signature now running
        self._changed_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lazyext-plugin-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:  # a broken poll must not end hot reload for good
                logger.exception("plugin hot reload: poll failed")

    def poll(self) -> list[str]:
        """Follow the shared state, then reload plugins whose change has settled."""
        for plugin_id, error in self.manager.follow().items():
            logger.warning("plugin %s: %s", plugin_id, error)
        now = self.clock()
        roots = {
            i: (root, files)
            for i, root, files in self.manager.loaded_roots()
            if self.manager.wants_hot_reload(i)
        }
        for plugin_id in set(self._seen) - set(roots):
            self._forget(plugin_id)
        reloaded = []
        for plugin_id, (root, loaded_files) in roots.items():
            current = signature(root)
            seen = self._seen.get(plugin_id)
            if seen is None or seen[0] != root:  # new here, or moved to a new version:
                # compare with the files as they were when it was imported
                seen = self._seen[plugin_id] = (root, loaded_files)
                self._applied[plugin_id] = loaded_files
            if current != seen[1]:
                self._seen[plugin_id] = (root, current)
                self._changed_at[plugin_id] = now
            elif (
                current != self._applied[plugin_id]
                and now - self._changed_at.get(plugin_id, now) >= self.debounce
            ):
                self._applied[plugin_id] = current
                self.manager.hot_reload(plugin_id)
                reloaded.append(plugin_id)
        return reloaded

    def _forget(self, plugin_id: str) -> None:
        self._seen.pop(plugin_id, None)
        self._applied.pop(plugin_id, None)
        self._changed_at.pop(plugin_id, None)
