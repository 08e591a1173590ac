"""One environment per process: joint resolution, the lock, shared installs, metadata."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

import lazyext
from fake_uv import UvShim
from lazyext._use import warm
from lazyext._uv import command as _installer

from support import Wheelhouse, run_python


@pytest.fixture
def house(tmp_path: Path) -> Wheelhouse:
    """A wheelhouse of this test's own: tests add releases to it."""
    return Wheelhouse(tmp_path / "wheels")


def opts(house: Wheelhouse, cache: Path) -> dict[str, object]:
    """``activate()`` options as plain data (they are written into child programs)."""
    return {"cache_dir": str(cache), "find_links": [str(house.path)], "no_index": True}


def published(cache: Path, dist: str) -> list[Path]:
    """Published generations whose install holds ``dist``'s ``.dist-info``."""
    stem = dist.replace("-", "_")
    return [
        gen
        for gen in sorted(cache.glob("entries/*/*/g*"))
        if any(
            p.name.lower().startswith(f"{stem.lower()}-")
            for p in (gen / "target").glob("*.dist-info")
        )
    ]


def build_shared(house: Wheelhouse) -> None:
    for version in ("1.0", "2.0", "3.0"):
        house.build("shareddep", version, {"shareddep/__init__.py": f"VERSION = {version!r}\n"})
    house.build(
        "appone", "1.0", {"appone/__init__.py": "import shareddep\n"}, requires=("shareddep>=1",)
    )
    house.build(
        "apptwo", "1.0", {"apptwo/__init__.py": "import shareddep\n"}, requires=("shareddep>=1,<3",)
    )
    house.build(
        "appnew", "1.0", {"appnew/__init__.py": "import shareddep\n"}, requires=("shareddep>=3",)
    )


def test_a_shared_dependency_is_resolved_together_and_installed_once(
    house: Wheelhouse, cache_dir: Path
) -> None:
    build_shared(house)
    lazyext.activate({"appone": "appone", "apptwo": "apptwo"}, **house.options(cache_dir))
    import appone
    import apptwo

    # Alone, appone would get shareddep 3.0; together with apptwo both get 2.0.
    assert appone.shareddep is apptwo.shareddep
    assert appone.shareddep.VERSION == "2.0"
    assert metadata.version("shareddep") == "2.0"
    assert len(list(metadata.distributions(name="shareddep"))) == 1
    assert len(published(cache_dir, "shareddep")) == 1


def test_incompatible_extensions_fail_before_anything_is_installed(
    house: Wheelhouse, cache_dir: Path
) -> None:
    build_shared(house)
    lazyext.activate({"apptwo": "apptwo", "appnew": "appnew"}, **house.options(cache_dir))
    with pytest.raises(lazyext.ResolutionError) as caught:
        import apptwo  # noqa: F401
    message = str(caught.value)
    assert "apptwo" in message
    assert "appnew" in message
    assert "cannot be installed together" in message
    assert "shareddep" in message  # uv's explanation is carried along
    assert isinstance(caught.value, ImportError)
    assert set(caught.value.extensions) == {"apptwo", "appnew"}
    assert not list(cache_dir.glob("entries/*/*/g*"))


def test_a_dependency_the_host_has_at_another_version_is_named(
    house: Wheelhouse, cache_dir: Path, tmp_path: Path
) -> None:
    build_shared(house)
    host = tmp_path / "host"
    (host / "shareddep").mkdir(parents=True)
    (host / "shareddep" / "__init__.py").write_text("VERSION = '1.0'\n")
    (host / "shareddep-1.0.dist-info").mkdir()
    (host / "shareddep-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: shareddep\nVersion: 1.0\n"
    )
    code = f"""
        import sys, lazyext
        sys.path.insert(0, {str(host)!r})
        lazyext.activate({{"appnew": "appnew"}}, **{opts(house, cache_dir)!r})
        try:
            import appnew
        except lazyext.ResolutionError as error:
            print("HOST:", error.host)
            print(error)
        """
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert f"shareddep 1.0 at {host}" in done.stdout
    assert "differ from what this interpreter already imports" in done.stdout


def test_a_host_distribution_that_satisfies_is_used_not_installed(
    house: Wheelhouse, cache_dir: Path, tmp_path: Path
) -> None:
    build_shared(house)
    host = tmp_path / "host"
    (host / "shareddep").mkdir(parents=True)
    (host / "shareddep" / "__init__.py").write_text("VERSION = 'host 2.0'\n")
    (host / "shareddep-2.0.dist-info").mkdir()
    (host / "shareddep-2.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: shareddep\nVersion: 2.0\n"
    )
    code = f"""
        import sys, lazyext
        sys.path.insert(0, {str(host)!r})
        lazyext.activate({{"apptwo": "apptwo"}}, **{opts(house, cache_dir)!r})
        import apptwo
        print(apptwo.shareddep.VERSION)
        """
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "host 2.0"
    assert not published(cache_dir, "shareddep")
    assert published(cache_dir, "apptwo")


def test_cached_extensions_are_visible_to_metadata_before_import(
    house: Wheelhouse, cache_dir: Path
) -> None:
    house.build(
        "epdist",
        "1.5",
        {"epdist/__init__.py": "def hello():\n    return 'hi'\n"},
        entry_points={"lazyext.test.hooks": {"hello": "epdist:hello"}},
    )
    options = opts(house, cache_dir)
    warm(config=lazyext.activate({"epdist": "epdist"}, **options))
    code = f"""
        import sys, lazyext, importlib.metadata as md
        lazyext.activate({{"epdist": "epdist"}}, **{options!r})
        assert "epdist" not in sys.modules
        print(md.version("epdist"))
        print([ep.name for ep in md.entry_points(group="lazyext.test.hooks")])
        print(md.packages_distributions().get("epdist"))
        print("epdist" in sys.modules)
        """
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:4] == ["1.5", "['hello']", "['epdist']", "False"]


def test_pkgutil_lists_the_configured_names(house: Wheelhouse, cache_dir: Path) -> None:
    house.build("listed", "1.0", {"listed/__init__.py": ""})
    lazyext.activate({"listed": "listed"}, **house.options(cache_dir))
    assert "listed" in {module.name for module in pkgutil.iter_modules()}


def test_a_pytest_plugin_installed_through_lazyext_loads(
    house: Wheelhouse, cache_dir: Path, tmp_path: Path
) -> None:
    house.build(
        "pytest-greeting",
        "1.0",
        {
            "pytest_greeting.py": (
                "import pytest\n\n@pytest.fixture\ndef greeting():\n    return 'hello'\n"
            )
        },
        entry_points={"pytest11": {"greeting": "pytest_greeting"}},
    )
    options = opts(house, cache_dir)
    warm(config=lazyext.activate({"pytest_greeting": "pytest-greeting"}, **options))
    test_file = tmp_path / "test_uses_plugin.py"
    test_file.write_text("def test_it(greeting):\n    assert greeting == 'hello'\n")
    code = f"""
        import sys, lazyext
        lazyext.activate({{"pytest_greeting": "pytest-greeting"}}, **{options!r})
        import pytest
        sys.exit(pytest.main([{str(test_file)!r}, "-q", "-p", "no:cacheprovider"]))
        """
    done = run_python(code, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def build_namespaces(house: Wheelhouse) -> None:
    house.build("nsa", "1.0", {"myns/alpha/__init__.py": "NAME = 'a'\n"})
    house.build(
        "nsb",
        "1.0",
        {"myns/beta/__init__.py": "from myns import alpha\nNAME = 'b'\n"},
        requires=("nsa",),
    )
    pkgutil_init = "__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"
    house.build(
        "pku-sub", "1.0", {"pku/__init__.py": pkgutil_init, "pku/sub/__init__.py": "NAME = 'sub'\n"}
    )


def test_dotted_names_share_a_pep420_namespace_with_the_host(
    house: Wheelhouse, cache_dir: Path, tmp_path: Path
) -> None:
    build_namespaces(house)
    host = tmp_path / "host"
    (host / "myns" / "gamma").mkdir(parents=True)
    (host / "myns" / "gamma" / "__init__.py").write_text("NAME = 'c'\n")
    code = f"""
        import sys
        sys.path.insert(0, {str(host)!r})
        import myns                                  # imported before activate()
        import lazyext
        lazyext.activate({{"myns.alpha": "nsa", "myns.beta": "nsb"}}, **{opts(house, cache_dir)!r})
        import myns.beta, myns.alpha, myns.gamma
        print(myns.alpha.NAME, myns.beta.NAME, myns.gamma.NAME)
        """
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "a b c"


def test_dotted_names_without_any_host_portion(house: Wheelhouse, cache_dir: Path) -> None:
    build_namespaces(house)
    lazyext.activate({"myns.alpha": "nsa", "myns.beta": "nsb"}, **house.options(cache_dir))
    beta = importlib.import_module("myns.beta")
    alpha = importlib.import_module("myns.alpha")
    assert (alpha.NAME, beta.NAME) == ("a", "b")


def test_a_pkgutil_style_host_portion_does_not_hide_the_configured_one(
    house: Wheelhouse, cache_dir: Path, tmp_path: Path
) -> None:
    build_namespaces(house)
    host = tmp_path / "host"
    (host / "pku" / "local").mkdir(parents=True)
    (host / "pku" / "__init__.py").write_text(
        "__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"
    )
    (host / "pku" / "local" / "__init__.py").write_text("NAME = 'local'\n")
    code = f"""
        import sys
        sys.path.insert(0, {str(host)!r})
        import lazyext
        lazyext.activate({{"pku.sub": "pku-sub"}}, **{opts(house, cache_dir)!r})
        import pku.local, pku.sub
        print(pku.local.NAME, pku.sub.NAME)
        """
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "local sub"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lazyext", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_config(
    directory: Path, house: Wheelhouse, extensions: dict[str, str], lock: bool
) -> None:
    lines = [house.toml()] + (['lock = "pylock.toml"'] if lock else [])
    for name, requirement in extensions.items():
        lines += ["[[extensions]]", f'name = "{name}"', f'package = "{requirement}"']
    (directory / "lazyext.toml").write_text("\n".join(lines) + "\n")


def test_lock_pins_every_process_until_lock_upgrade(house: Wheelhouse, tmp_path: Path) -> None:
    house.build("shareddep", "1.0", {"shareddep/__init__.py": "VERSION = '1.0'\n"})
    house.build(
        "appone", "1.0", {"appone/__init__.py": "import shareddep\n"}, requires=("shareddep>=1",)
    )
    project = tmp_path / "project"
    project.mkdir()
    write_config(project, house, {"appone": "appone"}, lock=False)
    done = cli("lock", cwd=project)
    assert done.returncode == 0, done.stderr
    text = (project / "pylock.toml").read_text()
    assert 'name = "shareddep"' in text
    assert 'dependencies = [{ name = "shareddep" }]' in text
    assert 'add `lock = "pylock.toml"`' in done.stdout
    write_config(project, house, {"appone": "appone"}, lock=True)
    # A newer release appears; the lock keeps every process on 1.0.
    house.build("shareddep", "2.0", {"shareddep/__init__.py": "VERSION = '2.0'\n"})
    show = "import lazyext; lazyext.activate(); import appone; print(appone.shareddep.VERSION)"
    assert run_python(show, cwd=project).stdout.strip() == "1.0"
    assert cli("refresh", "--force", cwd=project).returncode == 0
    assert run_python(show, cwd=project).stdout.strip() == "1.0"
    status = json.loads(cli("status", "--json", cwd=project).stdout)
    rows = {row["name"]: row for row in status["distributions"]}
    assert rows["shareddep"]["version"] == "1.0"
    assert rows["shareddep"]["pulled_in_by"] == ["appone"]
    assert cli("lock", "--upgrade", cwd=project).returncode == 0
    assert run_python(show, cwd=project).stdout.strip() == "2.0"


def test_a_lock_file_is_the_same_bytes_and_lock_check_says_when_it_is_stale(
    house: Wheelhouse, tmp_path: Path
) -> None:
    """Issue 21 #6: a lock for a repository: no path of this machine in it, the same
    bytes each time, the environments it covers; ``--check`` as ``uv lock --check``."""
    house.build("alpha", "1.0", {"alpha/__init__.py": ""}, requires=("beta",))
    house.build("beta", "1.0", {"beta/__init__.py": ""})
    house.build("gamma", "1.0", {"gamma/__init__.py": ""})
    project = tmp_path / "project"
    project.mkdir()
    write_config(project, house, {"alpha": "alpha"}, lock=False)
    lock = project / "pylock.toml"
    missing = cli("lock", "--check", cwd=project)
    assert missing.returncode == 1
    assert "does not exist" in missing.stdout
    assert not lock.exists()
    assert cli("lock", cwd=project).returncode == 0
    first = lock.read_bytes()
    assert cli("lock", cwd=project).returncode == 0
    assert lock.read_bytes() == first
    text = first.decode()
    header = text.split("lock-version")[0]
    assert header.splitlines()[-1] == "#    lazyext lock"
    cache = os.environ["LAZYEXT_CACHE_DIR"]
    assert cache not in text
    assert "staging" not in text
    assert sys.executable not in text
    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert f'requires-python = ">={minor}"' in text
    assert f"python_version == '{minor}'" in text
    assert "environments = [" in text
    # Current: exit 0, and a newer release does not make it stale (its versions stay).
    house.build("beta", "2.0", {"beta/__init__.py": ""})
    current = cli("lock", "--check", cwd=project)
    assert (current.returncode, current.stdout.strip()) == (0, f"{lock} is current")
    # A config that changed: exit 1, what would change, and the file as it was.
    write_config(project, house, {"alpha": "alpha", "gamma": "gamma"}, lock=False)
    stale = cli("--json", "lock", "--check", cwd=project)
    assert stale.returncode == 1, stale.stderr
    assert json.loads(stale.stdout)["changes"] == ["+ gamma 1.0"]
    assert lock.read_bytes() == first


def test_a_lock_for_other_environments_is_refused_and_never_overwritten(
    house: Wheelhouse, tmp_path: Path
) -> None:
    house.build("alpha", "1.0", {"alpha/__init__.py": ""})
    project = tmp_path / "project"
    project.mkdir()
    write_config(project, house, {"alpha": "alpha"}, lock=True)
    assert cli("lock", cwd=project).returncode == 0
    lock = project / "pylock.toml"
    other = lock.read_text().replace(f"sys_platform == '{sys.platform}'", "sys_platform == 'os2'")
    lock.write_text(other)
    done = run_python(
        "import lazyext; lazyext.activate()\n"
        "try:\n    import alpha\n"
        "except ImportError as error:\n    print(type(error).__name__, error)\n",
        cwd=project,
    )
    assert "LockFileError" in done.stdout, done.stderr
    assert "not this interpreter" in done.stdout
    again = cli("lock", cwd=project)
    assert again.returncode == 2
    assert "does not overwrite it" in again.stderr
    assert lock.read_text() == other
    elsewhere = cli("lock", "-o", str(tmp_path / "here.toml"), cwd=project)
    assert elsewhere.returncode == 0, elsewhere.stderr


def test_a_stale_lock_says_what_to_run(house: Wheelhouse, tmp_path: Path) -> None:
    house.build("alpha", "1.0", {"alpha/__init__.py": ""})
    house.build("gamma", "1.0", {"gamma/__init__.py": ""})
    project = tmp_path / "project"
    project.mkdir()
    write_config(project, house, {"alpha": "alpha"}, lock=True)
    assert cli("lock", cwd=project).returncode == 0
    write_config(project, house, {"alpha": "alpha", "gamma": "gamma"}, lock=True)
    done = run_python(
        "import lazyext; lazyext.activate()\n"
        "try:\n    import gamma\n"
        "except ImportError as error:\n    print(type(error).__name__, error)\n",
        cwd=project,
    )
    assert "LockFileError" in done.stdout, done.stderr
    assert "gamma (gamma) is not in the lock" in done.stdout
    assert "run `lazyext lock`" in done.stdout
    # doctor says so too, before any import, and exits 1.
    doctor = cli("doctor", "gamma", cwd=project)
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    assert "LockFileError" in doctor.stdout


def test_a_lock_edited_by_hand_installs_nothing(house: Wheelhouse, tmp_path: Path) -> None:
    house.build("alpha", "1.0", {"alpha/__init__.py": ""})
    project = tmp_path / "project"
    project.mkdir()
    write_config(project, house, {"alpha": "alpha"}, lock=True)
    assert cli("lock", cwd=project).returncode == 0
    lock = project / "pylock.toml"
    text = lock.read_text()
    digest = text.split('sha256 = "')[1][:64]
    lock.write_text(text.replace(digest, "0" * 64))
    done = run_python(
        "import lazyext; lazyext.activate()\n"
        "try:\n    import alpha\n"
        "except ImportError as error:\n    print(type(error).__name__, error.security)\n",
        cwd=project,
    )
    assert done.stdout.split() == ["InstallError", "True"], done.stdout + done.stderr
    cache = Path(os.environ["LAZYEXT_CACHE_DIR"])
    assert not published(cache, "alpha")


def test_two_processes_resolving_at_once_make_one_lock(
    house: Wheelhouse, cache_dir: Path, tmp_path: Path
) -> None:
    build_shared(house)
    shim = UvShim(tmp_path / "shim")
    code = shim.patch_code() + textwrap.dedent(
        f"""
        import lazyext
        lazyext.activate({{"appone": "appone", "apptwo": "apptwo"}}, **{opts(house, cache_dir)!r})
        import appone, apptwo
        print(appone.shareddep.VERSION)
        """
    )
    children = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [child.communicate(timeout=120)[0].strip() for child in children]
    assert outputs == ["2.0"] * 3
    assert len(list(cache_dir.glob("envs/*/*/env.marshal"))) == 1
    assert len(shim.compiles()) == 2  # one resolution: the lock and its graph
    assert len(published(cache_dir, "shareddep")) == 1


def test_a_stored_environment_serves_without_uv(
    house: Wheelhouse, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_shared(house)
    config = lazyext.activate({"appone": "appone"}, **house.options(cache_dir))
    warm(config=config)
    lazyext.deactivate()
    shim = UvShim(tmp_path / "shim", body="exit 3")
    monkeypatch.setattr(_installer, "uv_binary", lambda: str(shim))
    lazyext.activate({"appone": "appone"}, **house.options(cache_dir))
    appone = importlib.import_module("appone")
    assert appone.shareddep.VERSION == "3.0"
    assert shim.runs() == []
    assert shim.compiles() == []


def _project(tmp_path: Path, house: Wheelhouse, policy: str) -> Path:
    project = tmp_path / f"project-{policy}"
    project.mkdir()
    (project / "lazyext.toml").write_text(
        house.toml()
        + f'ttl-hours = 1e-9\nexpired = "{policy}"\n'
        + '[[extensions]]\nname = "appone"\npackage = "appone"\n'
    )
    return project


SHOW = "import lazyext; lazyext.activate(); import appone; print(appone.shareddep.VERSION)"


@pytest.mark.parametrize(
    ("policy", "first", "later"),
    [("refresh-in-background", "1.0", "2.0"), ("reinstall", "2.0", "2.0"), ("serve", "1.0", "1.0")],
)
def test_an_expired_environment_per_policy(
    house: Wheelhouse, tmp_path: Path, policy: str, first: str, later: str
) -> None:
    house.build("shareddep", "1.0", {"shareddep/__init__.py": "VERSION = '1.0'\n"})
    house.build(
        "appone", "1.0", {"appone/__init__.py": "import shareddep\n"}, requires=("shareddep>=1",)
    )
    project = _project(tmp_path, house, policy)
    assert run_python(SHOW, cwd=project).stdout.strip() == "1.0"
    house.build("shareddep", "2.0", {"shareddep/__init__.py": "VERSION = '2.0'\n"})
    # Expired now: served at once (or, for "reinstall", replaced before use).
    done = run_python(
        SHOW + "\nimport threading\n"  # let a background refresh finish before exiting
        "for thread in threading.enumerate():\n"
        "    if thread.name == 'lazyext-refresh': thread.join(120)\n",
        cwd=project,
    )
    assert done.stdout.strip().splitlines()[0] == first, done.stderr
    assert run_python(SHOW, cwd=project).stdout.strip() == later


def test_expired_setting_is_checked(tmp_path: Path) -> None:
    (tmp_path / "lazyext.toml").write_text('expired = "sometimes"\n')
    with pytest.raises(lazyext.ConfigError, match="expired: expected one of refresh-in-background"):
        lazyext.activate(tmp_path / "lazyext.toml")


def test_a_host_module_without_metadata_that_shadows_a_locked_one_is_named(
    house: Wheelhouse, cache_dir: Path, tmp_path: Path
) -> None:
    build_shared(house)
    host = tmp_path / "host"
    host.mkdir()
    (host / "shareddep.py").write_text("VERSION = 'stray'\n")
    code = f"""
        import logging, sys
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        sys.path.insert(0, {str(host)!r})
        import lazyext
        lazyext.activate({{"apptwo": "apptwo"}}, **{opts(house, cache_dir)!r})
        import apptwo
        print(apptwo.shareddep.VERSION)
        """
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stray"  # the host's own modules win over dependencies
    assert f"the host module shareddep ({host / 'shareddep.py'}) shadows shareddep 2.0" in (
        done.stderr
    )


def test_the_extension_whose_version_does_not_exist_fails_alone(
    house: Wheelhouse, cache_dir: Path
) -> None:
    house.build("alphadist", "1.0", {"alphadist/__init__.py": "NAME = 'alpha'\n"})
    config = {"alphadist": "alphadist", "later": "alphadist>=99"}
    lazyext.activate(config, **opts(house, cache_dir))
    assert importlib.import_module("alphadist").NAME == "alpha"  # resolved without "later"
    with pytest.raises(lazyext.DistributionNotFound) as caught:
        importlib.import_module("later")
    assert caught.value.spec == "alphadist>=99"


# -- the stored environment is data: checked before use ---------------------------------


def _stored_env() -> object:
    from lazyext._env.stored import Environment, Locked

    return Environment(
        key="a" * 32,
        platform="cp311-cp311-linux_x86_64",
        created_at=1000.0,
        dists=(
            Locked("alpha", "1.0", "b" * 32, ("sha256:" + "1" * 64,), ("beta",), "", "alpha==1.0"),
            Locked("beta", "2.0", "", ("sha256:" + "2" * 64,), (), "/usr/lib/site", "beta==2.0"),
        ),
        roots=(("c" * 32, ("alpha",)),),
        source="",
        ttl_seconds=86400.0,
    )


def test_a_stored_environment_round_trips() -> None:
    import marshal

    from lazyext._env.stored import decode, encode

    env = _stored_env()
    assert decode(marshal.loads(marshal.dumps(encode(env)))) == env  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("key", "../escape"),
        ("platform", "../x"),
        ("created_at", "yesterday"),
        ("source", 12),
        ("dists", [("alpha", "1.0", "../../x", [], [], "", "alpha==1.0")]),
        ("dists", [("alpha", "1.0", "b" * 32, "sha256:1", [], "", "alpha==1.0")]),
        ("dists", [("alpha", "1.0\0", "b" * 32, [], [], "", "alpha==1.0")]),
        ("dists", [("alpha", "1.0", "b" * 32, [], [])]),
        ("dists", "alpha"),
        ("roots", [("c" * 32, "alpha")]),
        ("roots", [("Z" * 32, ["alpha"])]),
    ],
)
def test_a_damaged_stored_environment_is_refused(field: str, value: object) -> None:
    import marshal

    from lazyext._env.stored import decode, encode

    data = encode(_stored_env())  # type: ignore[arg-type]
    data[field] = value
    with pytest.raises((ValueError, TypeError)):
        decode(marshal.loads(marshal.dumps(data)))


def test_the_graph_of_a_large_environment_is_complete(house: Wheelhouse, cache_dir: Path) -> None:
    """uv's annotations come from a file: the edges of the first of 50 distributions
    (``aardvark``, sorted first) are not lost to a truncated output tail."""
    house.build("aardvark", "1.0", {"aardvark/__init__.py": "NAME = 'aardvark'\n"})
    fillers = [f"filler{i:02d}" for i in range(48)]
    for name in fillers:
        house.build(name, "1.0", {f"{name}/__init__.py": ""})
    house.build(
        "zebra",
        "1.0",
        {"zebra/__init__.py": "import aardvark\n"},
        requires=("aardvark>=1", *fillers),
    )
    lazyext.activate({"zebra": "zebra"}, **house.options(cache_dir))
    import zebra

    assert zebra.aardvark.NAME == "aardvark"
    assert metadata.version("aardvark") == "1.0"


def test_distributions_that_ship_the_same_file_install_in_one_closure(
    house: Wheelhouse, cache_dir: Path, tmp_path: Path
) -> None:
    """Two wheels with one path in common (a pkgutil namespace's ``__init__.py``, a
    stray ``tests/`` package of different content): each keeps its own copy, none is
    refused as altered (uv's one run kept a single copy of the shared path)."""
    init = '__path__ = __import__("pkgutil").extend_path(__path__, __name__)\n'
    for part in ("one", "two"):
        house.build(
            f"nsco.{part}",
            "1.0",
            {
                "nsco/__init__.py": init,
                f"nsco/{part}/__init__.py": f"PART = {part!r}\n",
                "tests/__init__.py": f"WHOSE = {part!r}\n",
            },
        )
    house.build(
        "nscoapp",
        "1.0",
        {
            "nscoapp/__init__.py": "import nsco.one, nsco.two\n"
            "PARTS = (nsco.one.PART, nsco.two.PART)\n"
        },
        requires=("nsco.one", "nsco.two"),
    )
    lazyext.activate({"nscoapp": "nscoapp"}, **house.options(cache_dir))
    import nscoapp

    assert nscoapp.PARTS == ("one", "two")
    lazyext.deactivate()
    # The two as configured extensions, installed by `warm` (one uv run for both first).
    other = tmp_path / "other-cache"
    other.mkdir(mode=0o700)
    config = lazyext.activate(
        {"nsco.one": "nsco.one", "nsco.two": "nsco.two"}, **house.options(other)
    )
    results = warm(config=config)
    assert all(isinstance(result, Path) for result in results.values()), results
    both = {"nsco.one": "nsco.one", "nsco.two": "nsco.two"}
    done = run_python(
        f"import lazyext\nlazyext.activate({both!r}, **{opts(house, other)!r})\n"
        "import nsco.one, nsco.two\nprint(nsco.one.PART, nsco.two.PART)\n"
    )
    assert done.stdout.split() == ["one", "two"], done.stderr
    assert not list(other.glob("failures/*"))


def test_warm_clears_the_failure_records_of_what_it_installed(
    house: Wheelhouse, cache_dir: Path
) -> None:
    from lazyext._errors import InstallError
    from lazyext._store import failures as _failures

    build_shared(house)
    config = lazyext.activate({"appone": "appone", "apptwo": "apptwo"}, **house.options(cache_dir))
    plan = config.plan_for("apptwo")
    assert plan is not None
    failed = InstallError("uv could not reach the index", transient=True)
    _failures.remember(str(cache_dir), plan.key, plan.requirement, failed, 0.0)
    assert list(cache_dir.glob("failures/*"))
    results = warm(config=config)  # one uv run installs both closures
    assert all(isinstance(result, Path) for result in results.values()), results
    assert not list(cache_dir.glob("failures/*"))


def test_lock_to_a_path_that_cannot_be_written_is_a_clear_error(
    house: Wheelhouse, tmp_path: Path
) -> None:
    house.build("shareddep", "1.0", {"shareddep/__init__.py": "VERSION = '1.0'\n"})
    project = tmp_path / "project"
    project.mkdir()
    write_config(project, house, {"shareddep": "shareddep"}, lock=False)
    (project / "adir").mkdir()
    for output, says in (
        (project / "nope" / "pylock.toml", "does not exist"),
        (project / "adir", "is a directory"),
    ):
        done = cli("lock", "-o", str(output), cwd=project)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        assert says in done.stderr
        failed = cli("--json", "lock", "-o", str(output), cwd=project)
        assert json.loads(failed.stdout)["error"]["type"] == "ConfigError"
    assert sorted(p.name for p in project.iterdir()) == ["adir", "lazyext.toml"]


def test_a_missing_dependency_fails_only_the_extension_that_needs_it(
    house: Wheelhouse, cache_dir: Path
) -> None:
    build_shared(house)
    house.build("gamma", "1.0", {"gamma/__init__.py": "import nothere\n"}, requires=("nothere>=1",))
    lazyext.activate(
        {"appone": "appone", "apptwo": "apptwo", "gamma": "gamma"}, **house.options(cache_dir)
    )
    appone = importlib.import_module("appone")
    assert appone.shareddep.VERSION == "2.0"  # still resolved together with apptwo
    with pytest.raises(lazyext.DistributionNotFound, match="depends on nothere") as raised:
        importlib.import_module("gamma")
    assert isinstance(raised.value, ModuleNotFoundError)
    assert "gamma" in str(raised.value)


def test_warm_of_a_disabled_extension_installs_nothing_and_says_why(
    house: Wheelhouse, cache_dir: Path
) -> None:
    build_shared(house)
    config = lazyext.activate(
        [
            lazyext.Extension(name="appone", package="appone"),
            lazyext.Extension(name="apptwo", package="apptwo", enabled=False),
        ],
        **house.options(cache_dir),
    )
    results = warm(["appone", "apptwo"], config=config)
    assert isinstance(results["appone"], Path)
    assert isinstance(results["apptwo"], lazyext.ConfigError)
    assert "disabled" in str(results["apptwo"])
    assert not published(cache_dir, "apptwo")


def test_an_override_of_a_host_distribution_is_checked_against_the_hosts_extensions(
    house: Wheelhouse, tmp_path: Path
) -> None:
    """The host has ``hostapp`` 1.0 (needs ``hostdep>=2``) and ``hostdep`` 2.0; the config
    serves ``hostapp`` from the host and overrides ``hostdep`` with 1.0: that conflict is
    a ResolutionError at the first import from the cache, never a silent mismatch."""
    house.build("hostdep", "1.0", {"hostdep/__init__.py": "V = 1\n"})
    house.build("hostdep", "2.0", {"hostdep/__init__.py": "V = 2\n"})
    house.build("hostapp", "1.0", {"hostapp/__init__.py": ""}, requires=("hostdep>=2",))
    site = tmp_path / "site"
    sources = ["--no-index", "--find-links", str(house.path)]
    wanted = ["hostapp==1.0", "hostdep==2.0"]
    uv_argv = [_installer.uv_binary(), "pip", "install", "--quiet", "--target", str(site)]
    subprocess.run([*uv_argv, *sources, *wanted], check=True)
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    config = {"hostapp": "hostapp>=1", "hostdep": "hostdep<2"}
    code = (
        f"import site, sys\nsite.addsitedir({str(site)!r})\n"
        f"import lazyext\nlazyext.activate({config!r}, **{opts(house, cache)!r})\n"
        "try:\n    import hostdep\n"
        "except ImportError as error:\n    print(type(error).__name__, error)\n"
        "else:\n    print('imported', hostdep.V)\n"
    )
    done = run_python(code)
    assert done.stdout.startswith("ResolutionError"), done.stdout + done.stderr
    assert "hostapp" in done.stdout
    assert "hostdep" in done.stdout
