"""Read-only cache layers (``cache-read``): searched first, trusted, never written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import lazyext
from lazyext import _trust
from lazyext._env.provision import provision
from lazyext._settings import load as _load
from lazyext._settings.config import Config
from lazyext._store import layers as _layers

from support import Wheelhouse, run_python


def configure(
    wheelhouse: Wheelhouse, cache: Path, layers: tuple[Path, ...] = (), **extra: object
) -> Config:
    return _load.load(
        {"tinyyaml": "TinyYaml>=6", "alpha": "alpha"},
        {
            "cache_dir": str(cache),
            "find_links": [str(wheelhouse.path)],
            "no_index": True,
            **({"cache_read": [str(layer) for layer in layers]} if layers else {}),
            **extra,
        },
    )


def tinyyaml_key(wheelhouse: Wheelhouse) -> str:
    """The cache key of TinyYaml 6.1: what was installed, not where it came from."""
    import hashlib

    from lazyext._settings.keys import dist_key

    wheel = wheelhouse.path / "TinyYaml-6.1-py3-none-any.whl"
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    return dist_key("tinyyaml", "6.1", (f"sha256:{digest}",))


def snapshot(root: Path) -> dict[str, tuple[int, int, float]]:
    """Every path under ``root`` with its mode, size and mtime: any write shows."""
    found = {}
    for base, directories, files in os.walk(root):
        for name in [*directories, *files]:
            path = os.path.join(base, name)
            info = os.lstat(path)
            found[path] = (info.st_mode, info.st_size, info.st_mtime_ns)
    info = os.lstat(root)
    found[str(root)] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return found


@pytest.fixture
def layer(tmp_path: Path, wheelhouse: Wheelhouse) -> Path:
    """A cache built with TinyYaml (not alpha), then made read-only."""
    built = tmp_path / "layer"
    config = configure(wheelhouse, built)
    tinyyaml = config.plan_for("tinyyaml")
    assert tinyyaml is not None
    provision(tinyyaml, config.settings, config.platform)
    for base, directories, files in os.walk(built):
        for name in [*directories, *files]:
            path = os.path.join(base, name)
            os.chmod(path, os.lstat(path).st_mode & ~0o222)
    os.chmod(built, 0o500)
    _trust._checked_roots.clear()
    return built


def test_an_entry_in_a_layer_is_used_as_is(
    layer: Path, tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    before = snapshot(layer)
    private = tmp_path / "private"
    config = configure(wheelhouse, private, (layer,))
    plan = config.plan_for("tinyyaml")
    assert plan is not None
    entry = _layers.find_entry(
        str(private), tinyyaml_key(wheelhouse), config.platform, config.settings
    )
    assert entry is not None
    assert entry.path.startswith(str(layer) + os.sep)
    assert provision(plan, config.settings, config.platform) == entry
    # A whole process: imports served from the layer, nothing written to it.
    code = (
        "import lazyext, json\n"
        f"lazyext.activate({{'tinyyaml': 'TinyYaml>=6', 'alpha': 'alpha'}}, "
        f"cache_dir={str(private)!r}, find_links=[{str(wheelhouse.path)!r}], no_index=True)\n"
        "import tinyyaml, alpha\n"
        "print(tinyyaml.__file__)\nprint(alpha.__file__)\n"
    )
    env = {**os.environ, "LAZYEXT_CACHE_READ": str(layer), "PYTHONDONTWRITEBYTECODE": "1"}
    result = run_python(code, env=env)
    assert result.returncode == 0, result.stderr
    tinyyaml_file, alpha_file = result.stdout.split()
    assert tinyyaml_file.startswith(str(layer) + os.sep)
    # A new extension lands in the private, writable cache.
    assert alpha_file.startswith(str(private) + os.sep)
    assert snapshot(layer) == before
    # The private cache holds alpha only: TinyYaml was not installed again.
    assert len(list(private.glob("entries/*/*/g*"))) == 1


def test_layers_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    monkeypatch.setenv("LAZYEXT_CACHE_READ", os.pathsep.join(["/opt/a", "", "relative/b"]))
    config = configure(wheelhouse, tmp_path / "c")
    assert config.settings.cache_read == ("/opt/a", os.path.realpath("relative/b"))


def test_a_missing_layer_is_skipped(tmp_path: Path, wheelhouse: Wheelhouse) -> None:
    config = configure(wheelhouse, tmp_path / "c", (tmp_path / "absent",))
    plan = config.plan_for("tinyyaml")
    assert plan is not None
    assert (
        _layers.find_entry(
            str(tmp_path / "c"), tinyyaml_key(wheelhouse), config.platform, config.settings
        )
        is None
    )


def _lookup(config: Config, cache: Path) -> object:
    wheelhouse = Wheelhouse(Path(config.settings.find_links[0]))
    return _layers.find_entry(
        str(cache), tinyyaml_key(wheelhouse), config.platform, config.settings
    )


@pytest.mark.parametrize(
    ("mode", "rule", "fix"),
    [
        (0o777, "writable by others", "chmod o-w"),
        (0o757, "writable by others", "chmod o-w"),
        (0o775, "writable by its group", "trust-group = true"),
    ],
)
def test_a_layer_writable_by_others_is_refused_with_the_fix(
    layer: Path, tmp_path: Path, wheelhouse: Wheelhouse, mode: int, rule: str, fix: str
) -> None:
    os.chmod(layer, mode)
    config = configure(wheelhouse, tmp_path / "c", (layer,))
    with pytest.raises(lazyext.UnsafeCacheError) as caught:
        _lookup(config, tmp_path / "c")
    message = str(caught.value)
    assert "read-only cache layer" in message
    assert rule in message
    assert fix in message
    assert caught.value.path == str(layer)


def test_a_group_writable_layer_is_used_with_trust_group(
    layer: Path, tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    for base, directories, _files in os.walk(layer):
        for name in directories:
            os.chmod(os.path.join(base, name), 0o775)
    os.chmod(layer, 0o775)
    config = configure(wheelhouse, tmp_path / "c", (layer,), trust_group=True)
    assert _lookup(config, tmp_path / "c") is not None
    # ... but not one writable by everyone.
    os.chmod(layer, 0o777)
    with pytest.raises(lazyext.UnsafeCacheError, match="writable by others"):
        _lookup(config, tmp_path / "c")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs chown")
def test_a_layer_owned_by_another_user_is_refused(
    layer: Path, tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    generation = next(layer.glob(f"entries/{tinyyaml_key(wheelhouse)}/*/g*"))
    os.chown(generation, 4242, 4242)
    config = configure(wheelhouse, tmp_path / "c", (layer,))
    with pytest.raises(lazyext.UnsafeCacheError, match="owned by uid 4242") as caught:
        _lookup(config, tmp_path / "c")
    assert caught.value.path == str(generation)
    assert "read-only cache layer" in str(caught.value)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs lchown")
def test_a_generation_swapped_for_someone_elses_symlink_is_refused(
    layer: Path, tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    generation = next(layer.glob(f"entries/{tinyyaml_key(wheelhouse)}/*/g*"))
    platform = generation.parent
    os.chmod(platform, 0o700)
    generation.rename(tmp_path / "moved")
    generation.symlink_to(tmp_path / "moved", target_is_directory=True)
    os.lchown(generation, 4242, 4242)
    config = configure(wheelhouse, tmp_path / "c", (layer,))
    with pytest.raises(lazyext.UnsafeCacheError, match="symlink") as caught:
        _lookup(config, tmp_path / "c")
    assert caught.value.path == str(generation)


def test_a_layer_that_changes_mode_while_in_use_is_refused_at_the_next_lookup(
    layer: Path, tmp_path: Path, wheelhouse: Wheelhouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAZYEXT_CACHE_READ", str(layer))
    lazyext.activate(
        {"tinyyaml": "TinyYaml>=6", "alpha": "alpha"},
        cache_dir=tmp_path / "c",
        find_links=[str(wheelhouse.path)],
        no_index=True,
    )
    import tinyyaml

    assert tinyyaml.__file__.startswith(str(layer))
    os.chmod(layer, 0o777)
    with pytest.raises(lazyext.UnsafeCacheError, match="writable by others"):
        import alpha  # noqa: F401
    assert not (tmp_path / "c" / "entries").exists()


def test_a_newer_install_in_the_writable_cache_wins(
    layer: Path, tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    # Installed later into the writable cache (the layer's copy was invalidated there,
    # or the writable cache was warmed without the layer): the newer generation serves.
    alone = configure(wheelhouse, tmp_path / "c")
    plan = alone.plan_for("tinyyaml")
    assert plan is not None
    fresh = provision(plan, alone.settings, alone.platform)
    assert fresh.path.startswith(str(tmp_path / "c"))
    config = configure(wheelhouse, tmp_path / "c", (layer,))
    assert _lookup(config, tmp_path / "c") == fresh


def test_a_root_owned_layer_passes() -> None:
    assert _layers.check_layer("/usr", trust_group=False)
