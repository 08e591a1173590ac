"""Config sources, discovery, overrides, validation and the compiled memo (_load, _parse)."""

from __future__ import annotations

import os
import pickle
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import lazyext
from lazyext import _use
from lazyext._settings import load as _load
from lazyext._settings import parse as _parse
from lazyext._settings.config import Extension
from lazyext._settings.keys import install_fingerprint
from lazyext._uv import command as _installer

from support import Wheelhouse


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def no_subprocess(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Any attempt to start a process (or even to locate uv) is recorded and refused."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise AssertionError(f"a subprocess was started: {args!r}")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(_installer, "uv_binary", refuse)
    monkeypatch.setattr(os, "posix_spawn", refuse, raising=False)
    yield attempts
    assert attempts == []


# -- sources ---------------------------------------------------------------------------


def test_lazyext_toml_top_level(tmp_path: Path) -> None:
    config = write(
        tmp_path / "conf" / "lazyext.toml",
        """
        ttl-hours = 2
        offline = true
        index-url = "https://example.org/simple"
        find-links = ["wheels", "https://example.org/links"]
        no-index = true

        [[extensions]]
        name = "yaml"
        package = "PyYAML>=6"
        modules = ["yaml", "_yaml"]
        [extensions.arguments]
        timeout = 30

        [[extensions]]
        name = "builtin_thing"
        """,
    )
    loaded = lazyext.activate(config)
    settings = loaded.settings
    assert loaded.source == str(config)
    assert settings.ttl_hours == 2.0
    assert settings.offline is True
    assert settings.index_url == "https://example.org/simple"
    # find-links are relative to the file, URLs are kept as they are.
    assert settings.find_links == (
        os.path.realpath(tmp_path / "conf" / "wheels"),
        "https://example.org/links",
    )
    assert settings.no_index is True
    yaml, builtin = loaded.plans
    assert yaml.extension == Extension(
        name="yaml", package="PyYAML>=6", modules=("yaml", "_yaml"), arguments={"timeout": 30}
    )
    assert (yaml.requirement, yaml.dist, yaml.specifier) == ("pyyaml>=6", "pyyaml", ">=6")
    assert builtin.extension.package is None
    assert builtin.key == ""


def test_pyproject_tool_table(tmp_path: Path) -> None:
    write(
        tmp_path / "work" / "pyproject.toml",
        """
        [project]
        name = "app"

        [tool.lazyext]
        ttl-hours = 5
        [[tool.lazyext.extensions]]
        name = "yaml"
        package = "PyYAML>=6"
        """,
    )
    loaded = lazyext.activate()
    assert loaded.source == str(tmp_path / "work" / "pyproject.toml")
    assert loaded.settings.ttl_hours == 5.0
    assert [plan.name for plan in loaded.plans] == ["yaml"]


def test_pyproject_without_tool_table_is_an_empty_config(tmp_path: Path) -> None:
    write(tmp_path / "work" / "pyproject.toml", '[project]\nname = "app"\n')
    loaded = lazyext.activate()
    assert loaded.plans == ()


def test_mapping_and_extension_list_give_the_same_plans() -> None:
    from_mapping = lazyext.activate({"yaml": "PyYAML>=6"})
    from_list = lazyext.activate([Extension(name="yaml", package="PyYAML>=6")])
    assert from_mapping.plans == from_list.plans
    assert from_mapping.source == "<mapping>"
    assert from_list.source == "<extensions>"


def test_extensions_given_by_an_iterator_are_all_kept() -> None:
    # The compiled memo's fingerprint reads the extensions once: an iterator must not be
    # left empty for the parse (nor an empty config memoized under its fingerprint).
    wanted = [Extension(name="yaml", package="PyYAML>=6")]
    for _ in range(2):  # the second load answers from the memo
        config = lazyext.activate(extension for extension in wanted)
        assert [plan.name for plan in config.plans] == ["yaml"]
    with pytest.raises(lazyext.ConfigError, match="not int"):
        lazyext.activate(42)  # type: ignore[arg-type]


def test_extension_list_items_must_be_extensions() -> None:
    with pytest.raises(lazyext.ConfigError, match=r"\[1\]: expected lazyext.Extension, got dict"):
        lazyext.activate([Extension(name="a", package="a"), {"name": "b"}])  # type: ignore[list-item]


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(lazyext.ConfigError, match="does not exist"):
        lazyext.activate(tmp_path / "nope.toml")


# -- discovery -------------------------------------------------------------------------


def test_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    write(work / "pyproject.toml", '[tool.lazyext]\n[[tool.lazyext.extensions]]\nname = "p"\n')
    assert [plan.name for plan in lazyext.activate().plans] == ["p"]
    write(work / "lazyext.toml", '[[extensions]]\nname = "l"\n')
    assert [plan.name for plan in lazyext.activate().plans] == ["l"]
    named = write(tmp_path / "elsewhere.toml", '[[extensions]]\nname = "e"\n')
    monkeypatch.setenv("LAZYEXT_CONFIG", str(named))
    assert [plan.name for plan in lazyext.activate().plans] == ["e"]
    monkeypatch.setenv("LAZYEXT_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(lazyext.ConfigError, match="LAZYEXT_CONFIG"):
        lazyext.activate()


def test_no_config_anywhere_gives_defaults(cache_dir: Path) -> None:
    loaded = lazyext.activate()
    assert loaded.plans == ()
    assert loaded.source == "<defaults>"
    assert loaded.settings.cache_dir == os.path.realpath(cache_dir)


# -- overrides -------------------------------------------------------------------------


def test_environment_beats_file_and_keywords_beat_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(
        tmp_path / "lazyext.toml",
        f'cache-dir = "{tmp_path / "from-file"}"\noffline = false\nttl-hours = 3\n',
    )
    monkeypatch.delenv("LAZYEXT_CACHE_DIR")
    loaded = lazyext.activate(config)
    assert loaded.settings.cache_dir == os.path.realpath(tmp_path / "from-file")
    assert loaded.settings.offline is False

    monkeypatch.setenv("LAZYEXT_CACHE_DIR", str(tmp_path / "from-env"))
    monkeypatch.setenv("LAZYEXT_OFFLINE", "1")
    loaded = lazyext.activate(config)
    assert loaded.settings.cache_dir == os.path.realpath(tmp_path / "from-env")
    assert loaded.settings.offline is True

    loaded = lazyext.activate(
        config, cache_dir=tmp_path / "from-keyword", offline=False, ttl_hours=7
    )
    assert loaded.settings.cache_dir == os.path.realpath(tmp_path / "from-keyword")
    assert loaded.settings.offline is False
    assert loaded.settings.ttl_hours == 7.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("YES", True), ("0", False), ("off", False), ("", False)],
)
def test_lazyext_offline_values(
    monkeypatch: pytest.MonkeyPatch, value: str, *, expected: bool
) -> None:
    monkeypatch.setenv("LAZYEXT_OFFLINE", value)
    assert lazyext.activate({}).settings.offline is expected


def test_relative_paths_outside_the_file_are_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path / "conf" / "lazyext.toml", 'find-links = ["wheels"]\n')
    monkeypatch.setenv("LAZYEXT_CACHE_DIR", "relative-cache")
    loaded = lazyext.activate(config, find_links=["local-wheels"])
    work = tmp_path / "work"
    # The file's own entries are relative to the file; the environment and keyword
    # arguments are the caller's, relative to where the caller runs.
    assert loaded.settings.find_links == (os.path.realpath(work / "local-wheels"),)
    assert loaded.settings.cache_dir == os.path.realpath(work / "relative-cache")
    assert (work / "relative-cache" / "compiled.marshal").is_file()
    assert not (tmp_path / "conf" / "relative-cache").exists()


def test_uv_index_variables_become_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_INDEX_URL", "https://mirror.example/simple")
    monkeypatch.setenv("UV_EXTRA_INDEX_URL", "https://a.example/simple https://b.example/simple")
    settings = lazyext.activate({}).settings
    assert settings.index_url == "https://mirror.example/simple"
    assert settings.extra_index_urls == ("https://a.example/simple", "https://b.example/simple")
    assert lazyext.activate({}, index_url="https://x.example/simple").settings.index_url == (
        "https://x.example/simple"
    )


def test_link_mode_setting(tmp_path: Path) -> None:
    assert lazyext.activate({}).settings.link_mode is None  # uv's default
    path = write(tmp_path / "lazyext.toml", 'link-mode = "copy"\n')
    assert lazyext.activate(path).settings.link_mode == "copy"
    # Not part of the key: the same files, only how they reach the target differs.
    assert install_fingerprint(lazyext.activate(path).settings) == (
        install_fingerprint(lazyext.activate({}).settings)
    )


# -- validation: every problem of a file, with its location ------------------------------

SETTING_PROBLEMS = [
    ('ttl-hours = "x"', "ttl-hours: expected a number, got str"),
    ('offline = "yes"', "offline: expected true/false"),
    ("retries = -1", "retries: must not be negative"),
    ("parallel = 1.5", "parallel: expected a number, got float"),
    ('find-links = "wheels"', "find-links: expected a list"),
    ("find-links = [1]", "find-links: expected a list of strings"),
    ('find-links = ["w\\nx"]', "find-links: find-links entry 'w\\nx' contains"),
    ('index-url = "--evil"', "index-url: '--evil' looks like a command-line option"),
    ('index-url = "https://x\\nevil"', "index-url: index-url 'https://x\\nevil' contains"),
    ('link-mode = "symlink"', "link-mode: symlinks into uv's cache would make"),
    ('link-mode = "reflink"', "link-mode: unknown link mode 'reflink'; use one of clone"),
    ("link-mode = 1", "link-mode: expected a string"),
    ("bogus = 1", "bogus: unknown setting"),
    ("[web2]\nx = 1", "web2: unknown setting"),
]

EXTENSION_PROBLEMS = [
    ('name = "a"\npackage = "--index-url=http://evil"', "extension 'a': requirement"),
    ('name = "b"\npackage = 5', "extensions[{i}] (name='b'): package: expected a string"),
    ('package = "nameless"', "extensions[{i}]: name: required"),
    ('name = "c"\nmodules = "c"', "extensions[{i}] (name='c'): modules: expected a list"),
    ('name = "d"\nenabled = "yes"', "extensions[{i}] (name='d'): enabled: expected true"),
    ('name = "e"\ncolor = 1', "extensions[{i}] (name='e'): color: unknown key"),
    ('name = "f"\narguments = 3', "extensions[{i}] (name='f'): arguments: expected a table"),
    ('name = "g"\npackage = "g"\nmodules = ["json"]', "extension 'g': module 'json' belongs"),
    ('name = "h"\npackage = "h"\nmodules = ["not-id"]', "extension 'h': module 'not-id' is not"),
    ('name = "i"\npackage = "i; python_version >>"', "extension 'i': requirement"),
    ('name = "j"\npackage = "j"\nhashes = ["md5:ab"]', "extension 'j': hash 'md5:ab'"),
    (f'name = "k"\npackage = "k>=1"\nhashes = ["sha256:{"a" * 64}"]', "extension 'k': "),
    ('name = "l l"\npackage = "l"', "extension 'l l': extension name 'l l' must be"),
    ('name = "m"\npackage = "m"\nhashes = "x"', "extensions[{i}] (name='m'): hashes: expected"),
]


def _extension_block(body: str) -> str:
    return "[[extensions]]\n" + body + "\n"


@pytest.mark.parametrize(("text", "expected"), SETTING_PROBLEMS)
def test_each_setting_problem_is_located(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path / "lazyext.toml", text + "\n")
    with pytest.raises(lazyext.ConfigError) as caught:
        lazyext.activate(path)
    assert caught.value.source == str(path)
    assert str(caught.value).startswith(str(path))
    assert len(caught.value.problems) == 1
    assert expected in caught.value.problems[0]


@pytest.mark.parametrize(("body", "expected"), EXTENSION_PROBLEMS)
def test_each_extension_problem_is_located(
    tmp_path: Path, no_subprocess: list[object], body: str, expected: str
) -> None:
    good = _extension_block('name = "fine"\npackage = "fine>=1"')
    path = write(tmp_path / "lazyext.toml", good + _extension_block(body))
    with pytest.raises(lazyext.ConfigError) as caught:
        lazyext.activate(path)
    assert len(caught.value.problems) == 1, caught.value.problems
    assert expected.format(i=1) in caught.value.problems[0]


def test_all_problems_of_a_file_are_reported_together(
    tmp_path: Path, no_subprocess: list[object]
) -> None:
    # One case per setting key (TOML refuses a key twice), every extension case.
    setting_cases = list(
        {text.split(" ")[0]: (text, why) for text, why in SETTING_PROBLEMS}.values()
    )
    settings = "\n".join(text for text, _ in setting_cases if not text.startswith("["))
    tables = "\n".join(text for text, _ in setting_cases if text.startswith("["))
    extensions = "".join(_extension_block(body) for body, _ in EXTENSION_PROBLEMS)
    path = write(tmp_path / "lazyext.toml", f"{settings}\n{extensions}\n{tables}\n")
    with pytest.raises(lazyext.ConfigError) as caught:
        lazyext.activate(path)
    problems = caught.value.problems
    assert len(problems) == len(setting_cases) + len(EXTENSION_PROBLEMS), problems
    expected = [text for _, text in setting_cases]
    expected += [text.format(i=i) for i, (_, text) in enumerate(EXTENSION_PROBLEMS)]
    for text in expected:
        assert any(text in problem for problem in problems), text
    message = str(caught.value)
    assert message.startswith(f"{path}: {len(problems)} problems:")
    assert all(problem in message for problem in problems)


def test_two_extensions_claiming_one_module(tmp_path: Path) -> None:
    path = write(
        tmp_path / "lazyext.toml",
        _extension_block('name = "one"\npackage = "one"\nmodules = ["shared"]')
        + _extension_block('name = "two"\npackage = "two"\nmodules = ["shared", "other"]'),
    )
    with pytest.raises(lazyext.ConfigError, match="'shared' is claimed by both 'one' and 'two'"):
        lazyext.activate(path)
    with pytest.raises(lazyext.ConfigError, match="claimed by both"):
        lazyext.activate(
            [Extension(name="x", package="x"), Extension(name="y", package="y", modules=["x"])]
        )


def test_an_extension_configured_twice(tmp_path: Path) -> None:
    path = write(
        tmp_path / "lazyext.toml",
        _extension_block('name = "one"\npackage = "one"') * 2,
    )
    with pytest.raises(lazyext.ConfigError, match="configured twice"):
        lazyext.activate(path)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("[[extensions]\n", "not valid TOML"),
        (b"name = '\xff'\n", "not valid TOML"),
        ('extensions = "yaml"\n', "extensions: expected an array of tables"),
        ('extensions = [1, {name = "x"}]\n', r"extensions\[0\]: expected a table"),
    ],
)
def test_malformed_files(tmp_path: Path, document: str | bytes, message: str) -> None:
    path = tmp_path / "lazyext.toml"
    if isinstance(document, bytes):
        path.write_bytes(document)
    else:
        path.write_text(document, encoding="utf-8")
    with pytest.raises(lazyext.ConfigError, match=message):
        lazyext.activate(path)


def test_tool_lazyext_must_be_a_table(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", "[tool]\nlazyext = 1\n")
    with pytest.raises(lazyext.ConfigError, match=r"\[tool.lazyext\] must be a table"):
        lazyext.activate(path)


def test_other_components_tables_pass_through(tmp_path: Path) -> None:
    path = write(tmp_path / "lazyext.toml", "[maintenance]\nevery-hours = 6\n")
    assert lazyext.activate(path).tables == {"maintenance": {"every-hours": 6}}


# -- requirement strings -----------------------------------------------------------------

BAD_REQUIREMENTS = [
    pytest.param("--index-url=http://evil/simple", id="option"),
    pytest.param("PyYAML>=6 --index-url=http://evil/simple", id="trailing-option"),
    pytest.param("-r /etc/passwd", id="requirements-file"),
    pytest.param("-e .", id="editable"),
    pytest.param(" --pre", id="leading-space-option"),
    pytest.param("./evil", id="relative-path"),
    pytest.param("/srv/x.whl", id="absolute-path"),
    pytest.param("C:\\x.whl", id="windows-path"),
    pytest.param("~/x", id="home-path"),
    pytest.param("../up", id="parent-path"),
    pytest.param("a b", id="two-names"),
    pytest.param("a, b", id="comma-separated"),
    pytest.param("a>=1 b>=2", id="two-requirements"),
    pytest.param("a>=1; b>=2", id="second-after-semicolon"),
    pytest.param("a; python_version >>", id="broken-marker"),
    pytest.param("a; bogus == '1'", id="unknown-marker-variable"),
    pytest.param("a; python_version == '3", id="unterminated-marker"),
    pytest.param("a\nb", id="newline"),
    pytest.param("a\n--index-url=http://evil", id="newline-option"),
    pytest.param("a\r", id="carriage-return"),
    pytest.param("a\x00", id="nul"),
    pytest.param("a\x0b", id="vertical-tab"),
    pytest.param("a\x0c", id="form-feed"),
    pytest.param("a\u2028", id="line-separator"),
    pytest.param("pkg @ https://example.org/pkg-1.0-py3-none-any.whl", id="url"),
    pytest.param("pkg @ file:///etc/passwd", id="file-url"),
    pytest.param("pyyaml @ ./local", id="local-reference"),
    pytest.param("pkg @ git+https://h/r@--upload-pack=x", id="vcs-option"),
    pytest.param("", id="empty"),
    pytest.param("   ", id="blank"),
    pytest.param(">=1", id="no-name"),
    pytest.param("a[", id="open-extras"),
    pytest.param("a==", id="no-version"),
    pytest.param(5, id="not-a-string"),
]


@pytest.mark.parametrize("requirement", BAD_REQUIREMENTS)
def test_bad_requirement_is_a_config_error_and_starts_nothing(
    requirement: str, no_subprocess: list[object], cache_dir: Path
) -> None:
    with pytest.raises(lazyext.ConfigError) as caught:
        lazyext.activate({"thing": requirement})
    assert isinstance(caught.value, ValueError)
    assert "extension 'thing'" in str(caught.value)
    # Nothing was activated, nothing was created for an install.
    assert lazyext._api.active_config() is None
    assert not (cache_dir / "entries").exists()
    assert not (cache_dir / "staging").exists()
    with pytest.raises(lazyext.ConfigError):
        lazyext.ensure(requirement)  # type: ignore[arg-type]


@pytest.mark.parametrize("requirement", BAD_REQUIREMENTS[:12])
def test_bad_requirement_in_a_file_names_file_and_entry(
    tmp_path: Path, requirement: str, no_subprocess: list[object]
) -> None:
    if not isinstance(requirement, str) or "\n" in requirement:
        pytest.skip("not expressible as a basic TOML string")
    escaped = requirement.replace("\\", "\\\\")
    path = write(tmp_path / "lazyext.toml", f'[[extensions]]\nname = "x"\npackage = "{escaped}"\n')
    with pytest.raises(lazyext.ConfigError) as caught:
        lazyext.activate(path)
    assert caught.value.source == str(path)
    assert caught.value.problems[0].startswith("extension 'x': requirement")


def test_direct_urls_need_the_setting_and_never_an_option_like_revision(
    tmp_path: Path, no_subprocess: list[object]
) -> None:
    path = write(tmp_path / "lazyext.toml", "allow-direct-urls = true\n")
    config = _load.load(path, {})
    assert config.settings.allow_direct_urls
    url = "pkg @ https://example.org/pkg-1.0-py3-none-any.whl"
    assert _use.plan_for(url, config).requirement == url
    with pytest.raises(lazyext.ConfigError, match="starts with '-'"):
        _use.plan_for("pkg @ git+https://h/r@--upload-pack=x", config)


# -- import names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "message"),
    [
        ("not-ident", "is not an import name"),
        ("a..b", "is not an import name"),
        ("a.", "is not an import name"),
        ("zope.class", "is not an import name"),
        ("1abc", "is not an import name"),
        ("class", "is not an import name"),
        ("", "is not an import name"),
        ("a/b", "is not an import name"),
        ("json.x", "standard library"),
        ("json", "standard library"),
        ("typing", "standard library"),
        ("os", "standard library"),
        ("sys", "standard library"),
        ("_thread", "standard library"),
        ("lazyext", "lazyext's own dependencies"),
        ("uv", "lazyext's own dependencies"),
        ("packaging", "lazyext's own dependencies"),
        ("filelock", "lazyext's own dependencies"),
        ("platformdirs", "lazyext's own dependencies"),
        ("apscheduler", "lazyext's own dependencies"),
    ],
)
def test_refused_import_names(module: str, message: str, no_subprocess: list[object]) -> None:
    with pytest.raises(lazyext.ConfigError):
        lazyext.activate({module: "something>=1"})
    with pytest.raises(lazyext.ConfigError, match=message):
        lazyext.activate([Extension(name="something", package="something", modules=[module])])


def test_config_error_pickles_with_its_data(tmp_path: Path) -> None:
    path = write(tmp_path / "lazyext.toml", "bogus = 1\nretries = -1\n")
    with pytest.raises(lazyext.ConfigError) as caught:
        lazyext.activate(path)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is lazyext.ConfigError
    assert copy.problems == caught.value.problems
    assert copy.source == str(path)
    assert str(copy) == str(caught.value)


# -- the compiled memo ------------------------------------------------------------------


def test_second_load_uses_the_compiled_memo(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "lazyext.toml", '[[extensions]]\nname = "a"\npackage = "A>=1"\n')
    first = _load.load(path, {})
    assert (cache_dir / "compiled.marshal").is_file()

    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed again although the memo matches")

    monkeypatch.setattr(_parse, "parse_file", no_parsing)
    monkeypatch.setattr(_parse, "parse_objects", no_parsing)
    assert _load.load(path, {}) == first
    assert _load.load(str(path), {}) == first


def test_the_memo_is_private_and_one_others_could_write_is_not_trusted(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A root made by hand under umask 022 (others may read and enter it) passes the
    # checks; the memo in it holds index URLs and is used unverified. (A config with
    # credentials is never memoized: tests/ux/test_secrets.py.)
    cache_dir.mkdir()
    os.chmod(cache_dir, 0o755)
    path = write(tmp_path / "lazyext.toml", 'index-url = "https://example.org/simple"\n')
    umask = os.umask(0)
    try:
        first = _load.load(path, {})
    finally:
        os.umask(umask)
    memo = cache_dir / "compiled.marshal"
    assert memo.stat().st_mode & 0o777 == 0o600
    names = sorted(p.name for p in cache_dir.iterdir())
    assert names == [".gitignore", "CACHEDIR.TAG", "compiled.marshal"]  # no temp left
    calls: list[object] = []
    real = _parse.parse_file

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(args[0])
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_parse, "parse_file", counting)
    os.chmod(memo, 0o666)  # someone else may have written this one: parsed again
    assert _load.load(path, {}) == first
    assert calls == [str(path)]
    assert memo.stat().st_mode & 0o777 == 0o600


def test_the_memo_is_invalidated_when_the_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "lazyext.toml", '[[extensions]]\nname = "a"\npackage = "A>=1"\n')
    assert _load.load(path, {}).plans[0].requirement == "a>=1"
    calls: list[Path] = []
    real = _parse.parse_file

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(args[0])  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_parse, "parse_file", counting)
    _load.load(path, {})
    assert calls == []
    # Same size, new content: the memo must not answer for the old one.
    write(path, '[[extensions]]\nname = "a"\npackage = "A>=2"\n')
    assert _load.load(path, {}).plans[0].requirement == "a>=2"
    assert len(calls) == 1
    # Environment that lazyext reads is part of the fingerprint too.
    monkeypatch.setenv("LAZYEXT_OFFLINE", "1")
    assert _load.load(path, {}).settings.offline is True
    assert len(calls) == 2
    # And keyword overrides.
    assert _load.load(path, {"ttl_hours": 9.0}).settings.ttl_hours == 9.0
    assert len(calls) == 3


def test_memo_for_mappings_depends_on_content(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _load.load({"a": "A>=1"}, {}).plans[0].requirement == "a>=1"
    assert _load.load({"a": "A>=2"}, {}).plans[0].requirement == "a>=2"
    assert _load.load({"b": "A>=1"}, {}).plans[0].name == "b"


def test_a_corrupt_memo_is_ignored_and_rewritten(cache_dir: Path) -> None:
    first = _load.load({"a": "A>=1"}, {})
    memo = cache_dir / "compiled.marshal"
    memo.write_bytes(b"\x00garbage")
    assert _load.load({"a": "A>=1"}, {}) == first
    assert memo.read_bytes() != b"\x00garbage"
    memo.write_bytes(b"")
    assert _load.load({"a": "A>=1"}, {}) == first


def test_an_invalid_source_is_never_memoized(cache_dir: Path) -> None:
    for _ in range(2):
        with pytest.raises(lazyext.ConfigError):
            _load.load({"json": "x"}, {})


def test_find_links_keyword_accepts_one_path(tmp_path: Path, wheelhouse: Wheelhouse) -> None:
    loaded = lazyext.activate({}, find_links=wheelhouse.path)
    assert loaded.settings.find_links == (os.path.realpath(wheelhouse.path),)


def test_memo_of_a_file_depends_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "conf" / "lazyext.toml", "ttl-hours = 1\n")
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)
    assert _load.load(path, {"find_links": ["wheels"]}).settings.find_links == (
        os.path.realpath(first / "wheels"),
    )
    monkeypatch.chdir(second)
    assert _load.load(path, {"find_links": ["wheels"]}).settings.find_links == (
        os.path.realpath(second / "wheels"),
    )


def test_arguments_marshal_cannot_store_still_load(tmp_path: Path) -> None:
    path = write(
        tmp_path / "lazyext.toml",
        '[[extensions]]\nname = "a"\n[extensions.arguments]\nwhen = 1979-05-27T07:32:00Z\n',
    )
    for _ in range(2):
        loaded = _load.load(path, {})
        assert loaded.plans[0].extension.arguments["when"].year == 1979


@pytest.mark.parametrize("xdg", [None, "/srv/xdg", "relative/ignored"])
def test_the_default_roots_are_platformdirs_own(
    xdg: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache and data roots are computed without importing platformdirs (~16 ms of
    the warm path): the same answers as platformdirs'."""
    import platformdirs

    from lazyext._settings.config import default_cache_root, default_data_root

    monkeypatch.delenv("LAZYEXT_DATA_DIR", raising=False)
    for name in ("XDG_CACHE_HOME", "XDG_DATA_HOME"):
        if xdg is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, xdg)
    assert default_cache_root() == str(platformdirs.user_cache_path("lazyext", appauthor=False))
    assert default_data_root() == str(platformdirs.user_data_path("lazyext", appauthor=False))
