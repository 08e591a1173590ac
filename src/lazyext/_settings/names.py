"""The kinds of keys and names that travel between the stages, each its own type.

A key names a place in the cache; mixing two kinds is a wrong lookup that no test of
either alone would catch (``lazyext invalidate`` once looked for an entry under a
requirement's key). So each kind is a ``NewType`` of ``str``: free at run time, a type
error under ``mypy --strict`` when one is passed for another.

* :data:`ReqKey`: a requirement with the install settings that change its result
  (:func:`lazyext._settings.keys.requirement_key`); names an extension's failures.
* :data:`EnvKey`: the enabled extensions of a config with those settings and the
  interpreter (:func:`lazyext._settings.keys.environment_key`); names an environment.
* :data:`DistKey`: one locked distribution, by name, version and file hashes
  (:func:`lazyext._settings.keys.dist_key`); names an entry of the cache.
* :data:`DistName`: a distribution name in PEP 503 form (:func:`canonical_name`).

And three names of things on disk: :func:`hostname` (in the names of per-host items:
staging directories, spawn views), :data:`NOT_IMPORTABLE` (an install's top-level
items that are not import names) and :data:`own_paths` (lazyext's own ``sys.path``
entries, which the host check skips).

This module imports nothing but ``os``: the warm path reads keys and names from the memo.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NewType

    ReqKey = NewType("ReqKey", str)
    EnvKey = NewType("EnvKey", str)
    DistKey = NewType("DistKey", str)
    DistName = NewType("DistName", str)
else:  # NewType is the identity at run time; typing stays unimported (~3 ms)
    ReqKey = EnvKey = DistKey = DistName = str


def canonical_name(name: str) -> DistName:
    """The PEP 503 form of a distribution name: lower case, each run of ``-``, ``_``
    and ``.`` one ``-``. ``PyYAML``, ``ruamel.yaml`` and ``typing_extensions`` as wheel
    files, ``.dist-info`` directories, locks and requirements spell them, compared."""
    lowered = name.lower().replace("_", "-").replace(".", "-")
    while "--" in lowered:
        lowered = lowered.replace("--", "-")
    return DistName(lowered)


#: Top-level items of an install that are not import names (console scripts, data).
NOT_IMPORTABLE = frozenset({"bin", "__pycache__", "include", "share", "lib", "Scripts"})


#: The ``sys.path`` entries lazyext added, its spawn views: what they serve is the
#: cache's, never the host's. The importer's view (:mod:`lazyext._importer.view`) keeps
#: it; the host check (:mod:`lazyext._env.host`) skips it. Here, below both: the view
#: is mounted by every ``activate()``, and the host check is loaded only by an import
#: (two modules, ~0.25 ms, off benchmark B1). One list for the process, changed in place.
own_paths: list[str] = []


def hostname() -> str:
    """This machine's name, in the names of per-host items (gc tells live from dead)."""
    uname = getattr(os, "uname", None)
    return uname().nodename if uname is not None else os.environ.get("COMPUTERNAME", "host")
