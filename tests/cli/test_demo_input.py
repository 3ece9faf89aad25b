"""``costcap demo`` refuses bad input before simulating anything: exit 2, one line."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest

from tests.cli.helpers import error


def writable(directory: Path) -> bool:
    try:
        with tempfile.TemporaryFile(dir=directory):
            return True
    except OSError:
        return False


@pytest.fixture
def no_simulation(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The simulated day replaced by a record of where it would have run."""
    from costcap.cli import demo

    ran: list[Path] = []
    monkeypatch.setattr(demo, "run_demo", lambda console, calls, users, where: ran.append(where))
    return ran


@pytest.mark.parametrize(
    ("argv", "option", "problem"),
    [
        (["--users", "0"], "--users", "must be 1..1,000, the number of calls (got 0)"),
        (["--calls", "0"], "--calls", "must be 1..100,000 (got 0)"),
        (["--calls", "-5", "--users", "3"], "--calls", "must be 1..100,000 (got -5)"),
        (
            ["--calls", "10", "--users", "11"],
            "--users",
            "must be 1..10, the number of calls (got 11)",
        ),
        (["--calls", "100001"], "--calls", "must be 1..100,000 (got 100001)"),
    ],
)
def test_a_bad_count_blames_its_own_option(
    argv: list[str],
    option: str,
    problem: str,
    no_simulation: list[Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = f"costcap: error: Invalid value for {option}: {problem}\n"
    assert error(capsys, ["demo", *argv]) == line
    assert no_simulation == []


def test_a_workdir_that_is_a_file_is_refused(
    no_simulation: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """/etc/passwd is a file: not a directory to put the demo's files in."""
    assert "Invalid value for --workdir: /etc/passwd is not a directory" in error(
        capsys, ["demo", "--workdir", "/etc/passwd"]
    )
    assert no_simulation == []


def test_a_workdir_under_a_file_is_refused(
    tmp_path: Path, no_simulation: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("x")
    err = error(capsys, ["demo", "--workdir", str(tmp_path / "file" / "sub")])
    assert f"cannot write to {tmp_path / 'file' / 'sub'}: Not a directory" in err


def test_a_workdir_that_cannot_be_written_is_refused(
    tmp_path: Path, no_simulation: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A directory without write permission (for root, who may write anywhere: /sys)."""
    target = tmp_path / "read-only"
    target.mkdir(mode=0o500)
    if writable(target):
        target = Path("/sys")
        if not target.is_dir() or writable(target):
            pytest.skip("no directory this user cannot write to")
    assert f"cannot write to {target}: Permission denied" in error(
        capsys, ["demo", "--workdir", str(target)]
    )
    assert no_simulation == []


def test_a_workdir_holding_a_costcap_toml_is_not_overwritten(
    tmp_path: Path, no_simulation: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo writes a costcap.toml, a store and a ledger: never over someone's own."""
    (tmp_path / "costcap.toml").write_text("# mine\n")
    err = error(capsys, ["demo", "--workdir", str(tmp_path)])
    assert f"{tmp_path} already holds costcap.toml; give an empty or new directory" in err
    assert (tmp_path / "costcap.toml").read_text() == "# mine\n"


def test_a_new_workdir_is_created(
    tmp_path: Path, no_simulation: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from costcap.cli.app import run

    where = tmp_path / "a" / "b"
    assert run(["demo", "--workdir", str(where)]) == 0
    assert no_simulation == [where]
    assert where.is_dir()


@pytest.mark.parametrize(
    "module", ["uvicorn", "starlette", "openai", "anthropic", "httpx2", "aiohttp"]
)
def test_without_its_extras_the_demo_says_what_to_install(
    module: str,
    no_simulation: list[Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A core install (no sdk or gateway extra): the pip command, not a ModuleNotFoundError.
    The gateway extra brings the server's (starlette, uvicorn) with its own (httpx2, aiohttp):
    the day runs `costcap serve` for the services not written in Python."""
    monkeypatch.setitem(sys.modules, module, None)  # importing it now raises ModuleNotFoundError
    assert error(capsys, ["demo"]) == (
        "costcap: error: costcap demo needs: pip install 'costcap[sdk,gateway]'\n"
    )
    assert no_simulation == []
