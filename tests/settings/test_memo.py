"""The compiled-config memo keeps each config marshalled on its own (benchmark B1/B7):
only the matching one is decoded, and a damaged one is recomputed, never fatal."""

from __future__ import annotations

import marshal
import os
from pathlib import Path
from typing import Any

import pytest

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


@pytest.mark.parametrize(
    "garbage",
    [[1], ("x",), ((1, 2),), (((1,), ()),), ((((1, 2), 3), ()),), ((("a", "b"), (), 3),)],
)
def test_a_damaged_memo_seen_is_replaced_not_obeyed(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch, garbage: Any
) -> None:
    """memo.seen that is not lazyext's shape vouches for nothing, and the next check
    of the memo replaces it (the settling time set to 0: the clock is all it waits for)."""
    monkeypatch.setattr(_memo, "_SETTLED_NS", 0)
    seen = Path(os.environ["LAZYEXT_DATA_DIR"]) / "memo.seen"
    first = _load.load({"a": "A>=1"}, {})
    seen.write_bytes(marshal.dumps(garbage))
    seen.chmod(0o600)
    assert _load.load({"a": "A>=1"}, {}) == first  # every value checked, then vouched for
    (((identity, _key), failed),) = marshal.loads(seen.read_bytes())
    assert identity[0] == str(cache_dir / "compiled.marshal")
    assert failed == ()
    digests: list[object] = []
    monkeypatch.setattr(_memo, "_digest", lambda *args: digests.append(args) or b"")
    assert _load.load({"a": "A>=1"}, {}) == first
    assert digests == []  # vouched for: no digest
