"""``costcap report …`` over extreme ranges, empty results and narrow terminals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from costcap.reports import _spend
from costcap.reports._range import Granularity, buckets
from tests.cli.helpers import error, out, write_ledger

SPEND_REPORTS = ["features", "users", "per-user", "models", "time", "cache", "refused"]


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test events (2026-03-01 … 2026-03-10, nothing on 03-05) in a SQLite ledger."""
    return write_ledger(f"sqlite:///{tmp_path_factory.mktemp('ranges') / 'ledger.db'}")


@pytest.mark.parametrize("command", SPEND_REPORTS)
@pytest.mark.parametrize(
    "bounds",
    [
        ["--until", "9999-12-31"],
        ["--since", "0001-01-01"],
        ["--since", "0001-01-01", "--until", "9999-12-31"],
        ["--until", "9999-12-31T23:59:59.999999Z"],
    ],
)
def test_far_dates_cover_everything(
    ledger: str, command: str, bounds: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The first and last dates there are bound a range like any other: every call is in it."""
    everything = out(capsys, ["report", command, "--ledger", ledger, "--csv"])
    assert out(capsys, ["report", command, "--ledger", ledger, "--csv", *bounds]) == everything


@pytest.mark.parametrize("command", SPEND_REPORTS)
def test_a_range_after_the_last_day_there_is_empty(
    ledger: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--since 9999-12-31``: no call can be that late; the report says so."""
    text = out(capsys, ["report", command, "--ledger", ledger, "--since", "9999-12-31"])
    calls = "refused calls" if command == "refused" else "calls"
    assert text == f"no {calls} since 9999-12-31\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--since", "9999-12-31T12:00Z"], "--since: 9999-12-31T12:00:00+00:00 is too late"),
        (["--until", "0001-01-01T00:00Z"], "--until: 0001-01-01T00:00:00+00:00 is too early"),
        (["--until", "0001-01-01T00:00+05:00"], "is out of range in UTC"),
    ],
)
def test_instants_past_the_ends_of_time_are_refused(
    ledger: str, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An instant with no day after (--since) or before (--until) it: exit 2, one line."""
    assert message in error(capsys, ["report", "features", "--ledger", ledger, *argv])


def test_anomalies_at_the_beginning_of_time_are_refused(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Anomalies look back a week: an --until in the first days of year 1 is refused."""
    argv = ["report", "anomalies", "--ledger", ledger, "--until", "0001-01-03T00:00Z"]
    assert "Invalid value for --until: 0001-01-03T00:00:00+00:00 is too early" in error(
        capsys, argv
    )


def test_anomalies_at_the_end_of_time_find_nothing(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing was spent in the week before the last instant there is."""
    argv = ["report", "anomalies", "--ledger", ledger, "--until", "9999-12-31T23:59:59Z"]
    assert out(capsys, argv) == "no anomalies as of 9999-12-31T23:59:59+00:00\n"


@pytest.fixture
def counted_buckets(monkeypatch: pytest.MonkeyPatch) -> list[date]:
    """Every bucket ``spend_over_time`` walks; more than 10,000 fails the test at once."""
    walked: list[date] = []

    def counting(first: date, last: date, granularity: Granularity) -> Iterator[date]:
        for start in buckets(first, last, granularity):
            walked.append(start)
            assert len(walked) <= 10_000, "walked more than 10,000 buckets"
            yield start

    monkeypatch.setattr(_spend, "buckets", counting)
    return walked


@pytest.mark.parametrize(
    "bounds",
    [
        ["--since", "0001-01-01"],
        ["--until", "9999-12-31"],
        ["--since", "0001-01-01", "--until", "9999-12-31"],
    ],
)
def test_time_over_millennia_walks_only_the_days_with_calls(
    ledger: str, bounds: list[str], counted_buckets: list[date], capsys: pytest.CaptureFixture[str]
) -> None:
    """Per day over 10,000 years: the buckets listed run from the first day with calls to the
    last (March 1-10, 2026: ten days, the empty 5th at zero), and no other day is walked."""
    argv = ["report", "time", "--ledger", ledger, "--json", "--granularity", "day", *bounds]
    rows = json.loads(out(capsys, argv))
    assert [r["start"] for r in rows] == [f"2026-03-{d:02d}" for d in range(1, 11)]
    assert rows[4]["calls"] == 0
    assert len(counted_buckets) == 10


def test_time_over_a_decade_still_lists_its_empty_days(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Up to ten years of days, every bucket of the range is listed: 2020-01-01 … 2026-03-10
    per month is 6 × 12 + 3 = 75 months, the 72 before 2026 at zero."""
    argv = ["report", "time", "--ledger", ledger, "--json", "--granularity", "month"]
    rows = json.loads(out(capsys, [*argv, "--since", "2020-01-01"]))
    assert len(rows) == 75
    assert (rows[0]["start"], rows[0]["calls"]) == ("2020-01-01", 0)
    assert rows[-1]["start"] == "2026-03-01"


@pytest.mark.parametrize("granularity", ["day", "week", "month"])
def test_time_in_the_last_bucket_there_is(
    ledger: str, granularity: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A range in the last days of year 9999 lists its buckets without stepping past the last
    date: Dec 27-31 is 5 days (9999-12-27 is a Monday), one week, one month."""
    argv = ["report", "time", "--ledger", ledger, "--json", "--granularity", granularity]
    rows = json.loads(out(capsys, [*argv, "--since", "9999-12-27", "--until", "9999-12-31T12:00Z"]))
    expected = {"day": 5, "week": 1, "month": 1}[granularity]
    assert len(rows) == expected
    assert all(r["calls"] == 0 for r in rows)


def test_the_option_is_named_once_in_a_bad_date(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``Invalid value for --since: 'foo' is not a date…`` (not ``--since: --since: …``)."""
    err = error(capsys, ["report", "features", "--ledger", ledger, "--since", "foo"])
    assert err.count("--since") == 1, err
    assert "Invalid value for --since: 'foo' is not a date" in err


EMPTY_DAY = ["--since", "2026-03-05", "--until", "2026-03-05"]  # no call that day
ODD_PAIR = ["--model", "x", "--feature", "y"]


@pytest.mark.parametrize(
    ("command", "argv", "line"),
    [
        ("features", ["--user", "nobody"], "no calls of user=nobody in the ledger"),
        ("users", ["--since", "2027-01-01"], "no calls since 2027-01-01"),
        ("per-user", ["--until", "2026-02-01"], "no calls until 2026-02-01"),
        ("models", ODD_PAIR, "no calls of feature=y, model=x in the ledger"),
        ("cache", EMPTY_DAY, "no calls from 2026-03-05 to 2026-03-05"),
        ("time", EMPTY_DAY, "no calls from 2026-03-05 to 2026-03-05"),
        ("refused", ["--user", "nobody"], "no refused calls of user=nobody in the ledger"),
    ],
)  # fmt: skip
def test_an_empty_report_says_there_are_no_calls(
    ledger: str, command: str, argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A report with nothing to show prints one line saying so, not an empty table."""
    assert out(capsys, ["report", command, "--ledger", ledger, *argv]) == f"{line}\n"


def test_an_empty_report_in_json_is_an_empty_list(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        json.loads(out(capsys, ["report", "features", "--ledger", ledger, "--user", "x", "--json"]))
        == []
    )


NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)


def test_pacing_status_is_never_cut_short(
    ledger: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At 120 columns the status of a budget is shown whole (``trending under``, wrapped at
    its space if it must), never ``trending_…``."""
    from costcap import guard_core

    real = guard_core.config_kwargs
    monkeypatch.setattr(
        guard_core, "config_kwargs", lambda path, over: {**real(path, over), "clock": lambda: NOW}
    )
    monkeypatch.setenv("COLUMNS", "120")
    config = tmp_path / "costcap.toml"
    config.write_text(
        f'[guard]\nstore = "sqlite:///{tmp_path / "store.db"}"\n[ledger]\nurl = "{ledger}"\n'
        '[[budgets]]\nscope = "global"\nperiod = "month"\nlimit_usd = "10"\n'
        '[[budgets]]\nscope = "user:*"\nperiod = "month"\nlimit_usd = "10000"\n'
    )
    text = out(capsys, ["report", "pacing", "--config", str(config), "--user", "user-03"])
    assert "…" not in text
    cells = [line.split("│")[-3].strip() for line in text.splitlines() if line.startswith("│")]
    assert " ".join(c for c in cells if c) == "trending under trending under"
