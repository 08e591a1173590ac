"""The Ray runtime_env: the dict itself, and a real local ``ray.init(num_cpus=2)``."""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
from pathlib import Path

import pytest

import lazyext
from lazyext.integrations.ray import FleetError, runtime_env

from support import Wheelhouse, python_env, run_python


@pytest.fixture(scope="module")
def fleet_wheels(tmp_path_factory: pytest.TempPathFactory) -> Wheelhouse:
    house = Wheelhouse(tmp_path_factory.mktemp("ray-wheels"))
    house.build("fleetpkg", "1.0", {"fleetpkg/__init__.py": "NAME = 'fleet'\n"})
    return house


def test_the_runtime_env_carries_a_setup_hook_that_activates(
    fleet_wheels: Wheelhouse, cache_dir: Path
) -> None:
    env = runtime_env(
        {"fleetpkg": "fleetpkg"},
        base={"env_vars": {"A": "1"}},
        cache_dir=str(cache_dir),
        find_links=[str(fleet_wheels.path)],
        no_index=True,
        warm=True,
    )
    assert env["env_vars"] == {"A": "1"}
    hook = env["worker_process_setup_hook"]
    assert callable(hook)
    assert hook.__name__ == "lazyext_setup"
    hook()  # what a Ray worker runs first
    import fleetpkg  # type: ignore[import-not-found]

    assert fleetpkg.__file__.startswith(str(cache_dir))
    assert len(list(cache_dir.glob("entries/*/*/g*"))) == 1


def test_a_hook_that_cannot_prepare_says_why(fleet_wheels: Wheelhouse, cache_dir: Path) -> None:
    env = runtime_env(
        {"missing": "no-such-dist"},
        cache_dir=str(cache_dir),
        find_links=[str(fleet_wheels.path)],
        no_index=True,
        warm=True,
    )
    with pytest.raises(FleetError, match=r"missing: .*no-such-dist") as caught:
        env["worker_process_setup_hook"]()
    assert isinstance(caught.value, lazyext.LazyextError)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert copy.failures == caught.value.failures


def test_a_base_with_its_own_hook_is_refused() -> None:
    with pytest.raises(ValueError, match="already has a worker_process_setup_hook"):
        runtime_env({}, base={"worker_process_setup_hook": "x.y"})


RAY_SCRIPT = """
import json, os, sys
import ray
from lazyext.integrations.ray import runtime_env

house, cache = sys.argv[1], sys.argv[2]
env = runtime_env({"fleetpkg": "fleetpkg"}, cache_dir=cache, find_links=[house], no_index=True)
ray.init(num_cpus=2, include_dashboard=False, runtime_env=env, log_to_driver=False)

@ray.remote(max_calls=1)  # a new worker process for each task
def where():
    import fleetpkg
    return os.getpid(), fleetpkg.__file__

print("RESULT=" + json.dumps(ray.get([where.remote() for _ in range(2)])))
ray.shutdown()
"""


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="the ray extra is not installed"
)
def test_every_ray_worker_process_imports_with_one_install(
    fleet_wheels: Wheelhouse, cache_dir: Path, tmp_path: Path
) -> None:
    script = tmp_path / "ray_job.py"
    script.write_text(RAY_SCRIPT, encoding="utf-8")
    env = python_env(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['ray_job', {str(fleet_wheels.path)!r}, {str(cache_dir)!r}]\n"
        f"runpy.run_path({str(script)!r}, run_name='__main__')\n"
    )
    result = run_python(code, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("RESULT=")]
    found = json.loads(line.removeprefix("RESULT="))
    assert len({pid for pid, _file in found}) == 2  # two worker processes
    assert all(file.startswith(str(cache_dir) + os.sep) for _pid, file in found)
    assert len(list(cache_dir.glob("entries/*/*/g*"))) == 1  # one install


def test_the_hook_unpacks_a_shipped_archive_instead_of_installing(
    fleet_wheels: Wheelhouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lazyext._pack import pack as _pack
    from lazyext._settings import load as _load
    from lazyext._use import warm
    from lazyext._uv import command as _installer

    options = {"find_links": [str(fleet_wheels.path)], "no_index": True}
    built = _load.load({"fleetpkg": "fleetpkg"}, {"cache_dir": str(tmp_path / "built"), **options})
    assert all(isinstance(result, Path) for result in warm(config=built).values())
    archive = tmp_path / "env.tar.gz"
    _pack.pack(built, str(archive))
    cache = tmp_path / "node"
    monkeypatch.setattr(_installer, "uv_binary", lambda: "/nonexistent/uv")  # no installs
    hook = runtime_env(
        {"fleetpkg": "fleetpkg"}, pack=archive.read_bytes(), cache_dir=str(cache), **options
    )["worker_process_setup_hook"]
    hook()
    (generation,) = cache.glob("entries/*/*/g*")
    import fleetpkg  # type: ignore[import-not-found]

    assert fleetpkg.__file__.startswith(str(generation))
    hook()  # a second worker process on the node: nothing more
    assert list(cache.glob("entries/*/*/g*")) == [generation]
