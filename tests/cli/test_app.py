"""The ``costcap`` command itself: its version, and help that shows flags as flags."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from costcap.cli.app import command_tree
from tests.cli.helpers import error, out

PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """``costcap --version`` prints the installed version, as pyproject.toml declares it."""
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    assert out(capsys, ["--version"]) == f"costcap {declared}\n"


def test_version_wins_over_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    assert out(capsys, ["--version", "report"]) == f"costcap {declared}\n"


def commands() -> list[list[str]]:
    """Every command and subcommand, as the words that name it."""
    found: list[list[str]] = []

    def walk(command: object, words: list[str]) -> None:
        found.append(words)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*words, name])

    walk(command_tree(), [])
    return found


@pytest.mark.parametrize("words", commands(), ids=lambda w: " ".join(w) or "costcap")
def test_help_shows_flags_without_a_value(
    words: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Help lists ``--json`` / ``--help`` as bare flags, never ``--json <bool>`` (which reads as
    if ``--json true`` were accepted)."""
    monkeypatch.setenv("COLUMNS", "200")
    text = out(capsys, [*words, "--help"])
    assert "--help" in text
    assert "<bool>" not in text


def test_a_flag_takes_no_value(capsys: pytest.CaptureFixture[str]) -> None:
    """``--json true``: the flag is a flag; ``true`` is an extra argument."""
    assert "unexpected extra argument" in error(
        capsys, ["report", "features", "--json", "true", "--ledger", "sqlite:///nowhere.db"]
    )


@pytest.mark.parametrize("words", [[], ["report"]], ids=["costcap", "report"])
def test_a_group_without_a_command_shows_its_help_and_one_error_line(
    words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from costcap.cli.app import run

    assert run(words) == 2
    captured = capsys.readouterr()
    assert "Commands" in captured.out
    assert captured.err == "costcap: error: missing command (listed above)\n"


def test_an_argument_that_is_not_utf8_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A byte a shell passed through (decoded as a lone surrogate) is refused up front."""
    err = error(capsys, ["report", "features", "--user", "caf\udce9"])
    assert "argument 'caf\\udce9' is not UTF-8 text" in err
