"""Whose fault a failed resolution is, in the error an import raises (_env.explain, and
the attribution in _env.provision; issue 21 #7, #8)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

import lazyext

from support import Wheelhouse


def test_a_host_copy_is_named_not_misreported_as_an_sdist(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pyd 2.0 needs tedep>=2; the host imports tedep 1.0; uv backtracks to pyd 1.0, of
    # which there is only an sdist, and its last words are about wheels.
    house = Wheelhouse(tmp_path / "wheels")
    for version in ("1.0", "2.0"):
        house.build("tedep", version, {"tedep/__init__.py": ""})
    house.build("pyd", "2.0", {"pyd/__init__.py": ""}, requires=("tedep>=2",))
    info = b"Metadata-Version: 2.1\nName: pyd\nVersion: 1.0\n"
    with tarfile.open(house.path / "pyd-1.0.tar.gz", "w:gz") as sdist:
        member = tarfile.TarInfo("pyd-1.0/PKG-INFO")
        member.size = len(info)
        sdist.addfile(member, io.BytesIO(info))
    host = tmp_path / "host"
    (host / "tedep").mkdir(parents=True)
    (host / "tedep" / "__init__.py").write_text("")
    (host / "tedep-1.0.dist-info").mkdir()
    (host / "tedep-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: tedep\nVersion: 1.0\n"
    )
    monkeypatch.syspath_prepend(str(host))
    lazyext.activate({"pyd": "pyd"}, **house.options(cache_dir))
    with pytest.raises(lazyext.ResolutionError) as caught:
        import pyd  # type: ignore[import-not-found]  # noqa: F401
    message = str(caught.value).splitlines()[0]
    assert f"tedep 1.0 at {host}" in message
    assert "differ from what this interpreter already imports" in message
    assert "allow-sdist" not in message
    assert caught.value.host == (f"tedep 1.0 at {host}",)


@pytest.mark.parametrize("first", ["alpha", "zzyaml"])
def test_offline_each_import_names_its_own_extension(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    # Offline with nothing in uv's cache: every extension's distribution is missing, and
    # uv names one at a time. The import of `colorama` must not say "cannot install
    # pyyaml>=6" (nor pytest.importorskip's reason).
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "empty-uv-cache"))
    lazyext.activate(
        {"alpha": "alpha", "zzyaml": "zzyaml>=6"},
        cache_dir=cache_dir,
        index_url="http://127.0.0.1:9/simple",  # never asked: offline
        offline=True,
    )
    second = "zzyaml" if first == "alpha" else "alpha"
    for name in (first, second, first):  # the last one meets the failure memory
        with pytest.raises(lazyext.DistributionNotFound) as caught:
            __import__(name)
        wanted = "alpha" if name == "alpha" else "zzyaml>=6"
        assert str(caught.value).startswith(f"cannot install {wanted}:"), str(caught.value)
        assert caught.value.name == name
    with pytest.raises(pytest.skip.Exception) as skipped:
        pytest.importorskip(first)
    assert f"cannot install {'alpha' if first == 'alpha' else 'zzyaml>=6'}:" in str(skipped.value)
