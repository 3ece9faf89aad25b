"""``costcap prices`` and ``costcap budgets``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from costcap.cli.app import run


def test_prices_json_has_the_long_context_tier(capsys: pytest.CaptureFixture[str]) -> None:
    """Sonnet 4.5 costs $3/$15 per million tokens, $6/$22.50 above 200k input tokens."""
    assert run(["prices", "claude-sonnet-4-5-20250929", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["input_per_mtok_usd"], data["output_per_mtok_usd"]) == ("3.00", "15.00")
    tier = data["long_context"][0]
    assert (tier["above_input_tokens"], tier["input_per_mtok_usd"]) == (200000, "6.00")
    assert tier["output_per_mtok_usd"] == "22.50"


def test_prices_of_an_unknown_model_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown model names close matches on one stderr line."""
    assert run(["prices", "gpt-9"]) == 2
    assert "did you mean" in capsys.readouterr().err


def test_budgets_shows_the_configured_budgets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``costcap budgets --json`` lists each budget with its limit and zero spend."""
    config = tmp_path / "costcap.toml"
    config.write_text(
        f'[guard]\nstore = "sqlite:///{tmp_path / "c.db"}"\n'
        '[[budgets]]\nscope = "global"\nperiod = "day"\nlimit_usd = "25"\n'
    )
    assert run(["budgets", "--config", str(config), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["budget"] == "global/day"
    assert rows[0]["limit_usd"] == "25.00"
    assert rows[0]["spent_usd"] == "0.00"


def test_budgets_without_a_config_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no costcap.toml to read, the command says so on one line."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSTCAP_CONFIG", raising=False)
    assert run(["budgets"]) == 2
    assert "no costcap.toml" in capsys.readouterr().err
