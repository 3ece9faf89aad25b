"""``costcap prices`` lists every price window of a model: its UTC hours and its prices.

``acme-offpeak`` (tests/price_windows.py) costs $3 / $15 per million input / output tokens, and
$1.50 / $7.50 from 20:00 to 04:00 UTC.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import error, out
from tests.price_windows import OFF_PEAK, cli_with_offpeak, runs_at


@pytest.fixture(autouse=True)
def model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """acme-offpeak priced, the command run at a peak minute (10:00 UTC)."""
    yield from cli_with_offpeak(monkeypatch, tmp_path)


def prices(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(out(capsys, ["prices", *argv, "--json"]))
    return data


def rows(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in text.splitlines()]


def test_the_table_has_a_row_per_window(capsys: pytest.CaptureFixture[str]) -> None:
    """Both windows with their UTC hours and prices, not one 'standard' row."""
    table = rows(out(capsys, ["prices", "acme-offpeak"]))
    assert ["04:00–20:00 UTC", "$3.00", "$15.00", "$3.00", "$3.00"] in table
    assert ["20:00–04:00 UTC", "$1.50", "$7.50", "$1.50", "$1.50"] in table


def test_the_table_says_which_window_is_in_force(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runs_at(monkeypatch, OFF_PEAK)
    text = out(capsys, ["prices", "acme-offpeak"])
    assert "in force at 2026-03-02 22:00 UTC: the 20:00–04:00 UTC prices" in text


def test_json_lists_every_window(capsys: pytest.CaptureFixture[str]) -> None:
    data = prices(capsys, "acme-offpeak")
    assert [
        (w["hours_utc"], w["input_per_mtok_usd"], w["output_per_mtok_usd"], w["in_force"])
        for w in data["windows"]
    ] == [
        ([{"from": "04:00", "until": "20:00"}], "3.00", "15.00", True),
        ([{"from": "20:00", "until": "04:00"}], "1.50", "7.50", False),
    ]


@pytest.mark.parametrize(
    ("options", "input_price", "at"),
    [
        ([], "3.00", "2026-03-02T10:00:00+00:00"),
        (["--at", "2026-03-02T22:00Z"], "1.50", "2026-03-02T22:00:00+00:00"),
    ],
)
def test_the_top_level_prices_are_those_in_force(
    options: list[str], input_price: str, at: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Now (the injected 10:00 UTC) or at --at: its instant and the prices in force then."""
    data = prices(capsys, "acme-offpeak", *options)
    assert (data["input_per_mtok_usd"], data["at"]) == (input_price, at)


def test_one_price_all_day(capsys: pytest.CaptureFixture[str]) -> None:
    """Sonnet 4.5: one window, all day, with its long-context tier under it."""
    table = rows(out(capsys, ["prices", "claude-sonnet-4-5-20250929"]))
    assert ["all day", "$3.00", "$15.00", "$0.30", "$3.75"] in table
    assert ["input > 200,000 tokens", "$6.00", "$22.50", "$0.60", "$7.50"] in table


def test_a_bad_at_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert "'noon' is not an ISO datetime" in error(
        capsys, ["prices", "acme-offpeak", "--at", "noon"]
    )
