"""The Dask worker plugin on a real ``distributed.LocalCluster`` with worker processes."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faults.kit import CountingUv

from support import Wheelhouse

distributed = pytest.importorskip("distributed")

from lazyext.integrations.dask import FleetError, LazyextPlugin, report  # noqa: E402


def imported(name: str) -> tuple[str, str]:
    """Run on a worker: import ``name``; where it came from and this worker's pid."""
    module = importlib.import_module(name)
    return str(module.__file__), str(os.getpid())


def use_shim(path: str) -> None:
    """Run on a worker: count this worker's uv runs with the test's shim."""
    from lazyext._uv import command as _installer

    _installer.uv_binary = lambda: path  # type: ignore[assignment]


@pytest.fixture(scope="module")
def fleet_wheels(tmp_path_factory: pytest.TempPathFactory) -> Wheelhouse:
    house = Wheelhouse(tmp_path_factory.mktemp("fleet-wheels"))
    house.build("fleetpkg", "1.0", {"fleetpkg/__init__.py": "NAME = 'fleet'\n"})
    return house


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        local_directory=str(tmp_path / "dask"),
    )
    with cluster, distributed.Client(cluster) as connected:
        yield connected


def installs(shim: CountingUv) -> list[str]:
    return [line for line in shim.runs() if " install " in line]


def generations(cache: Path) -> list[Path]:
    return sorted(cache.glob("entries/*/*/g*"))


@pytest.mark.slow
def test_every_worker_imports_a_new_extension_with_one_install_per_host(
    client: Any, fleet_wheels: Wheelhouse, cache_dir: Path, tmp_path: Path
) -> None:
    workers = list(client.scheduler_info()["workers"])
    assert len(workers) == 2
    # The workers do not have it.
    with pytest.raises(ModuleNotFoundError):
        client.submit(imported, "fleetpkg", workers=[workers[0]], pure=False).result()
    shim = CountingUv(tmp_path / "shim")
    client.run(use_shim, str(shim.path))
    plugin = LazyextPlugin(
        {"fleetpkg": "fleetpkg"},
        cache_dir=str(cache_dir),
        find_links=[str(fleet_wheels.path)],
        no_index=True,
    )
    client.register_plugin(plugin)
    found = {
        address: client.submit(imported, "fleetpkg", workers=[address], pure=False).result()
        for address in workers
    }
    assert len({pid for _file, pid in found.values()}) == 2  # two worker processes
    assert all(file.startswith(str(cache_dir)) for file, _pid in found.values())
    assert len(installs(shim)) == 1  # one install for the host
    assert len(generations(cache_dir)) == 1
    reports = report(client)
    assert all(entry["ready"] == ["fleetpkg"] for entry in reports.values())
    # A worker that joins later gets the environment too, from the cache.
    client.cluster.scale(3)
    client.wait_for_workers(3)
    (late,) = set(client.scheduler_info()["workers"]) - set(workers)
    file, _pid = client.submit(imported, "fleetpkg", workers=[late], pure=False).result()
    assert file.startswith(str(cache_dir))
    assert len(generations(cache_dir)) == 1
    assert len(installs(shim)) == 1


@pytest.mark.slow
def test_a_worker_that_cannot_prepare_is_reported_to_the_client(
    client: Any, fleet_wheels: Wheelhouse, cache_dir: Path
) -> None:
    plugin = LazyextPlugin(
        {"fleetpkg": "fleetpkg", "missing": "no-such-dist"},
        cache_dir=str(cache_dir),
        find_links=[str(fleet_wheels.path)],
        no_index=True,
    )
    with pytest.raises(FleetError, match="could not prepare worker") as caught:
        client.register_plugin(plugin)
    assert set(caught.value.failures) == {"missing"}
    assert "no-such-dist" in caught.value.failures["missing"]
    reports = report(client)
    assert len(reports) == 2
    for address, entry in reports.items():
        assert entry["worker"] == address
        assert entry["ready"] == ["fleetpkg"]
        assert set(entry["failed"]) == {"missing"}


@pytest.mark.slow
def test_a_shipped_archive_is_unpacked_once_per_host_and_serves_every_worker(
    client: Any, fleet_wheels: Wheelhouse, tmp_path: Path
) -> None:
    from lazyext._pack import pack as _pack
    from lazyext._settings import load as _load
    from lazyext._use import warm

    options = {"find_links": [str(fleet_wheels.path)], "no_index": True}
    built = _load.load({"fleetpkg": "fleetpkg"}, {"cache_dir": str(tmp_path / "built"), **options})
    assert all(isinstance(result, Path) for result in warm(config=built).values())
    archive = tmp_path / "env.tar.gz"
    _pack.pack(built, str(archive))
    shim = CountingUv(tmp_path / "shim")
    client.run(use_shim, str(shim.path))
    cache = tmp_path / "workers"
    client.register_plugin(
        LazyextPlugin(
            {"fleetpkg": "fleetpkg"}, pack=archive.read_bytes(), cache_dir=str(cache), **options
        )
    )
    for address in client.scheduler_info()["workers"]:
        file, _pid = client.submit(imported, "fleetpkg", workers=[address], pure=False).result()
        assert file.startswith(str(cache))
    assert installs(shim) == []  # nothing installed: the archive served every worker
    assert len(generations(cache)) == 1  # one copy for the host
    unpacked = [entry["unpacked"] for entry in report(client).values()]
    assert sorted(len(keys) for keys in unpacked) == [0, 1]
