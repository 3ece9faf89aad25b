"""``costcap estimate --service-tier``: the plan priced at a tier's published prices.

gpt-5 per million tokens (OpenAI's published prices): standard $1.25 in / $10 out, priority
$2.50 / $20, flex $0.625 / $5; claude-opus-4-8 standard $5 / $25, fast mode $10 / $50.
"""

from __future__ import annotations

import json

import pytest

from costcap.cli.app import run
from tests.cli.helpers import error

GPT5 = [
    "estimate", "--model", "gpt-5", "--daily-calls", "1000",
    "--input-tokens", "10000", "--output-tokens", "2000",
]  # fmt: skip


def per_call(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert run([*argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    return str(data["per_call_usd"])


@pytest.mark.parametrize(
    ("tier", "usd"),
    [
        (None, "0.0325"),  # 10,000 x $1.25/M + 2,000 x $10/M
        ("priority", "0.065"),  # 10,000 x $2.50/M + 2,000 x $20/M
        ("flex", "0.01625"),  # 10,000 x $0.625/M + 2,000 x $5/M
    ],
)
def test_gpt5_per_call_at_each_tier(
    tier: str | None, usd: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = GPT5 if tier is None else [*GPT5, "--service-tier", tier]
    assert per_call(argv, capsys) == usd


def test_anthropic_fast_mode(capsys: pytest.CaptureFixture[str]) -> None:
    """claude-opus-4-8 fast: 10,000 x $10/M + 2,000 x $50/M = $0.20."""
    argv = [*GPT5[:2], "claude-opus-4-8", *GPT5[3:], "--service-tier", "fast"]
    assert per_call(argv, capsys) == "0.20"


def test_the_json_names_the_tier(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([*GPT5, "--service-tier", "priority", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["service_tier"] == "priority"


def test_the_table_title_names_the_tier(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([*GPT5, "--service-tier", "flex"]) == 0
    assert "flex tier" in capsys.readouterr().out


def test_an_unknown_tier_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    message = error(capsys, [*GPT5, "--service-tier", "gold"])
    assert "--service-tier" in message
    assert "not 'gold'" in message
