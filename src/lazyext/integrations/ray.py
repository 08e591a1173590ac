"""Ray: :func:`runtime_env`, a ``runtime_env`` whose setup hook activates lazyext.

::

    import ray
    from lazyext.integrations.ray import runtime_env
    ray.init(runtime_env=runtime_env({"yaml": "PyYAML>=6"}))

Ray runs ``worker_process_setup_hook`` in every worker process before its first task;
the hook activates the environment there (unpacking ``pack`` first, and installing
everything at once with ``warm=True``). Installs and unpacks are per-key locked in the
node's cache, so each node installs each extension once. A worker that cannot prepare
raises :class:`~lazyext.integrations._prepare.FleetError`, and Ray fails the tasks
scheduled on it with that message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lazyext.integrations._prepare import FleetError, prepare, raise_for

__all__ = ["FleetError", "runtime_env"]


class _Setup:
    """The setup hook: pickled with the runtime env, called in each worker process."""

    def __init__(
        self,
        config: Any,
        lock: str | None,
        pack: str | bytes | None,
        warm: bool,
        options: Mapping[str, Any],
    ) -> None:
        self.config = config
        self.lock = lock
        self.pack = pack
        self.warm = warm
        self.options = dict(options)

    def __call__(self) -> None:
        import os

        report = prepare(self.config, self.options, lock=self.lock, pack=self.pack, warm=self.warm)
        raise_for(report, f"ray worker pid {os.getpid()}")


def runtime_env(
    config: Any = None,
    *,
    lock: str | None = None,
    pack: str | bytes | None = None,
    warm: bool = False,
    base: Mapping[str, Any] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """A ``runtime_env`` dict (``base`` plus the hook) that activates lazyext in every
    Ray worker process. Arguments as for the Dask plugin: ``config`` as
    :func:`lazyext.activate` takes it, ``lock`` a ``pylock.toml`` path on the nodes,
    ``pack`` an archive path on the nodes or its bytes, ``options`` ``activate``'s
    keyword arguments. ``warm=False`` (the default) installs on first import.
    """
    env = dict(base or {})
    if "worker_process_setup_hook" in env:
        raise ValueError(
            "base already has a worker_process_setup_hook; call it from a hook of yours and "
            "call lazyext.activate there instead"
        )
    setup = _Setup(config, lock, pack, warm, options)

    # Ray exports the hook by pickling a function (it reads ``__name__``): a closure
    # over the picklable settings, which workers unpickle by importing this module.
    def lazyext_setup() -> None:
        setup()

    env["worker_process_setup_hook"] = lazyext_setup
    return env
