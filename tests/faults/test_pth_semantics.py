"""``.pth`` files behave as CPython's ``site`` makes them behave.

A corpus of ``.pth`` files is shipped in a wheel and installed by lazyext; one child
interpreter imports the extension through lazyext, another runs ``site.addsitedir`` on
the very same installed directory. Both report the ``sys.path`` entries added, the side
effects of executed lines (in order) and the errors ``site`` printed; they must agree.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import pytest

import lazyext
from faults.kit import run
from lazyext._importer import pth as _pth

from support import Wheelhouse, python_env

TRACE = "LAZYEXT_TEST_PTH_TRACE"


def _effect(tag: str) -> str:
    return f"import os; os.environ['{TRACE}'] = os.environ.get('{TRACE}', '') + '{tag},'"


def corpus(outside: Path) -> dict[str, str | bytes]:
    """File name -> content: one case of site's rules each."""
    return {
        "a_paths.pth": "dir_a\n# a comment\n\n   \ndir_a\ndir_b  \nno_such_dir\n",
        "b_import.pth": _effect("b1") + "\n" + _effect("b2") + "\n",
        "c_tab_import.pth": "import\tos; os.environ['" + TRACE + "'] += 'tab,'\n",
        "d_order.pth": "dir_probe\nimport pth_probe_module\n",
        "e_raises.pth": _effect("e1")
        + "\nimport os; raise ValueError('boom')\n"
        + _effect("never")
        + "\ndir_after_error\n",
        "f_bom.pth": "\ufeffdir_bom\n" + _effect("bom") + "\n",
        "g_bom_first_import.pth": "\ufeff" + _effect("bomfirst") + "\n",
        "h_crlf.pth": "dir_crlf\r\n" + _effect("crlf") + "\r\n",
        "i_indented_import.pth": "  " + _effect("indented") + "\n",
        "j_absolute.pth": f"{outside}\n",
        "k_relative_up.pth": "../\n",
        "l_comment_only.pth": "# nothing here\n#import os\n",
        "m_empty.pth": "",
        "n_file_not_dir.pth": "afile.zip\n",
        "o_duplicate.pth": "dir_a\ndir_b\n",
        "p_no_newline.pth": "dir_last",
        "q_nul.pth": "dir\x00nul\n" + _effect("afternul") + "\n",
        "r_utf8_names.pth": "dir_caf\u00e9\n",
        ".hidden.pth": "dir_hidden\n" + _effect("hidden") + "\n",
        "s_import_star.pth": "importos\nimport  os\n",
        "notes.txt": "dir_txt\n",
        "t_syntax.pth": "import os +\n" + _effect("aftersyntax") + "\n",
    }


DIRECTORIES = [
    "dir_a", "dir_b", "dir_bom", "dir_crlf", "dir_after_error", "dir_hidden", "dir_last",
    "dir_caf\u00e9", "dir_txt", "dir_probe", "dir_late",
]  # fmt: skip


def _wheel_files(outside: Path, extra: dict[str, str | bytes]) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {"pthcorpus/__init__.py": "VALUE = 1\n"}
    files.update({f"{d}/keep.txt": "" for d in DIRECTORIES})
    files["dir_probe/pth_probe_module.py"] = (
        f"import os\nos.environ['{TRACE}'] = os.environ.get('{TRACE}', '') + 'probe,'\n"
    )
    files["afile.zip"] = b"PK\x05\x06" + b"\x00" * 18
    files.update(corpus(outside))
    files.update(extra)
    return files


_REPORT = f"""
def report(before, error=None):
    import json, os, sys
    added = [p for p in sys.path if p not in before and "/views/" not in p]
    print(json.dumps({{"added": added, "trace": os.environ.get({TRACE!r}, ""), "error": error}}))
"""

_WITH_LAZYEXT = """
import sys
before = list(sys.path)
import lazyext
lazyext.activate({{"pthcorpus": "pthcorpus"}}, find_links=[{links!r}], no_index=True)
import pthcorpus
print(pthcorpus.__file__)
report(before)
"""

_WITH_SITE = """
import os, site, sys
target = {target!r}
before = list(sys.path)
known = {{os.path.normcase(os.path.abspath(p)) for p in sys.path if p}}
known.add(os.path.normcase(os.path.abspath(target)))
for name in {remove!r}:
    os.rename(os.path.join(target, name), os.path.join(target, name + ".off"))
try:
    site.addsitedir(target, known)
    report(before)
except Exception as error:
    report(before, type(error).__name__)
finally:
    for name in {remove!r}:
        os.rename(os.path.join(target, name + ".off"), os.path.join(target, name))
"""


def _site_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error processing line")]


def _parse(stdout: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return result


def _compare(house: Wheelhouse, cache_dir: Path, outside: Path, remove: list[str]) -> Any:
    env = python_env(LAZYEXT_CACHE_DIR=str(cache_dir))
    env.pop(TRACE, None)
    lazy = run(_REPORT + _WITH_LAZYEXT.format(links=str(house.path)), env=env)
    assert lazy.returncode == 0, lazy.stderr
    module_file = lazy.stdout.splitlines()[0]
    target = str(Path(module_file).parent.parent)
    by_site = run(_REPORT + _WITH_SITE.format(target=target, remove=remove), env=env)
    assert by_site.returncode == 0, by_site.stderr
    return target, lazy, by_site


def test_pth_files_behave_as_site_makes_them(
    tmp_path: Path, cache_dir: Path, house_factory: Any
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    house = house_factory(_wheel_files(outside, {}))
    target, lazy, by_site = _compare(house, cache_dir, outside, [])
    expected, actual = _parse(by_site.stdout), _parse(lazy.stdout)
    assert expected["error"] is None
    assert actual["added"] == expected["added"]
    assert actual["trace"] == expected["trace"]
    assert _site_errors(lazy.stderr) == _site_errors(by_site.stderr)
    # The corpus really exercised the rules (so that agreeing means something).
    assert os.path.join(target, "dir_a") in expected["added"]
    assert str(outside) in expected["added"]
    assert "b1,b2," in expected["trace"]
    assert "never" not in expected["trace"]
    assert "probe" in expected["trace"]
    assert len(_site_errors(by_site.stderr)) >= 2  # the raising line and the bad syntax


def test_a_pth_file_site_cannot_read_is_skipped_not_fatal(
    tmp_path: Path, cache_dir: Path, house_factory: Any
) -> None:
    """Before 3.13 (and with a UTF-8 locale after it), ``site`` raises on a .pth file it
    cannot decode and stops processing the directory; lazyext skips that file only."""
    outside = tmp_path / "outside"
    outside.mkdir()
    bad = {
        "c_latin1.pth": b"dir_late\n" + "caf\u00e9\n".encode("latin-1"),
        "._apple.pth": b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X\xff\xfe",
    }
    house = house_factory(_wheel_files(outside, bad))
    target, lazy, by_site = _compare(house, cache_dir, outside, list(bad))
    expected, actual = _parse(by_site.stdout), _parse(lazy.stdout)
    assert actual["added"] == expected["added"]
    assert actual["trace"] == expected["trace"]
    everything = run(_REPORT + _WITH_SITE.format(target=target, remove=[]))
    if sys.version_info < (3, 13) or sys.flags.utf8_mode:
        assert _parse(everything.stdout)["error"] == "UnicodeDecodeError"


@pytest.fixture
def house_factory(tmp_path: Path) -> Any:
    def build(files: dict[str, str | bytes]) -> Wheelhouse:
        house = Wheelhouse(tmp_path / "corpus-wheels")
        house.build("pthcorpus", "1.0", files)
        return house

    return build


def test_every_executed_line_is_logged(
    tmp_path: Path, cache_dir: Path, house_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    house = house_factory(_wheel_files(outside, {}))
    before = os.environ.get(TRACE)
    try:
        with caplog.at_level(logging.WARNING, logger="lazyext"):
            lazyext.activate({"pthcorpus": "pthcorpus"}, **house.options(cache_dir))
            import pthcorpus  # type: ignore[import-not-found]  # noqa: F401
        executed = [tag for tag in os.environ.get(TRACE, "").split(",") if tag]
    finally:
        os.environ.pop(TRACE, None)
        if before is not None:
            os.environ[TRACE] = before
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("executing")]
    # Each tag executed came from a line that was logged before it ran (the probe
    # module is imported by a logged line of d_order.pth).
    for tag in executed:
        if tag == "probe":
            assert any("import pth_probe_module" in m for m in logged)
        else:
            assert any(f"'{tag},'" in m for m in logged), (tag, logged)
    assert len(executed) >= 5


def test_strict_pth_executes_nothing_and_logs_every_refusal(
    tmp_path: Path, cache_dir: Path, house_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    house = house_factory(_wheel_files(outside, {}))
    config = Path.cwd() / "lazyext.toml"
    config.write_text(
        f'strict-pth = true\nfind-links = ["{house.path}"]\nno-index = true\n'
        '[[extensions]]\nname = "pthcorpus"\npackage = "pthcorpus"\n',
        encoding="utf-8",
    )
    before = list(sys.path)
    os.environ.pop(TRACE, None)
    with caplog.at_level(logging.WARNING, logger="lazyext"):
        lazyext.activate()
        import pthcorpus

    assert TRACE not in os.environ
    refused = [r.getMessage() for r in caplog.records if "strict-pth: refused" in r.getMessage()]
    import_lines = [
        line
        for name, text in corpus(outside).items()
        if name.endswith(".pth") and not name.startswith(".") and isinstance(text, str)
        for line in text.splitlines()
        if line.lstrip("\ufeff").startswith(("import ", "import\t"))
    ]
    assert len([m for m in refused if "executable" in m]) >= len(import_lines)
    assert any("leaves the install" in m for m in refused)  # the absolute path, "../"
    added = [p for p in sys.path if p not in before and "/views/" not in p]
    target = Path(pthcorpus.__file__).parent.parent
    assert str(target / "dir_a") in added
    assert all(Path(p).is_relative_to(target) for p in added)
    assert str(outside) not in added


def test_site_names_match_the_interpreters_site(tmp_path: Path) -> None:
    for name in ("b.pth", "a.pth", ".hidden.pth", "c.txt", "d.pth.bak"):
        (tmp_path / name).write_text("\n", encoding="utf-8")
    names = _pth.site_names(str(tmp_path))
    assert names[:2] == ["a.pth", "b.pth"] or names[:3] == [".hidden.pth", "a.pth", "b.pth"]
    hides = sys.version_info >= (3, 13) or ".hidden.pth" not in names
    assert (".hidden.pth" in names) != hides
