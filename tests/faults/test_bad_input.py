"""Bad input: every hostile or malformed requirement, name and setting is a ConfigError
raised before any subprocess starts (audit hooks watch for process creation)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

import lazyext
from faults.conftest import SpawnAudit
from faults.kit import CountingUv
from lazyext import Extension

from support import Wheelhouse

BAD_REQUIREMENTS = [
    # options and arguments of uv, alone or smuggled after a name
    "--index-url=http://evil.example/simple",
    "--index-url http://evil.example/simple",
    "--extra-index-url=http://evil.example/simple",
    "-i http://evil.example/simple",
    "-r /etc/passwd",
    "-r requirements.txt",
    "-c constraints.txt",
    "-e .",
    "--target=/",
    "-t /",
    "--editable=.",
    "tinyyaml --index-url=http://evil.example/simple",
    "tinyyaml -r /etc/passwd",
    "tinyyaml==6.1 --hash=sha256:" + "0" * 64,
    "tinyyaml[--index-url]",
    # line and control characters: one requirement must never become two lines
    "tinyyaml\n--index-url http://evil.example/simple",
    "tinyyaml\r\n-r /etc/passwd",
    "tinyyaml\r--target=/",
    "tinyyaml\x00",
    "tinyyaml\x0b-r x",
    "tinyyaml\x0c-r x",
    "tinyyaml\u2028-r x",
    "tinyyaml\u2029-r x",
    "tinyyaml\x85-r x",
    "tinyyaml\x1b[31m",
    # direct references (allowed only with allow-direct-urls)
    "tinyyaml @ file:///etc/passwd",
    "tinyyaml @ file:///tmp/evil.whl",
    "tinyyaml @ git+https://example.org/repo.git",
    "tinyyaml @ git+https://example.org/r@--upload-pack=touch",
    "tinyyaml @ https://example.org/tinyyaml-6.1-py3-none-any.whl",
    "git+https://example.org/repo.git",
    "https://example.org/tinyyaml-6.1-py3-none-any.whl",
    # paths where a name is expected
    "./evil",
    "../evil",
    "..",
    ".",
    "/srv/x.whl",
    "/",
    "~/x.whl",
    "C:\\x.whl",
    "c:/x.whl",
    "\\\\server\\share\\x.whl",
    # not a requirement at all
    "",
    "   ",
    "tinyyaml>=",
    "tinyyaml; os.system('x')",
    "tinyyaml==6.1; python_version >= '3' and __import__('os')",
    "tinyyaml >= 1 <2",
]

BAD_NAMES = ["..", "../x", "x/..", "/abs", "a/b", "a\\b", ".hidden", "", "-x", "a..b", "a b"]

BAD_MODULES = [
    # the standard library and lazyext's own dependencies
    "os",
    "json",
    "sys",
    "typing",
    "site",
    "importlib",
    "builtins",
    "lazyext",
    "filelock",
    "packaging",
    "platformdirs",
    "uv",
    # not identifiers joined by dots
    "1abc",
    "a-b",
    "a..b",
    "a.",
    ".a",
    "a.class",
    "os.x",
    "a b",
    "class",
    "",
    "../x",
    "/abs",
    "x\n",
    "ﬁle",  # NFKC: Python would import "file"
]


@pytest.fixture
def watched(spawns: SpawnAudit, shim: CountingUv) -> Any:
    yield spawns
    assert spawns.seen == [], "a process was started for bad input"
    assert shim.runs() == []


def _config_file(body: str) -> Path:
    path = Path.cwd() / "lazyext.toml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def _toml(text: str) -> str:
    escaped = "".join(
        f"\\u{ord(c):04x}"
        if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029"
        else "\\\\"
        if c == "\\"
        else '\\"'
        if c == '"'
        else c
        for c in text
    )
    return f'"{escaped}"'


@pytest.mark.parametrize("requirement", BAD_REQUIREMENTS)
def test_bad_requirements_are_refused_before_any_subprocess(
    requirement: str, watched: SpawnAudit, house: Wheelhouse, cache_dir: Path
) -> None:
    options = house.options(cache_dir)
    with pytest.raises(lazyext.ConfigError):
        lazyext.activate({"tinyyaml": requirement}, **options)
    with pytest.raises(lazyext.ConfigError):
        lazyext.activate([Extension("tinyyaml", requirement)], **options)
    with pytest.raises(lazyext.ConfigError):
        lazyext.ensure(requirement, **options)
    _config_file(
        f"""
        [[extensions]]
        name = "tinyyaml"
        package = {_toml(requirement)}
        """
    )
    with pytest.raises(lazyext.ConfigError) as caught:
        lazyext.activate(**options)
    assert "extension 'tinyyaml'" in str(caught.value)


DIRECT = [r for r in BAD_REQUIREMENTS if " @ " in r and "@--" not in r]


@pytest.mark.parametrize("requirement", DIRECT)
def test_direct_urls_need_the_explicit_setting(
    requirement: str, watched: SpawnAudit, house: Wheelhouse, cache_dir: Path
) -> None:
    _config_file(
        f"""
        allow-direct-urls = true
        [[extensions]]
        name = "tinyyaml"
        package = {_toml(requirement)}
        """
    )
    config = lazyext.activate(cache_dir=cache_dir)
    plan = config.plan_for("tinyyaml")
    assert plan is not None
    assert " @ " in plan.requirement
    lazyext.deactivate()


def test_a_vcs_revision_like_an_option_is_refused_even_with_urls_allowed(
    watched: SpawnAudit, cache_dir: Path
) -> None:
    _config_file(
        """
        allow-direct-urls = true
        [[extensions]]
        name = "tinyyaml"
        package = "tinyyaml @ git+https://example.org/r@--upload-pack=touch"
        """
    )
    with pytest.raises(lazyext.ConfigError, match="starts with '-'"):
        lazyext.activate(cache_dir=cache_dir)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_extension_names_that_are_not_plain_names(
    name: str, watched: SpawnAudit, cache_dir: Path
) -> None:
    with pytest.raises(lazyext.ConfigError, match="extension name"):
        lazyext.activate([Extension(name, "tinyyaml", modules=("tinyyaml",))], cache_dir=cache_dir)
    _config_file(
        f"""
        [[extensions]]
        name = {_toml(name)}
        package = "tinyyaml"
        modules = ["tinyyaml"]
        """
    )
    with pytest.raises(lazyext.ConfigError, match="extension name"):
        lazyext.activate(cache_dir=cache_dir)


@pytest.mark.parametrize("module", BAD_MODULES)
def test_import_names_that_are_not_foreign_dotted_identifiers(
    module: str, watched: SpawnAudit, cache_dir: Path
) -> None:
    # In a mapping the import name is also the extension's name: either check may fire.
    with pytest.raises(lazyext.ConfigError, match=r"module|extension name"):
        lazyext.activate({module: "tinyyaml"}, cache_dir=cache_dir)
    with pytest.raises(lazyext.ConfigError, match="module"):
        lazyext.activate([Extension("ext", "tinyyaml", modules=(module,))], cache_dir=cache_dir)


def test_a_lone_string_of_modules_is_one_name(cache_dir: Path) -> None:
    config = lazyext.activate(
        [Extension("ext", "tinyyaml", modules="tinyyaml")], cache_dir=cache_dir
    )
    assert config.plans[0].extension.modules == ("tinyyaml",)


BAD_SETTINGS = {
    'find-links = ["--index-url=http://evil.example/simple"]': "find-links",
    'find-links = ["-r"]': "find-links",
    'find-links = ["wheels\\n--index-url x"]': "find-links",
    'index-url = "--find-links=/tmp"': "index-url",
    'index-url = "http://x\\n--target=/"': "index-url",
    'extra-index-urls = ["--index-url=http://evil.example/simple"]': "extra-index-urls",
    'extra-index-urls = ["http://ok.example/simple", "http://x\\r-r y"]': "extra-index-urls",
    "install-timeout = nan": "install-timeout",
    "lock-timeout = inf": "lock-timeout",
    "retries = -1": "retries",
}


@pytest.mark.parametrize("line", list(BAD_SETTINGS))
def test_settings_that_would_reach_uv_as_options(
    line: str, watched: SpawnAudit, cache_dir: Path
) -> None:
    _config_file(line + "\n")
    with pytest.raises(lazyext.ConfigError) as caught:
        lazyext.activate(cache_dir=cache_dir)
    assert caught.value.problems[0].startswith(BAD_SETTINGS[line])


def test_relative_paths_in_a_config_file_are_the_files_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAZYEXT_CACHE_DIR")  # it would win over the file's cache-dir
    directory = tmp_path / "project" / "conf"
    directory.mkdir(parents=True)
    (tmp_path / "project" / "wheels").mkdir()
    config = directory / "lazyext.toml"
    config.write_text('find-links = ["../wheels"]\ncache-dir = "../cache"\n', encoding="utf-8")
    settings = lazyext.activate(config).settings
    assert settings.find_links == (str((tmp_path / "project" / "wheels").resolve()),)
    assert settings.cache_dir == str((tmp_path / "project" / "cache").resolve())


def test_a_file_that_is_not_toml_names_the_place(watched: SpawnAudit, cache_dir: Path) -> None:
    path = _config_file('offline = false\n[[extensions]\nname = "x"\n')
    with pytest.raises(lazyext.ConfigError) as caught:
        lazyext.activate(cache_dir=cache_dir)
    message = str(caught.value)
    assert str(path) in message
    assert "line 2" in message
    assert caught.value.source == str(path)


def test_a_file_that_is_not_utf8(watched: SpawnAudit, cache_dir: Path) -> None:
    path = Path.cwd() / "lazyext.toml"
    path.write_bytes(b'index-url = "http://caf\xe9.example/simple"\n')
    with pytest.raises(lazyext.ConfigError, match="not valid TOML"):
        lazyext.activate(cache_dir=cache_dir)


def test_a_pyproject_whose_tool_is_not_a_table(watched: SpawnAudit, cache_dir: Path) -> None:
    # (A pyproject.toml that does not mention tool.lazyext is passed over by discovery.)
    (Path.cwd() / "pyproject.toml").write_text('[tool]\nlazyext = "x"\n', encoding="utf-8")
    with pytest.raises(lazyext.ConfigError, match="must be a table"):
        lazyext.activate(cache_dir=cache_dir)


WRONG_TYPES = """
ttl-hours = "soon"
offline = "yes"
retries = 1.5
find-links = "wheels"
install-timeout = -3
colour = "blue"

[[extensions]]
name = "../evil"
package = "tinyyaml"

[[extensions]]
name = "typed"
package = 3
modules = "typed"
enabled = "yes"
hashes = "sha256:abc"
arguments = 7
surprise = true

[[extensions]]
name = "injected"
package = "--index-url=http://evil.example/simple"

[[extensions]]
name = "jsonish"
package = "tinyyaml"
modules = ["json"]

[[extensions]]
package = "nameless"

[[extensions]]
name = "hashed"
package = "alpha>=1"
hashes = ["sha256:zz", "md5:00"]
"""

EXPECTED_PROBLEMS = [
    "ttl-hours: expected a number, got str",
    "offline: expected true/false, got str",
    "retries: expected a number, got float",
    "find-links: expected a list, got str",
    "install-timeout: must not be negative",
    "colour: unknown setting",
    "extensions[1] (name='typed'): surprise: unknown key",
    "extensions[1] (name='typed'): package: expected a string, got int",
    "extensions[1] (name='typed'): modules: expected a list",
    "extensions[1] (name='typed'): enabled: expected true or false",
    "extensions[1] (name='typed'): arguments: expected a table",
    "extensions[1] (name='typed'): hashes: expected a list",
    "extensions[4]: name: required",
    "extension '../evil': extension name",
    "extension 'injected': requirement '--index-url=http://evil.example/simple' looks like",
    "extension 'jsonish': module 'json' belongs to the standard library",
    "extension 'hashed': hash 'sha256:zz'",
]


def test_a_file_with_wrong_types_reports_every_problem_with_its_place(
    watched: SpawnAudit, cache_dir: Path
) -> None:
    path = _config_file(WRONG_TYPES)
    with pytest.raises(lazyext.ConfigError) as caught:
        lazyext.activate(cache_dir=cache_dir)
    problems = caught.value.problems
    for expected in EXPECTED_PROBLEMS:
        assert any(problem.startswith(expected) for problem in problems), (expected, problems)
    assert len(problems) == len(EXPECTED_PROBLEMS), problems
    message = str(caught.value)
    assert message.startswith(f"{path}: {len(EXPECTED_PROBLEMS)} problems:")
