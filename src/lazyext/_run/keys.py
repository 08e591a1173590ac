"""Where a script's finished config is kept, and the key it is kept under.

The warm path of ``lazyext run``: hashing the block's text and checking for one file,
so the next run of a script reads no TOML and resolves nothing (:mod:`.prepare` makes
the file).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Sequence
from typing import Final

from lazyext._settings.config import Config
from lazyext._store.entries import private_dir
from lazyext._version import __version__

_FORMAT: Final = 1  # bumped when the generated config changes shape
DONE: Final = "lazyext.toml"
#: The start of the module names of extensions whose import names are not known yet.
PLACEHOLDER: Final = "_lazyext_dependency_"
_ENV_INPUTS: Final = (
    "LAZYEXT_CACHE_DIR",
    "LAZYEXT_CACHE_READ",
    "UV_DEFAULT_INDEX",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
)


def directory(root: str, key: str) -> str:
    return private_dir(root, "scripts", key)


def script_key(block_text: str, with_: Sequence[str], base: Config, script_dir: str) -> str:
    """What a script's config is made from, hashed (see the module docstring)."""
    identity: object = base.source
    if os.path.isfile(base.source):
        info = os.stat(base.source)
        identity = (base.source, info.st_mtime_ns, info.st_size, info.st_ino)
    material = (
        _FORMAT,
        __version__,
        block_text,
        tuple(with_),
        identity,
        script_dir,
        sys.executable,
        sys.version,
        tuple(os.environ.get(name) for name in _ENV_INPUTS),
    )
    return hashlib.sha256(repr(material).encode()).hexdigest()[:32]


def finished(root: str, key: str) -> str | None:
    """The config written by an earlier run with the same key, if it is there."""
    path = os.path.join(root, "scripts", key, DONE)
    try:
        info = os.lstat(path)
    except OSError:
        return None
    mine = not hasattr(os, "geteuid") or info.st_uid == os.geteuid()
    private = mine and not info.st_mode & 0o022 and os.path.isfile(path)
    return path if private and not os.path.islink(path) else None
