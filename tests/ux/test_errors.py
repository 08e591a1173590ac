"""Errors that say what to do: missing distributions are ModuleNotFoundErrors, config
keys get a "did you mean", UV_OFFLINE is honoured, internal frames are trimmed."""

from __future__ import annotations

import os
import pickle
import traceback
from pathlib import Path

import pytest

import lazyext
from faults.indexserver import IndexServer, refused_url
from lazyext._uv import command as _installer
from lazyext._uv import failure

from support import Wheelhouse, run_python


def _activate(wheelhouse: Wheelhouse, cache_dir: Path, config: dict[str, str]) -> None:
    lazyext.activate(config, **wheelhouse.options(cache_dir))


def test_a_distribution_that_does_not_exist_is_a_module_not_found_error(
    wheelhouse: Wheelhouse, cache_dir: Path
) -> None:
    _activate(wheelhouse, cache_dir, {"nosuchmod": "nosuchmod"})
    with pytest.raises(ModuleNotFoundError) as caught:
        import nosuchmod  # type: ignore[import-not-found]  # noqa: F401
    error = caught.value
    assert isinstance(error, lazyext.InstallError)
    assert isinstance(error, lazyext.DistributionNotFound)
    assert error.name == "nosuchmod"
    # The hint: import names and distribution names differ.
    assert "import name is not always" in str(error)
    assert "PyYAML" in str(error)
    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again, ModuleNotFoundError)
    assert again.spec == error.spec


def test_a_missing_dependency_gets_no_import_name_hint() -> None:
    said = (
        "Because bdep was not found in the provided package locations and beta==1.0 "
        "depends on bdep==1.0, we can conclude that beta==1.0 cannot be used."
    )
    found = failure.find_missing(said)
    assert found is not None
    error = failure.missing_error(found, 1, said, "Beta_Pkg>=1", "beta", "k" * 32)
    assert "it is a dependency of Beta_Pkg" in str(error)
    assert "import name is not always" not in str(error)
    own = failure.find_missing(said.replace("bdep was", "beta-pkg was"))
    assert own is not None
    assert "import name is not always" in str(
        failure.missing_error(own, 1, said, "Beta_Pkg>=1", "beta", "k")
    )


def test_importorskip_skips_a_missing_distribution(wheelhouse: Wheelhouse, cache_dir: Path) -> None:
    _activate(wheelhouse, cache_dir, {"nosuchmod": "nosuchmod"})
    with pytest.raises(pytest.skip.Exception):
        pytest.importorskip("nosuchmod")


def test_a_version_that_does_not_exist_is_a_module_not_found_error(
    wheelhouse: Wheelhouse, cache_dir: Path
) -> None:
    _activate(wheelhouse, cache_dir, {"tinyyaml": "TinyYaml>=99"})
    with pytest.raises(lazyext.DistributionNotFound, match="version that satisfies"):
        import tinyyaml  # type: ignore[import-not-found]  # noqa: F401


def test_missing_offline_is_a_module_not_found_error(cache_dir: Path, tmp_path: Path) -> None:
    lazyext.activate(
        {"nosuchmod": "nosuchmod"},
        cache_dir=cache_dir,
        offline=True,
        index_url=refused_url(),
    )
    with pytest.raises(lazyext.DistributionNotFound, match="offline"):
        import nosuchmod  # type: ignore[import-not-found]  # noqa: F401


def test_other_failures_stay_plain_import_errors(tmp_path: Path, cache_dir: Path) -> None:
    config = tmp_path / "work" / "lazyext.toml"
    config.write_text(
        f'index-url = "{refused_url()}"\nretries = 0\n'
        '[[extensions]]\nname = "nosuchmod"\npackage = "nosuchmod"\n',
        encoding="utf-8",
    )
    lazyext.activate(config)
    with pytest.raises(lazyext.InstallError) as caught:
        import nosuchmod  # type: ignore[import-not-found]  # noqa: F401
    assert not isinstance(caught.value, ModuleNotFoundError)
    assert caught.value.transient


def test_tracebacks_show_no_internal_frames(wheelhouse: Wheelhouse, tmp_path: Path) -> None:
    result = run_python(
        f"""
        import traceback, lazyext
        lazyext.activate({{"nosuchmod": "nosuchmod"}}, find_links=[{str(wheelhouse.path)!r}],
                         no_index=True)
        try:
            import nosuchmod
        except ModuleNotFoundError as error:
            frames = traceback.extract_tb(error.__traceback__)
            print("FRAMES", [f"{{f.filename}}:{{f.name}}" for f in frames])
        """,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("FRAMES")]
    internal = [frame for frame in eval(line[len("FRAMES ") :]) if "lazyext" in frame]
    # One frame: the loader that raised; before, six (runtime, provision, installer...).
    assert len(internal) <= 1, internal


def test_the_cause_stays_chained(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_installer, "uv_binary", lambda: str(tmp_path / "no-uv-here"))
    lazyext.activate({"nosuchmod": "nosuchmod"}, cache_dir=cache_dir)
    with pytest.raises(lazyext.InstallError) as caught:
        import nosuchmod  # type: ignore[import-not-found]  # noqa: F401
    assert isinstance(caught.value.__cause__, FileNotFoundError)
    assert "FileNotFoundError" in "".join(traceback.format_exception(caught.value))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('cache_dir = "x"\n', "did you mean 'cache-dir'?"),
        ("ttl-hour = 3\n", "did you mean 'ttl-hours'?"),
        ('[[extensions]]\nname = "a"\npacakge = "a"\n', "did you mean 'package'?"),
        ('[[extensions]]\nname = "a"\nmodule = ["a"]\n', "did you mean 'modules'?"),
        ("[tool.lazyext]\noffline = true\n", "pyproject.toml only"),
    ],
)
def test_config_keys_get_a_hint(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "lazyext.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(lazyext.ConfigError) as caught:
        lazyext.activate(path)
    assert expected in str(caught.value)


def test_no_hint_for_a_key_that_resembles_nothing(tmp_path: Path) -> None:
    path = tmp_path / "lazyext.toml"
    path.write_text("zzzz = 1\n", encoding="utf-8")
    with pytest.raises(lazyext.ConfigError) as caught:
        lazyext.activate(path)
    assert "did you mean" not in str(caught.value)


def test_uv_offline_is_honoured(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    house = Wheelhouse(tmp_path / "served")
    house.build("onlineonly", "1.0", {"onlineonly/__init__.py": ""})
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "empty-uv-cache"))
    with IndexServer(house.path) as server:
        loaded = lazyext.activate({"onlineonly": "onlineonly"}, index_url=server.url)
        assert loaded.settings.offline is True
        with pytest.raises(lazyext.DistributionNotFound, match="offline"):
            import onlineonly  # type: ignore[import-not-found]  # noqa: F401
        assert server.count() == 0  # never went to the network
    monkeypatch.setenv("LAZYEXT_OFFLINE", "0")  # lazyext's own variable wins
    assert lazyext.activate({"onlineonly": "onlineonly"}).settings.offline is False


def test_ensure_shows_no_internal_frames(wheelhouse: Wheelhouse, cache_dir: Path) -> None:
    with pytest.raises(lazyext.DistributionNotFound) as caught:
        lazyext.ensure("nosuchmod", **wheelhouse.options(cache_dir))
    frames = traceback.extract_tb(caught.value.__traceback__)
    internal = [f"{frame.filename}:{frame.name}" for frame in frames if "lazyext" in frame.filename]
    assert internal == [f"{lazyext._use.__file__}:ensure"]


def _lazyext_frames(error: BaseException) -> list[str]:
    frames = traceback.extract_tb(error.__traceback__)
    return [f"{f.filename}:{f.name}" for f in frames if f"{os.sep}lazyext{os.sep}" in f.filename]


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("ttl-hours = [\n", "TOMLDecodeError"),  # not TOML: the parser's error is the cause
        ('cache_dir = "x"\nttl-hours = -1\n', None),  # two problems, reported together
    ],
)
def test_activate_shows_one_frame_of_lazyext(tmp_path: Path, text: str, cause: str | None) -> None:
    path = tmp_path / "lazyext.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(lazyext.ConfigError) as caught:
        lazyext.activate(path)
    assert _lazyext_frames(caught.value) == [f"{lazyext._api.__file__}:activate"]
    assert type(caught.value.__cause__).__name__ == (cause or "NoneType")
    if cause:  # and the traceback still says what the cause was
        assert cause in "".join(traceback.format_exception(caught.value))


def test_an_unsafe_cache_at_import_shows_one_frame(tmp_path: Path) -> None:
    cache = tmp_path / "shared"
    cache.mkdir(mode=0o777)
    cache.chmod(0o777)
    lazyext.activate({"alpha": "alpha"}, cache_dir=cache, index_url=refused_url())
    with pytest.raises(lazyext.UnsafeCacheError) as caught:
        import alpha  # type: ignore[import-not-found]  # noqa: F401
    assert len(_lazyext_frames(caught.value)) <= 1


def test_an_unreachable_index_names_index_url_and_find_links(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "empty-uv-cache"))
    # The message is the point here: uv's retries of a refused connection (20 s of
    # backoff) are tests/faults/test_network.py's.
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    lazyext.activate({"nosuchmod": "nosuchmod"}, cache_dir=cache_dir, index_url=refused_url())
    with pytest.raises(lazyext.InstallError) as caught:
        import nosuchmod  # type: ignore[import-not-found]  # noqa: F401
    message = str(caught.value.args[0])
    assert "index-url" in message
    assert "find-links" in message


@pytest.mark.parametrize("offline", [False, True])
def test_every_unreachable_message_names_what_to_check(offline: bool) -> None:
    from lazyext._settings.config import Settings
    from lazyext._uv.run import Ran

    settings = Settings(cache_dir="/nowhere", offline=offline, install_timeout=5.0)
    for ran in (
        Ran(-9, "", timed_out=True, limit=5.0),  # lazyext's wall clock stopped it
        Ran(2, "error: Connection refused (os error 111)"),  # transient
    ):
        error = failure.install_error(ran, "alpha", "alpha", "k" * 32, settings)
        message = str(error.args[0])
        assert "find-links" in message, message
        assert offline or "index-url" in message, message
