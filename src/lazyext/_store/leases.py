"""Leases: a process that uses an install holds it, and gc never removes it meanwhile.

A lease is a shared ``flock`` on the generation directory, taken when the process
first activates the entry and held until the process exits (its modules may import
submodules or read data files from it at any time). It needs no file and no inode, so
it holds where the spawn view (a directory of links) could not be made: a full disk,
inodes exhausted, a read-only cache. gc asks for an exclusive lock without waiting:
refused means some live process holds the generation. The kernel drops a dead
process's locks, so there is nothing to clean up.

Cost: one ``open`` and one ``flock`` per entry, once per process, when the entry is
first activated; nothing on ``import lazyext``, ``activate()`` or later imports. The
descriptor is close-on-exec (PEP 446) but shared with ``fork`` children, which use
the same modules. Where ``flock`` does not exist (Windows, which refuses to delete
files in use anyway), the spawn view remains the lease.
"""

from __future__ import annotations

import _thread
import os

_lock = _thread.allocate_lock()
_held: dict[str, int] = {}  # generation path -> descriptor holding the shared lock


def hold(generation: str) -> None:
    """Lease ``generation`` for the rest of this process (idempotent, best effort)."""
    if generation in _held:
        return
    try:
        import fcntl
    except ImportError:
        return
    with _lock:
        if generation in _held:
            return
        try:
            descriptor = os.open(generation, os.O_RDONLY)
        except OSError:
            return
        try:
            fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)  # gc is removing it right now: nothing left to hold
            return
        _held[generation] = descriptor


def leased(generation: str) -> bool:
    """True if a live process (this one included) holds a lease on ``generation``."""
    if generation in _held:
        return True
    try:
        import fcntl
    except ImportError:
        return False
    try:
        descriptor = os.open(generation, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False  # no locks on this filesystem: the spawn views still count
    finally:
        os.close(descriptor)  # closing drops the probe's own lock
    return False


def release_all() -> None:
    """Drop every lease of this process (``deactivate()``: its view goes too)."""
    with _lock:
        descriptors = list(_held.values())
        _held.clear()
    for descriptor in descriptors:
        try:
            os.close(descriptor)
        except OSError:
            pass
