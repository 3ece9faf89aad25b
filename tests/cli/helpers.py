"""Running ``costcap`` in-process: a command that must succeed, or fail with one line."""

from __future__ import annotations

import pytest

from costcap.cli.app import run
from costcap.ledger import open_sink
from tests.reports.ledger import EVENTS


def out(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run a command that must succeed (exit 0); its stdout."""
    code = run(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run a command that must fail: exit 2, nothing on stdout past what it printed before
    failing, and exactly one line on stderr, which is returned."""
    code = run(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1, err
    assert err.startswith("costcap: error: "), err
    assert "Traceback" not in err
    return err


def write_ledger(url: str) -> str:
    """A ledger at ``url`` holding the test events (ten days of March 2026)."""
    sink = open_sink(url)
    sink.write(EVENTS)
    sink.close()
    return url
