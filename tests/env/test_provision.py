"""``provision``: publish, re-check, TTL (stale-while-revalidate), refresh and repair."""

from __future__ import annotations

import importlib
import marshal
import os
import sys
import time
from pathlib import Path

import pytest

import lazyext
from fake_uv import UvShim, failing_install_of
from lazyext import _api, _use
from lazyext._env import provision as _provision
from lazyext._env.provision import provision
from lazyext._settings import keys as _keys
from lazyext._settings import load as _load
from lazyext._settings.config import Config
from lazyext._store import entries as _cache
from lazyext._store import install as store_install
from lazyext._store import layers as _layers
from lazyext._store.entries import Entry
from lazyext._uv import command as _installer

from support import Wheelhouse, build_tinyyaml, entry_of, publications, republish


@pytest.fixture
def shim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UvShim:
    shim = UvShim(tmp_path / "shim")
    monkeypatch.setattr(_installer, "uv_binary", lambda: str(shim))
    return shim


def config_for(
    wheelhouse: Wheelhouse, cache_dir: Path, requirement: str = "TinyYaml>=6", **extra: object
) -> Config:
    options = dict(wheelhouse.options(cache_dir), **extra)
    options["find_links"] = [str(wheelhouse.path)]
    options["cache_dir"] = str(cache_dir)
    return _load.load({"tinyyaml": requirement}, options)


def provision_of(config: Config, *, refresh: bool = False) -> Entry:
    return provision(config.plans[0], config.settings, config.platform, refresh=refresh)


def test_publishes_a_complete_generation(
    wheelhouse: Wheelhouse, cache_dir: Path, shim: UvShim
) -> None:
    config = config_for(wheelhouse, cache_dir)
    entry = provision_of(config)
    # The entry of the extension's own distribution, keyed by what the lock installs.
    env = _provision.environment(config)
    locked = env.dist("tinyyaml")
    assert locked is not None
    assert entry.key == locked.key == _keys.dist_key("tinyyaml", "6.1", locked.hashes)
    generation = Path(entry.path)
    assert generation.parent == cache_dir.resolve() / "entries" / entry.key / config.platform
    assert generation.name.startswith("g")
    assert {p.name for p in generation.iterdir()} == {"entry.marshal", "entry.json", "target"}
    assert entry.requirement == "tinyyaml==6.1"
    assert entry.resolved == (("TinyYaml", "6.1"),)
    assert entry.version_of("TinyYaml") == "6.1"
    assert set(entry.top_level) == {"tinyyaml", "_tinyyaml_speedups"}
    assert entry.pth == ()
    # Its dependency is an entry of its own, from the same install run.
    dependency = _cache.read_entry(str(entry_of(cache_dir, "tinydep")))
    assert dependency is not None
    assert dependency.resolved == (("tinydep", "1.0"),)
    assert dependency.top_level == ("tinydep",)
    assert entry.ttl_seconds == 24 * 3600.0
    assert not entry.expired()
    assert not os.path.lexists(os.path.join(entry.target, ".lock"))
    # No bytecode compiled at publish: the interpreter writes it on import (issue 11).
    assert not Path(entry.target, "tinyyaml", "__pycache__").exists()
    # Nothing left behind in staging.
    assert list((cache_dir / "staging").iterdir()) == []
    # The second call is a hit: same entry, no uv.
    assert provision_of(config) == entry
    assert len(shim.runs()) == 1
    assert publications(cache_dir) == {"tinyyaml": 1, "tinydep": 1}
    assert (cache_dir / "locks" / f"{entry.key}.lock").exists()


def test_the_published_metadata_is_readable_by_people(
    wheelhouse: Wheelhouse, cache_dir: Path
) -> None:
    import json

    entry = provision_of(config_for(wheelhouse, cache_dir))
    data = json.loads(Path(entry.path, "entry.json").read_text(encoding="utf-8"))
    with open(Path(entry.path, "entry.marshal"), "rb") as handle:
        assert marshal.load(handle) == data
    assert data["platform"] == _keys.platform_tag()
    assert data["python"] == sys.version.split()[0]


def test_pth_files_are_recorded(wheelhouse: Wheelhouse, cache_dir: Path) -> None:
    entry = provision_of(config_for(wheelhouse, cache_dir, "pthpkg"))
    assert entry.pth == ("pthpkg.pth",)
    assert "pthpkg" in entry.top_level


# -- TTL: an expired entry keeps serving until its replacement is published ----------------


def test_an_expired_entry_is_still_served(
    wheelhouse: Wheelhouse, cache_dir: Path, shim: UvShim
) -> None:
    config = config_for(wheelhouse, cache_dir, ttl_hours=1e-9)  # expired at once
    first = provision_of(config)
    assert first.expired()
    assert provision_of(config) == first
    assert len(shim.runs()) == 1
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **wheelhouse.options(cache_dir), ttl_hours=1e-9)
    module = importlib.import_module("tinyyaml")
    assert module.__file__.startswith(first.target)
    assert len(shim.runs()) == 1


def test_expiry_follows_the_clock(wheelhouse: Wheelhouse, cache_dir: Path) -> None:
    entry = provision_of(config_for(wheelhouse, cache_dir, ttl_hours=1.0))
    now = entry.installed_at
    assert not entry.expired(now + 3599)
    assert entry.expired(now + 3601)
    # Clock skew: an install "from the future" is not fresh forever.
    assert entry.expired(now - 3600)
    assert not entry.expired(now - 10)
    never = provision_of(config_for(wheelhouse, cache_dir, "alpha", ttl_hours=0))
    assert not never.expired(never.installed_at + 10 * 365 * 86400)


def test_expired_entries_survive_offline(
    wheelhouse: Wheelhouse, cache_dir: Path, shim: UvShim
) -> None:
    first = provision_of(config_for(wheelhouse, cache_dir, ttl_hours=1e-9))
    offline = config_for(wheelhouse, cache_dir, ttl_hours=1e-9, offline=True)
    assert provision_of(offline) == first
    assert len(shim.runs()) == 1


TINYYAML_62 = {
    "tinyyaml/__init__.py": (
        "import tinydep\n__version__ = '6.2'\ndef load(text):\n    return tinydep.VALUE + 1\n"
    ),
    "tinyyaml/sub.py": "X = 1\n",
}


def test_refresh_publishes_a_new_generation_while_the_old_keeps_working(
    tmp_path: Path, cache_dir: Path, shim: UvShim
) -> None:
    house = Wheelhouse(tmp_path / "wheels")
    build_tinyyaml(house)
    config = lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **house.options(cache_dir))
    old_module = importlib.import_module("tinyyaml")
    old = Path(old_module.__file__).parents[2]
    dependency = importlib.import_module("tinydep").__file__
    runtime = _api._runtime
    assert runtime is not None
    # Nothing new on the index: a refresh resolves again and installs nothing.
    unchanged = runtime.provision_and_activate(config.plans[0], refresh=True)
    assert Path(unchanged[0].path) == old
    assert len(shim.runs()) == 1
    # A new release: the refresh publishes it; the unchanged dependency stays shared.
    house.build("TinyYaml", "6.2", TINYYAML_62, requires=("tinydep>=1",))
    new_entry, *rest = runtime.provision_and_activate(config.plans[0], refresh=True)
    assert new_entry.resolved == (("TinyYaml", "6.2"),)
    assert Path(new_entry.path) != old
    assert [Path(e.path) for e in rest] == [entry_of(cache_dir, "tinydep")]
    assert len(shim.runs()) == 2
    assert publications(cache_dir) == {"tinyyaml": 2, "tinydep": 1}
    # The process that imported the old generation keeps working from it...
    assert old.is_dir()
    assert old_module.load("") == 42
    assert importlib.import_module("tinyyaml.sub").X == 1
    # ...new imports use the new one, and so does the next process.
    for name in ("tinyyaml", "tinyyaml.sub", "tinydep"):
        del sys.modules[name]
    fresh = importlib.import_module("tinyyaml")
    assert fresh.__file__.startswith(new_entry.target)
    assert fresh.__version__ == "6.2"
    assert importlib.import_module("tinydep").__file__ == dependency
    root = str(cache_dir.resolve())
    assert _layers.find_entry(root, new_entry.key, config.platform) == new_entry
    # The old version's entry stays valid: another config may lock it.
    assert _cache.read_entry(str(old)) is not None


def test_warm_refresh_through_the_api(tmp_path: Path, cache_dir: Path, shim: UvShim) -> None:
    house = Wheelhouse(tmp_path / "wheels")
    build_tinyyaml(house)
    config = config_for(house, cache_dir)
    first = _use.warm(config=config)["tinyyaml"]
    again = _use.warm(config=config)["tinyyaml"]
    assert _use.warm(config=config, refresh=True)["tinyyaml"] == first  # nothing new
    house.build("TinyYaml", "6.2", TINYYAML_62, requires=("tinydep>=1",))
    refreshed = _use.warm(config=config, refresh=True)["tinyyaml"]
    assert first == again != refreshed
    assert len(shim.runs()) == 2


# -- damaged entries are misses that get repaired --------------------------------------------


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: (p / "entry.marshal").write_bytes(b"\x00\x01garbage"), id="garbage"),
        pytest.param(lambda p: (p / "entry.marshal").write_bytes(b""), id="empty"),
        pytest.param(
            lambda p: (p / "entry.marshal").write_bytes((p / "entry.marshal").read_bytes()[:20]),
            id="truncated",
        ),
        pytest.param(lambda p: (p / "entry.marshal").unlink(), id="missing"),
        pytest.param(
            lambda p: (p / "entry.marshal").write_bytes(marshal.dumps({"schema": 99})),
            id="newer-schema",
        ),
        pytest.param(
            lambda p: (p / "entry.marshal").write_bytes(marshal.dumps([1, 2])), id="not-a-dict"
        ),
        pytest.param(
            lambda p: (p / "entry.marshal").write_bytes(marshal.dumps({"schema": 1})),
            id="missing-fields",
        ),
        pytest.param(lambda p: os.rename(p / "target", p / "elsewhere"), id="no-target"),
    ],
)
def test_a_damaged_entry_is_a_miss_and_is_repaired(
    wheelhouse: Wheelhouse, cache_dir: Path, shim: UvShim, damage: object
) -> None:
    config = config_for(wheelhouse, cache_dir)
    first = provision_of(config)
    damage(Path(first.path))  # type: ignore[operator]
    root = str(cache_dir.resolve())
    assert _cache.read_entry(first.path) is None
    assert _layers.find_entry(root, first.key, config.platform) is None
    repaired = provision_of(config)
    assert repaired.path != first.path
    assert _layers.find_entry(root, first.key, config.platform) == repaired
    assert len(shim.runs()) == 2
    assert publications(cache_dir)["tinydep"] == 1  # only the damaged entry is reinstalled
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **wheelhouse.options(cache_dir))
    assert importlib.import_module("tinyyaml").__file__.startswith(repaired.target)


def test_a_damaged_entry_never_breaks_an_import(
    wheelhouse: Wheelhouse, cache_dir: Path, shim: UvShim
) -> None:
    first = provision_of(config_for(wheelhouse, cache_dir))
    Path(first.path, "entry.marshal").write_bytes(b"{not marshal")
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **wheelhouse.options(cache_dir))
    assert importlib.import_module("tinyyaml").load("") == 42
    assert len(shim.runs()) == 2


def test_the_newest_valid_generation_wins(
    wheelhouse: Wheelhouse, cache_dir: Path, shim: UvShim
) -> None:
    config = config_for(wheelhouse, cache_dir)
    older = provision_of(config)
    root = str(cache_dir.resolve())
    newer = republish(root, older)
    key = older.key
    found = _layers.find_entry(root, key, config.platform)
    assert found is not None
    assert found.path == newer
    Path(newer, "entry.marshal").write_bytes(b"")
    assert _layers.find_entry(root, key, config.platform) == older


# -- invalidation ------------------------------------------------------------------------------


def test_invalidate_marks_and_the_next_use_reinstalls(
    wheelhouse: Wheelhouse, cache_dir: Path, shim: UvShim
) -> None:
    options = wheelhouse.options(cache_dir)
    first = lazyext.ensure("TinyYaml>=6", **options)
    dependency = entry_of(cache_dir, "tinydep")
    assert importlib.import_module("tinydep").__file__.startswith(str(dependency))
    # The closure is marked: the extension's distribution and its dependency.
    assert lazyext.invalidate("tinyyaml >= 6", **options) == 2
    assert (first.parent / "INVALIDATED").is_file()
    assert (dependency / "INVALIDATED").is_file()
    assert first.is_dir()  # marked, not deleted: a live process may still use it
    assert lazyext.invalidate("TinyYaml>=6", **options) == 0  # already marked
    second = lazyext.ensure("TinyYaml>=6", **options)
    assert second != first
    assert len(shim.runs()) == 2
    # Dependencies of the invalidated install are no longer served from it.
    del sys.modules["tinydep"]
    reinstalled = entry_of(cache_dir, "tinydep")
    assert reinstalled != dependency
    assert importlib.import_module("tinydep").__file__.startswith(str(reinstalled))


def test_invalidate_forgets_a_recent_failure(
    wheelhouse: Wheelhouse, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shim = UvShim(tmp_path / "broken", before=failing_install_of("tinyyaml"))
    monkeypatch.setattr(_installer, "uv_binary", lambda: str(shim))
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **wheelhouse.options(cache_dir))
    for _ in range(2):
        with pytest.raises(lazyext.InstallError):
            importlib.import_module("tinyyaml")
    assert len(shim.runs()) == 1
    assert lazyext.invalidate("tinyyaml") == 0
    with pytest.raises(lazyext.InstallError):
        importlib.import_module("tinyyaml")
    assert len(shim.runs()) == 2


def test_a_failed_install_leaves_nothing(
    wheelhouse: Wheelhouse, cache_dir: Path, shim: UvShim
) -> None:
    config = config_for(wheelhouse, cache_dir, "TinyYaml>=99")
    with pytest.raises(lazyext.InstallError) as caught:
        provision_of(config)
    assert caught.value.cache_key == config.plans[0].key
    assert caught.value.spec == "tinyyaml>=99"
    assert list((cache_dir / "staging").iterdir()) == []
    assert not (cache_dir / "entries").exists()


def test_a_success_that_lacks_the_distribution_is_refused(
    wheelhouse: Wheelhouse, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A uv that "succeeds" without installing anything.
    fake = UvShim(tmp_path / "empty-uv", body='mkdir -p "$(dirname "$0")/unused"; exit 0')
    monkeypatch.setattr(_installer, "uv_binary", lambda: str(fake))
    with pytest.raises(lazyext.InstallError, match=r"left no target directory|not in the result"):
        provision_of(config_for(wheelhouse, cache_dir))
    assert not (cache_dir / "entries").exists()
    assert list((cache_dir / "staging").iterdir()) == []


def test_provision_re_checks_after_taking_the_lock(
    wheelhouse: Wheelhouse, cache_dir: Path, shim: UvShim, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry published by someone else while we waited for the lock is used as is."""
    config = config_for(wheelhouse, cache_dir)
    published = provision_of(config)
    looks: list[object] = []
    real_find = _layers.find_entry

    def miss_once(*args: object) -> Entry | None:
        looks.append(args[1])  # the key
        if looks.count(published.key) == 1 and args[1] == published.key:
            return None  # the unlocked look: not there yet
        return real_find(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(store_install, "find_entry", miss_once)
    assert provision_of(config) == published
    assert looks.count(published.key) == 2  # unlocked, then again under the lock
    assert len(shim.runs()) == 1


def test_installed_at_is_recent(wheelhouse: Wheelhouse, cache_dir: Path) -> None:
    before = time.time()
    entry = provision_of(config_for(wheelhouse, cache_dir))
    assert before <= entry.installed_at <= time.time()
