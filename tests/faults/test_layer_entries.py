"""A read-only layer's entries checked whole (issue 22 #5): every file and directory of
an entry used from a layer passes the trust rule, once per generation per process, and
``lazyext verify`` covers layers without ever writing to them."""

from __future__ import annotations

import compileall
import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import lazyext
from lazyext import _trust, cli
from lazyext._settings import load as _load
from lazyext._store import layers as _layers
from lazyext._use import warm

from support import Wheelhouse, run_python


def _read_only(root: Path) -> None:
    for base, directories, files in os.walk(root):
        for name in [*directories, *files]:
            path = os.path.join(base, name)
            os.chmod(path, os.lstat(path).st_mode & ~0o222)
    os.chmod(root, 0o555)


@pytest.fixture
def layer(house: Wheelhouse, tmp_path: Path) -> Path:
    """A cache with alpha, warmed and compiled as the container recipe does, then made
    read-only (root's, as the tests run as root, or the user's own)."""
    built = tmp_path / "layer"
    # Copies: the tests change modes, which hard links would share with uv's cache.
    config = _load.load({"alpha": "alpha"}, {**house.options(built), "link_mode": "copy"})
    warm(config=config)
    compileall.compile_dir(str(built / "entries"), quiet=1)
    _read_only(built)
    _trust._checked_roots.clear()
    _layers._walked.clear()
    return built


def _generation(layer: Path) -> Path:
    (generation,) = layer.glob("entries/*/*/g*")
    return generation


def _config(house: Wheelhouse, layer: Path, **settings: str) -> None:
    lines = [house.toml().rstrip(), f'cache-read = ["{layer}"]']
    lines += [f"{key} = {value}" for key, value in settings.items()]
    lines += ["[[extensions]]", 'name = "alpha"', 'package = "alpha"']
    Path("lazyext.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _import(name: str) -> Any:
    sys.modules.pop(name, None)
    importlib.invalidate_caches()
    return importlib.import_module(name)


def _chmod(relative: str, mode: int) -> Callable[[Path], Path]:
    def change(generation: Path) -> Path:
        path = generation / relative
        os.chmod(path, mode)
        return path

    return change


def _chown(relative: str) -> Callable[[Path], Path]:
    def change(generation: Path) -> Path:
        path = generation / relative
        os.chown(path, 4242, 4242)
        return path

    return change


def _symlink(generation: Path) -> Path:
    package = generation / "target" / "alpha"
    os.chmod(package, 0o755)
    link = package / "helper.py"
    link.symlink_to("/dev/null")
    os.chmod(package, 0o555)
    return link


PYC = f"target/alpha/__pycache__/__init__.{sys.implementation.cache_tag}.pyc"
UNSAFE: dict[str, tuple[Callable[[Path], Path], str]] = {
    "a package directory writable by others": (_chmod("target/alpha", 0o777), "o-w"),
    "a module writable by others": (_chmod("target/alpha/__init__.py", 0o666), "o-w"),
    "bytecode writable by others": (_chmod(PYC, 0o666), "o-w"),
    "metadata writable by others": (_chmod("entry.marshal", 0o666), "o-w"),
    "a package directory writable by its group": (_chmod("target/alpha", 0o775), "trust-group"),
    "a module of another user": (_chown("target/alpha/__init__.py"), "chown -R root"),
    "a symlink": (_symlink, "rebuild the layer"),
}


@pytest.mark.skipif(os.geteuid() != 0, reason="chown and a root-owned layer need root")
@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_an_entry_of_a_layer_with_one_unsafe_item_inside_is_refused(
    layer: Path, house: Wheelhouse, cache_dir: Path, case: str
) -> None:
    change, fix = UNSAFE[case]
    generation = _generation(layer)
    unsafe = change(generation)
    _config(house, layer)
    lazyext.activate()
    with pytest.raises(lazyext.UnsafeCacheError) as caught:
        _import("alpha")
    message = str(caught.value)
    print(message)
    assert caught.value.path == str(unsafe)
    assert message.startswith(
        f"refusing the read-only cache layer {str(generation)!r}: {str(unsafe)!r} inside it is "
    )
    assert fix in message
    assert "alpha" not in sys.modules
    assert not (cache_dir / "entries").exists()  # refused: never installed around it


def test_a_group_writable_entry_is_used_with_trust_group(layer: Path, house: Wheelhouse) -> None:
    for base, directories, _files in os.walk(layer):
        for name in directories:
            os.chmod(os.path.join(base, name), 0o775)
    os.chmod(layer, 0o775)
    _config(house, layer, **{"trust-group": "true"})
    lazyext.activate()
    assert _import("alpha").__file__.startswith(str(layer) + os.sep)


def test_an_entry_is_walked_once_per_generation_and_again_when_it_changes(
    layer: Path, house: Wheelhouse, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _load.load(
        {"alpha": "alpha"}, {**house.options(cache_dir), "cache_read": [str(layer)]}
    )
    generation = _generation(layer)
    key = generation.parent.parent.name
    walked: list[str] = []
    scandir = os.scandir

    def counting(path: Any) -> Any:
        walked.append(str(path))
        return scandir(path)

    monkeypatch.setattr(_layers.os, "scandir", counting)

    def lookup() -> int:
        walked.clear()
        found = _layers.find_entry(str(cache_dir), key, config.platform, config.settings)
        assert found is not None
        assert found.path == str(generation)
        return len([path for path in walked if path.startswith(str(generation))])

    directories = sum(1 for _ in os.walk(generation))
    assert lookup() == directories  # every directory of the entry, once
    assert lookup() == 0  # remembered
    os.chmod(generation, 0o555)  # the same mode: only its ctime changes
    assert lookup() == directories
    # A change deep inside after the walk is seen by the next process.
    os.chmod(generation / "target" / "alpha" / "__init__.py", 0o666)
    assert lookup() == 0
    code = (
        "import lazyext\n"
        f"lazyext.activate({{'alpha': 'alpha'}}, cache_dir={str(cache_dir)!r}, "
        f"find_links=[{str(house.path)!r}], no_index=True)\n"
        "try:\n    import alpha\nexcept lazyext.UnsafeCacheError as error:\n"
        "    print('refused', error.path)\n"
    )
    result = run_python(code, env={**os.environ, "LAZYEXT_CACHE_READ": str(layer)})
    assert result.stdout.split() == [
        "refused",
        str(generation / "target" / "alpha" / "__init__.py"),
    ], result.stderr


def _snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    found = {}
    for base, directories, files in os.walk(root):
        for name in [*directories, *files]:
            info = os.lstat(os.path.join(base, name))
            found[os.path.join(base, name)] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return found


def test_verify_covers_layers_and_never_writes_to_them(
    layer: Path, house: Wheelhouse, capsys: pytest.CaptureFixture[str]
) -> None:
    _config(house, layer)
    generation = _generation(layer)
    assert cli.main(["verify"]) == 0
    assert capsys.readouterr().out.split()[:3] == ["ok", "alpha", str(generation)]
    # A module writable by others: unsafe, named.
    module = generation / "target" / "alpha" / "__init__.py"
    os.chmod(module, 0o666)
    _layers._walked.clear()
    assert cli.main(["verify"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"unsafe   alpha {module}\n")
    assert f"{str(module)!r} inside it is writable by others (mode 666)" in out
    # Changed content (root writes through any mode): damaged; --repair leaves the
    # layer as it is and says what to do.
    os.chmod(module, 0o444)
    _layers._walked.clear()
    os.chmod(module, 0o644)
    module.write_text("NAME = 'evil!'\n", encoding="utf-8")  # as long as before
    os.chmod(module, 0o444)
    before = _snapshot(layer)
    assert cli.main(["verify", "--repair"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"damaged  alpha {generation}\n")
    assert "alpha/__init__.py: content changed" in out
    assert f"in the read-only layer {layer}: not repaired; rebuild the layer" in out
    assert _snapshot(layer) == before
