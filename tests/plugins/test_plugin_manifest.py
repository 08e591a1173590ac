"""Manifests are read without running plugin code, and every problem is reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugkit import plugin_files, write_tree, write_wheel

from lazyext.plugins import ManifestError, PluginManager

MARKER = "import pathlib; pathlib.Path('EXECUTED').write_text('yes')\n"


def _info_files(info: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    files = {
        "mp/__init__.py": f"{MARKER}PLUGIN_INFO = {info}\n",
        "mp/run.py": "class Plugin: ...\n",
    }
    files.update(extra or {})
    return files


BAD: list[tuple[str, dict[str, str], str]] = [
    ("not-a-literal", _info_files("dict(id='mp', version='1.0')"), "must be a dict literal"),
    ("not-a-dict", _info_files("['mp', '1.0']"), "must be a dict, not list"),
    (
        "assigned-twice",
        {"mp/__init__.py": "PLUGIN_INFO = {}\nPLUGIN_INFO = {}\n", "mp/run.py": ""},
        "exactly once",
    ),
    ("no-manifest", {"mp/__init__.py": "", "mp/run.py": ""}, "with a manifest .* found none"),
    ("bad-id", _info_files("{'id': '../up', 'version': '1.0'}"), "plugin id '../up'"),
    ("empty-id", _info_files("{'id': '', 'version': '1.0'}"), "plugin id ''"),
    ("bad-version", _info_files("{'id': 'mp', 'version': 'one'}"), "not a PEP 440 version"),
    ("no-version", _info_files("{'id': 'mp'}"), "version: required"),
    (
        "unknown-key",
        _info_files("{'id': 'mp', 'version': '1', 'hooks': 1}"),
        "unknown manifest key",
    ),
    (
        "option-injection",
        _info_files("{'id': 'mp', 'version': '1', 'dependencies': ['--index-url=http://evil']}"),
        "looks like a command-line option",
    ),
    (
        "option-after-name",
        _info_files("{'id': 'mp', 'version': '1', 'dependencies': ['tinydep --index-url=x']}"),
        "not one PEP 508 requirement",
    ),
    (
        "path-dependency",
        _info_files("{'id': 'mp', 'version': '1', 'dependencies': ['./evil']}"),
        "is a path",
    ),
    (
        "absolute-wheel",
        _info_files("{'id': 'mp', 'version': '1', 'dependencies': ['/srv/x.whl']}"),
        "is a path",
    ),
    (
        "url-dependency",
        _info_files("{'id': 'mp', 'version': '1', 'dependencies': ['x @ https://h/x.whl']}"),
        "direct URL reference",
    ),
    (
        "newline-dependency",
        _info_files(
            "{'id': 'mp', 'version': '1', 'dependencies': ['tinydep\\n--index-url http://e']}"
        ),
        "control character",
    ),
    (
        "dependencies-not-a-list",
        _info_files("{'id': 'mp', 'version': '1', 'dependencies': 'tinydep'}"),
        "expected a list",
    ),
    (
        "entry-missing",
        _info_files("{'id': 'mp', 'version': '1', 'entry': 'nothere:P'}"),
        "does not ship",
    ),
    (
        "entry-bad-attr",
        _info_files("{'id': 'mp', 'version': '1', 'entry': 'run:1x'}"),
        "not an attribute",
    ),
    (
        "no-run-py",
        {"mp/__init__.py": "PLUGIN_INFO = {'id': 'mp', 'version': '1'}\n"},
        "does not ship",
    ),
    (
        "stdlib-name",
        {"json/__init__.py": "PLUGIN_INFO = {'id': 'j', 'version': '1'}\n", "json/run.py": ""},
        "standard library",
    ),
    (
        "reserved-name",
        {
            "packaging/__init__.py": "PLUGIN_INFO = {'id': 'p', 'version': '1'}\n",
            "packaging/run.py": "",
        },
        "lazyext",
    ),
    (
        "two-plugins",
        {**plugin_files("one"), **plugin_files("two")},
        "exactly one package with a manifest",
    ),
    (
        "bad-toml",
        {"mp/__init__.py": "", "mp/plugin.toml": "id = \n", "mp/run.py": ""},
        "not valid TOML",
    ),
    (
        "toml-float-version",
        {"mp/__init__.py": "", "mp/plugin.toml": "id = 'mp'\nversion = 1.0\n", "mp/run.py": ""},
        "PEP 440 version string",
    ),
]


@pytest.mark.parametrize(("case", "files", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_manifest_is_refused_without_running_code(
    manager: PluginManager, tmp_path: Path, case: str, files: dict[str, str], message: str
) -> None:
    root = write_tree(tmp_path / "src" / case, files)
    with pytest.raises(ManifestError, match=message) as raised:
        manager.install(root)
    assert raised.value.problems
    assert not Path("EXECUTED").exists()
    assert not (tmp_path / "src" / case / "EXECUTED").exists()
    assert manager.list() == []


def test_all_problems_are_reported_at_once(manager: PluginManager, tmp_path: Path) -> None:
    info = "{'id': 'a b', 'version': 'x', 'author': 3, 'dependencies': ['-e .'], 'colour': 1}"
    root = write_tree(tmp_path / "multi", _info_files(info))
    with pytest.raises(ManifestError) as raised:
        manager.install(root)
    assert len(raised.value.problems) == 5
    assert "5 problems" in str(raised.value)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (None, "mp.run:Plugin"),
        ("impl:Thing", "mp.impl:Thing"),
        (".impl:Thing", "mp.impl:Thing"),
        ("mp.impl:Thing", "mp.impl:Thing"),
        ("mp_helper:Thing", "mp_helper:Thing"),
        ("impl:Outer.Inner", "mp.impl:Outer.Inner"),
        ("impl", "mp.impl"),
    ],
)
def test_entry_resolution(
    manager: PluginManager, tmp_path: Path, entry: str | None, expected: str
) -> None:
    info = {"id": "mp", "version": "1"} | ({"entry": entry} if entry else {})
    files = {
        "mp/__init__.py": f"PLUGIN_INFO = {info!r}\n",
        "mp/run.py": "class Plugin: ...\n",
        "mp/impl.py": "class Thing: ...\nclass Outer:\n    class Inner: ...\n",
        "mp_helper.py": "class Thing: ...\n",
    }
    root = write_tree(tmp_path / "entry", files)
    assert manager.install(root).manifest.entry == expected


def test_wheel_must_name_one_plugin(manager: PluginManager, tmp_path: Path) -> None:
    from lazyext._wheels import build_wheel

    wheel = build_wheel(
        tmp_path,
        "twoplug",
        "1.0",
        {"twoplug/__init__.py": "", "twoplug/run.py": "class Plugin: ...\n"},
        entry_points={"lazyext.plugins": {"a": "twoplug.run:Plugin", "b": "twoplug.run:Plugin"}},
    )
    with pytest.raises(ManifestError, match="exactly one plugin"):
        manager.install(wheel)


def test_wheel_metadata_becomes_the_manifest(manager: PluginManager, tmp_path: Path) -> None:
    wheel = write_wheel(
        tmp_path,
        "meta-plug",
        "metaplug",
        "0.9rc1",
        dependencies=["tinydep>=1", "alpha; extra == 'x'"],
    )
    info = manager.install(wheel)
    assert (info.id, info.name, info.version) == ("meta-plug", "meta-plug", "0.9rc1")
    assert info.dependencies == ("tinydep>=1",)  # the extra-only requirement is not needed


def test_package_folder_without_manifest(manager: PluginManager, tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"bare/__init__.py": "", "bare/run.py": ""}) / "bare"
    with pytest.raises(ManifestError, match=r"no manifest: add plugin\.toml or a PLUGIN_INFO"):
        manager.install(root)


def test_data_folders_beside_the_package_are_not_import_names(
    manager: PluginManager, sources: Path
) -> None:
    # static/ and templates/ hold no Python: they must not claim `import static` in the
    # host, nor keep the next plugin with a static/ folder from installing.
    for package in ("dataplug", "otherplug"):
        files = plugin_files(package)
        files.update(
            {
                "plugin.toml": f'id = "{package}"\nversion = "1.0"\n',
                f"{package}/__init__.py": "",
                "static/app.js": "let x = 1;\n",
                "templates/index.html": "<p>hi</p>\n",
                "json/schema.json": "{}\n",  # a standard library name, as a folder of data
                f"{package}_tools/cli.py": "X = 1\n",  # Python: an import name of its own
            }
        )
        info = manager.install(write_tree(sources / package, files), enable=True)
        assert info.manifest.modules == (package, f"{package}_tools")
        assert Path(info.path, "static", "app.js").is_file()  # still installed, as data
    import importlib

    assert importlib.import_module("dataplug_tools.cli").X == 1
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("templates")
