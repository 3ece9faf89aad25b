"""``costcap demo`` runs end to end against the fake provider."""

from __future__ import annotations

from pathlib import Path

import pytest

from costcap.cli.app import run


def test_demo_reconciles_with_the_provider(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A short simulated day ends with costcap's spend equal to what the provider billed."""
    assert run(["demo", "--calls", "80", "--users", "6", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "$405.00" in out
    assert "exact to the picodollar" in out
    assert (tmp_path / "costcap.db").exists()
