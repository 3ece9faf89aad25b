"""``costcap estimate`` over prices that change with the time of day: a day's average weighted
by a traffic profile (``--profile``, ``--timezone``, ``[estimate]``), or one instant (``--at``).

``acme-offpeak`` (tests/price_windows.py) costs $3 / $15 per million input / output tokens, half
that from 20:00 to 04:00 UTC. The workload is 1,200 calls a day of 2,000 in / 500 out, 30 days:

    standard call = 2,000 × $3/1M + 500 × $15/1M = $0.0135; off-peak call = $0.00675
    36,000 standard calls = $486.00; 36,000 off-peak calls = $243.00
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import error, out
from tests.price_windows import OFF_PEAK, PEAK, cli_with_offpeak, runs_at

WORKLOAD = [
    "estimate", "--model", "acme-offpeak", "--daily-calls", "1200",
    "--input-tokens", "2000", "--output-tokens", "500",
]  # fmt: skip


@pytest.fixture(autouse=True)
def model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """acme-offpeak priced, the command run at a peak minute (10:00 UTC)."""
    yield from cli_with_offpeak(monkeypatch, tmp_path)


def estimate(capsys: pytest.CaptureFixture[str], *options: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(out(capsys, [*WORKLOAD, *options, "--json"]))
    return data


@pytest.mark.parametrize("moment", [PEAK, OFF_PEAK])
def test_the_estimate_does_not_depend_on_the_minute_it_runs(
    moment: datetime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Uniform traffic by default: (16 h × $0.0135 + 8 h × $0.00675) / 24 h = $0.01125 a call,
    × 36,000 = $405.00, whether it runs at 10:00 or at 22:00 UTC."""
    runs_at(monkeypatch, moment)
    data = estimate(capsys)
    assert (data["per_call_usd"], data["monthly_usd"]) == ("0.01125", "405.00")


def test_json_lists_the_price_windows(capsys: pytest.CaptureFixture[str]) -> None:
    """Each window: its UTC hours, share of the calls, prices and cost of a call."""
    data = estimate(capsys)
    assert [
        (w["hours_utc"], w["input_per_mtok_usd"], w["per_call_usd"]) for w in data["price_windows"]
    ] == [
        ([{"from": "04:00", "until": "20:00"}], "3.00", "0.0135"),
        ([{"from": "20:00", "until": "04:00"}], "1.50", "0.00675"),
    ]
    assert data["traffic_profile"]["name"] == "uniform"
    assert data["priced_at"] is None


def test_the_table_shows_each_windows_share(capsys: pytest.CaptureFixture[str]) -> None:
    """The windows table: 04:00–20:00 carries 66.7 % of the calls, 20:00–04:00 33.3 %."""
    text = out(capsys, WORKLOAD)
    assert "$405.00" in text
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in text.splitlines()]
    assert ["04:00–20:00", "$3.00", "$15.00", "66.7%", "$0.0135"] in rows
    assert ["20:00–04:00", "$1.50", "$7.50", "33.3%", "$0.00675"] in rows


def test_business_hours(capsys: pytest.CaptureFixture[str]) -> None:
    """09:00-17:00 UTC is all standard: 36,000 × $0.0135 = $486.00."""
    assert estimate(capsys, "--profile", "business-hours")["monthly_usd"] == "486.00"


def test_business_hours_in_a_time_zone(capsys: pytest.CaptureFixture[str]) -> None:
    """09:00-17:00 at -05:00 is 14:00-22:00 UTC: (6 × 1 + 2 × 0.5) / 8 = 7/8 of $486.00
    = $425.25."""
    data = estimate(capsys, "--profile", "business-hours", "--timezone", "-05:00")
    assert data["monthly_usd"] == "425.25"


def test_a_profile_of_24_weights(capsys: pytest.CaptureFixture[str]) -> None:
    """All traffic at 03:00 (off-peak) and 04:00 (standard), equally:
    ($0.00675 + $0.0135) / 2 × 36,000 = $364.50."""
    weights = ["0"] * 24
    weights[3] = weights[4] = "1"
    assert estimate(capsys, "--profile", ",".join(weights))["monthly_usd"] == "364.50"


@pytest.mark.parametrize(
    ("at", "expected"),
    [("2026-03-02T10:00Z", "486.00"), ("2026-03-02T22:00:00+00:00", "243.00"),
     ("2026-03-02T23:00+01:00", "243.00")],
)  # fmt: skip
def test_at_pins_an_instant(at: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--at prices every call at the prices in force then (23:00 at +01:00 is 22:00 UTC)."""
    data = estimate(capsys, "--at", at)
    assert data["monthly_usd"] == expected
    assert data["traffic_profile"] is None


def test_at_names_the_prices_it_used(capsys: pytest.CaptureFixture[str]) -> None:
    text = out(capsys, [*WORKLOAD, "--at", "2026-03-02T22:00Z"])
    assert "priced at 2026-03-02T22:00:00+00:00: the 20:00–04:00 UTC prices" in text


def test_the_config_file_sets_the_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """[estimate] profile and timezone: 7/8 of $486.00 = $425.25, as with the options."""
    config = tmp_path / "costcap.toml"
    config.write_text('[estimate]\nprofile = "business-hours"\ntimezone = "-05:00"\n')
    assert estimate(capsys, "--config", str(config))["monthly_usd"] == "425.25"


def test_options_win_over_the_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--profile uniform replaces the file's profile: $405.00."""
    config = tmp_path / "costcap.toml"
    config.write_text('[estimate]\nprofile = "business-hours"\n')
    assert estimate(capsys, "--config", str(config), "--profile", "uniform")["monthly_usd"] == (
        "405.00"
    )


def test_the_config_file_takes_24_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A list of numbers, as TOML writes them: hours 3 and 4 only, $364.50."""
    weights = ["0"] * 24
    weights[3], weights[4] = "0.5", "0.5"
    config = tmp_path / "costcap.toml"
    config.write_text(f"[estimate]\nprofile = [{', '.join(weights)}]\n")
    assert estimate(capsys, "--config", str(config))["monthly_usd"] == "364.50"


def test_a_config_with_estimate_still_configures_the_guard(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Guard's reader accepts the [estimate] table: costcap budgets reads the same file."""
    config = tmp_path / "costcap.toml"
    config.write_text(
        f'[guard]\nstore = "sqlite:///{tmp_path / "c.db"}"\n'
        '[estimate]\nprofile = "business-hours"\n'
    )
    assert json.loads(out(capsys, ["budgets", "--config", str(config), "--json"])) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--at", "yesterday"], "Invalid value for --at: 'yesterday' is not an ISO datetime"),
        (["--at", "2026-03-02"], "is a date; give an ISO datetime"),
        (["--at", "9999-12-31T23:00Z"], "out of range"),
        (["--profile", "1,2,3"], "--profile: a traffic profile needs 24 weights"),
        (["--profile", ",".join(["1"] * 23 + ["-2"])], "hour 23: a weight must not be negative"),
        (["--profile", ",".join(["0"] * 24)], "needs some traffic"),
        (["--profile", "nights"], "unknown profile 'nights'"),
        (["--timezone", "Mars/Base"], "unknown time zone 'Mars/Base'"),
        (["--at", "2026-03-02T22:00Z", "--profile", "uniform"], "cannot be combined with --at"),
        (["--at", "2026-03-02T22:00Z", "--timezone", "UTC"], "cannot be combined with --at"),
    ],
)
def test_bad_timing_is_one_line(
    options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 and one readable line, no traceback."""
    assert message in error(capsys, [*WORKLOAD, *options])


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            "profile = [1, 2]",
            "estimate.profile: a traffic profile needs 24 weights, one per hour 0-23 (got 2)",
        ),
        ('timezone = "Nowhere/Land"', "estimate.timezone: unknown time zone"),
        ("profile = 5", "estimate.profile: must be a name or a list of 24 weights"),
        ("hours = 5", "estimate.hours: unknown key"),
    ],
)
def test_a_bad_estimate_table_is_one_line(
    table: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "costcap.toml"
    config.write_text(f"[estimate]\n{table}\n")
    assert message in error(capsys, [*WORKLOAD, "--config", str(config)])
