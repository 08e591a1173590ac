"""What status, verify and refresh say about extensions that are not the question
(issue 23 item 3): a disabled one, an unrelated failing one, a repaired one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lazyext import cli

from support import Wheelhouse, entry_of


@pytest.fixture
def config(tmp_path: Path, wheelhouse: Wheelhouse) -> Path:
    path = tmp_path / "conf" / "lazyext.toml"
    path.parent.mkdir()
    path.write_text(
        wheelhouse.toml()
        + '[[extensions]]\nname = "alpha"\npackage = "alpha"\n'
        + '[[extensions]]\nname = "off"\npackage = "nosuchdist"\nenabled = false\n',
        encoding="utf-8",
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def states(capsys: pytest.CaptureFixture[str], config: Path, verb: str) -> dict[str, Any]:
    code, out, err = run(capsys, verb, "--json", "--config", str(config))
    assert code == 0, out + err
    return {row["name"]: (row["state"], row["ok"]) for row in json.loads(out)["extensions"]}


def test_a_disabled_extension_is_disabled_not_missing(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    assert run(capsys, "warm", "--config", str(config))[0] == 0
    assert states(capsys, config, "status") == {
        "alpha": ("installed", True),
        "off": ("disabled", True),
    }
    assert states(capsys, config, "verify") == {"alpha": ("ok", True), "off": ("disabled", True)}
    code, out, _ = run(capsys, "verify", "--config", str(config))
    assert (code, out.splitlines()[-1]) == (0, "disabled off")


def test_verify_repair_exits_0_once_everything_is_repaired(
    capsys: pytest.CaptureFixture[str], config: Path, cache_dir: Path
) -> None:
    assert run(capsys, "warm", "--config", str(config))[0] == 0
    module = entry_of(cache_dir, "alpha") / "target" / "alpha" / "__init__.py"
    module.write_text("NAME = 'tampered'\n", encoding="utf-8")
    code, out, _ = run(capsys, "verify", "--config", str(config))
    assert code == 1  # damaged: the check failed
    assert out.startswith("damaged  alpha ")
    code, out, err = run(capsys, "verify", "--repair", "--json", "--config", str(config))
    assert code == 0, out + err  # every damaged install repaired: success
    rows = {row["name"]: row for row in json.loads(out)["extensions"]}
    assert (rows["alpha"]["state"], rows["alpha"]["ok"]) == ("repaired", True)
    assert "alpha/__init__.py" in rows["alpha"]["problems"][0]
    assert states(capsys, config, "verify")["alpha"] == ("missing", True)  # reinstalled on use


def test_refresh_name_says_nothing_of_an_unrelated_failure(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    config.write_text(
        config.read_text(encoding="utf-8")
        + '[[extensions]]\nname = "broken"\npackage = "nosuchdist"\n',
        encoding="utf-8",
    )
    assert run(capsys, "warm", "--config", str(config))[0] == 1  # broken: not installable
    code, out, err = run(capsys, "refresh", "--force", "alpha", "--config", str(config))
    assert code == 0, out + err
    assert out.startswith("refreshed alpha: ")
    assert "nosuchdist" not in out + err  # broken's failure is not this command's
    code, out, err = run(capsys, "refresh", "--force", "alpha", "--json", "--config", str(config))
    assert code == 0, out + err
    assert [row["name"] for row in json.loads(out)["extensions"]] == ["alpha"]
    assert "nosuchdist" not in err
    # Asked about all of them, refresh names broken: not installed, with its failure.
    code, out, err = run(capsys, "refresh", "--force", "--json", "--config", str(config))
    assert code == 0, out + err
    rows = {row["name"]: row for row in json.loads(out)["extensions"]}
    assert rows["broken"]["state"] == "missing"
    assert "nosuchdist" in rows["broken"]["detail"]
