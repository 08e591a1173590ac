"""The config edit of add and remove: comments and layout kept, files as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from lazyext._errors import ConfigError
from lazyext._registry import edit

CONFIG = """\
# The application's extensions.
find-links = ["wheels"]   # next to this file

[[extensions]]
name = "alpha"   # the first one
package = "alpha"

[plugins]
hot-reload = true
"""

TABLE = {"name": "beta", "package": "beta>=1", "modules": ["beta"]}


def test_add_appends_a_table_and_keeps_everything_else(tmp_path: Path) -> None:
    path = tmp_path / "lazyext.toml"
    path.write_text(CONFIG, encoding="utf-8")
    text = edit.added(edit.read(str(path)), TABLE)
    assert text == CONFIG.replace(
        "[plugins]",
        '[[extensions]]\nname = "beta"\npackage = "beta>=1"\nmodules = ["beta"]\n\n[plugins]',
    )
    config = edit.parse_text(edit.read(str(path)), text)
    assert [plan.name for plan in config.plans] == ["alpha", "beta"]
    assert config.settings.find_links == (str(tmp_path / "wheels"),)


def test_remove_takes_out_one_table(tmp_path: Path) -> None:
    path = tmp_path / "lazyext.toml"
    path.write_text(CONFIG, encoding="utf-8")
    two = edit.added(edit.read(str(path)), TABLE)
    path.write_text(two, encoding="utf-8")
    assert edit.removed(edit.read(str(path)), "beta") == CONFIG
    one = edit.removed(edit.read(str(path)), "alpha")
    assert "alpha" not in one
    assert one.startswith("# The application's extensions.\n")
    path.write_text(CONFIG, encoding="utf-8")
    last = edit.removed(edit.read(str(path)), "alpha")
    assert "extensions =" not in last  # no `extensions = []` left behind
    assert "[[extensions]]" not in last
    assert "[plugins]\nhot-reload = true\n" in last
    with pytest.raises(ConfigError, match=r"no extension named 'nosuch'"):
        edit.removed(edit.read(str(path)), "nosuch")


def test_pyproject_and_inline_arrays(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "app"\n\n[tool.lazyext]\nno-index = true\n\n'
        "[tool.ruff]\nline-length = 99\n",
        encoding="utf-8",
    )
    text = edit.added(edit.read(str(pyproject)), TABLE)
    assert text.startswith('[project]\nname = "app"\n\n[tool.lazyext]\nno-index = true\n')
    assert '[[tool.lazyext.extensions]]\nname = "beta"' in text
    assert text.endswith("[tool.ruff]\nline-length = 99\n")
    assert [p.name for p in edit.parse_text(edit.read(str(pyproject)), text).plans] == ["beta"]
    inline = tmp_path / "inline.toml"
    inline.write_text('extensions = [{ name = "alpha", package = "alpha" }]\n', encoding="utf-8")
    text = edit.added(edit.read(str(inline)), TABLE)
    assert text.startswith('extensions = [{ name = "alpha", package = "alpha" }, {name = "beta"')


def test_write_refuses_a_file_that_changed_meanwhile(tmp_path: Path) -> None:
    path = tmp_path / "lazyext.toml"
    path.write_text(CONFIG, encoding="utf-8")
    path.chmod(0o640)
    read = edit.read(str(path))
    text = edit.added(read, TABLE)
    path.write_text(CONFIG + "# edited by hand\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"changed while lazyext was checking"):
        edit.write(read, text)
    assert path.read_text(encoding="utf-8").endswith("# edited by hand\n")
    edit.write(edit.read(str(path)), text)
    assert path.read_text(encoding="utf-8") == text
    assert path.stat().st_mode & 0o777 == 0o640
