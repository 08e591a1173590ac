"""The compiled-config memo keeps each config marshalled on its own (benchmark B1/B7):
only the matching one is decoded, and a damaged one is recomputed, never fatal."""

from __future__ import annotations

import marshal
from pathlib import Path

from lazyext._settings import load as _load
from lazyext._settings import memo as _memo


def test_each_memo_value_is_its_own_marshal_blob(cache_dir: Path) -> None:
    first = _load.load({"a": "A>=1"}, {})
    _load.load({"b": "B>=1"}, {})
    memo = marshal.loads((cache_dir / "compiled.marshal").read_bytes())
    assert len(memo) == 2
    assert all(isinstance(value, bytes) for value in memo.values())
    assert _load.load({"a": "A>=1"}, {}) == first


def test_a_truncated_memo_value_is_recomputed(cache_dir: Path) -> None:
    first = _load.load({"a": "A>=1"}, {})
    path = cache_dir / "compiled.marshal"
    memo = marshal.loads(path.read_bytes())
    path.write_bytes(marshal.dumps({key: value[:-3] for key, value in memo.items()}))
    assert _load.load({"a": "A>=1"}, {}) == first
    repaired = marshal.loads(path.read_bytes())
    keyring = _memo.memo_key()
    assert keyring is not None
    ((fingerprint, value),) = repaired.items()
    assert marshal.loads(_memo.unsealed(fingerprint, value, keyring[0]))  # rewritten whole
