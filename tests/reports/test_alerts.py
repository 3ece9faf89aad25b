"""``Reports.alerts``: the alerts fired, newest first, money exact; the range (dates: whole days,
the end included; datetimes: ``until`` excluded), the kind and the limit; bad kinds and limits
refused; a ledger older than the alerts table lists none and stays as it was (SQLite and
PostgreSQL, opened read-only)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from costcap.reports import AlertRecord, Reports
from tests.fired import HISTORY, write_alerts
from tests.ledger.older import execute, make_older
from tests.reports.conftest import LEDGER_BACKENDS, ledger_url
from tests.reports.ledger import EVENTS
from tests.services import drop_postgres_schema


@pytest.fixture(scope="module", params=LEDGER_BACKENDS)
def reports(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Reports]:
    """Reports, read-only, over a ledger holding the five test alerts (the first two written
    twice, as a replayed spool would)."""
    url = write_alerts(ledger_url(request.param, tmp_path_factory), HISTORY[:2])
    write_alerts(url)
    with Reports.open(url) as opened:
        yield opened
    if request.param == "postgres":
        drop_postgres_schema(url)


def _seen(rows: list[AlertRecord]) -> list[tuple[datetime, str, str]]:
    return [(r.at, r.kind, r.member) for r in rows]


def test_alerts_come_newest_first(reports: Reports) -> None:
    """The pacing alert fired after the exhausted one at the same instant: listed before it."""
    assert _seen(reports.alerts()) == [
        (datetime(2026, 3, 6, 23, 59, 59, tzinfo=UTC), "anomaly", "user:bob"),
        (datetime(2026, 3, 5, 9, tzinfo=UTC), "pacing", ""),
        (datetime(2026, 3, 5, 9, tzinfo=UTC), "exhausted", ""),
        (datetime(2026, 3, 4, 15, 30, tzinfo=UTC), "threshold", "ann"),
        (datetime(2026, 3, 4, 10, tzinfo=UTC), "threshold", "ann"),
    ]


def test_money_is_exact_to_the_picodollar(reports: Reports) -> None:
    anomaly = reports.alerts(kind="anomaly")[0]
    assert (anomaly.spent_usd, anomaly.limit_usd, anomaly.threshold_pct) == (
        Decimal("4.123700000001"), Decimal("1.000000000001"), Decimal("412.37")
    )  # fmt: skip


def test_a_record_has_every_field_of_its_alert(reports: Reports) -> None:
    """The exhausted alert: its budget, period, figures and message as it was sent."""
    assert reports.alerts(kind="exhausted") == [
        AlertRecord(
            at=datetime(2026, 3, 5, 9, tzinfo=UTC),
            kind="exhausted",
            budget="global/day",
            member="",
            period="2026-03-05",
            threshold_pct=Decimal(100),
            spent_usd=Decimal("0.9"),
            limit_usd=Decimal(1),
            message="costcap: budget global/day has no room left for 2026-03-05: $0.9 spent + "
            "$0.05 in flight of $1; calls that could pass it are refused until "
            "2026-03-06T00:00:00+00:00",
            mode="hard",
            reserved_usd=Decimal("0.05"),
            requested_usd=Decimal(0),
            projected_usd=None,
            resets_at=datetime(2026, 3, 6, tzinfo=UTC),
            exhausts_at=None,
            detail="",
        )
    ]


def test_a_pacing_alert_keeps_its_projection(reports: Reports) -> None:
    (pacing,) = reports.alerts(kind="pacing")
    assert (pacing.projected_usd, pacing.exhausts_at, pacing.resets_at) == (
        Decimal("36.15"),
        datetime(2026, 3, 26, 7, 12, tzinfo=UTC),
        datetime(2026, 4, 1, tzinfo=UTC),
    )


def test_the_times_are_aware_utc(reports: Reports) -> None:
    assert {r.at.utcoffset() for r in reports.alerts()} == {timedelta(0)}


def test_dates_are_whole_days_the_end_included(reports: Reports) -> None:
    """The 5th to the 5th: both alerts of the 5th, none of the 4th or the 6th."""
    rows = reports.alerts(since=date(2026, 3, 5), until=date(2026, 3, 5))
    assert [r.kind for r in rows] == ["pacing", "exhausted"]


def test_datetimes_include_since_and_exclude_until(reports: Reports) -> None:
    """From 15:30 on the 4th (ann's 100 %) up to 09:00 on the 5th (excluded)."""
    rows = reports.alerts(
        since=datetime(2026, 3, 4, 15, 30, tzinfo=UTC), until=datetime(2026, 3, 5, 9, tzinfo=UTC)
    )
    assert [(r.kind, r.threshold_pct) for r in rows] == [("threshold", Decimal(100))]


def test_a_range_in_another_zone_reads_in_utc(reports: Reports) -> None:
    """Since 01:00 on the 7th at UTC+2 is 23:00 on the 6th in UTC: the anomaly only."""
    since = datetime(2026, 3, 7, 1, tzinfo=timezone(timedelta(hours=2)))
    assert [r.kind for r in reports.alerts(since=since)] == ["anomaly"]


def test_a_kind_lists_that_kind_only(reports: Reports) -> None:
    assert _seen(reports.alerts(kind="threshold")) == [
        (datetime(2026, 3, 4, 15, 30, tzinfo=UTC), "threshold", "ann"),
        (datetime(2026, 3, 4, 10, tzinfo=UTC), "threshold", "ann"),
    ]


def test_a_kind_that_never_fired_lists_nothing(reports: Reports) -> None:
    assert reports.alerts(kind="oversized") == []


def test_the_limit_keeps_the_newest(reports: Reports) -> None:
    assert [r.kind for r in reports.alerts(limit=2)] == ["anomaly", "pacing"]


def test_the_limit_may_be_ten_thousand(reports: Reports) -> None:
    assert len(reports.alerts(limit=10_000)) == 5


def test_a_kind_that_is_not_an_alerts_is_refused_naming_them(reports: Reports) -> None:
    with pytest.raises(
        ValueError, match=r"one of threshold, exhausted, oversized, pacing, anomaly"
    ):
        reports.alerts(kind="warning")


@pytest.mark.parametrize("limit", [0, -1, 10_001, True])
def test_a_limit_out_of_range_is_refused(reports: Reports, limit: int) -> None:
    with pytest.raises(ValueError, match=r"limit must be 1\.\.10,000"):
        reports.alerts(limit=limit)


def test_a_naive_datetime_is_refused(reports: Reports) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        reports.alerts(since=datetime(2026, 3, 5))


@pytest.fixture(params=LEDGER_BACKENDS)
def older_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A version-6 ledger (no alerts table) holding a few events."""
    url = ledger_url(request.param, tmp_path_factory)
    make_older(url, 6, EVENTS[:5])
    yield url
    if request.param == "postgres":
        drop_postgres_schema(url)


def test_a_ledger_older_than_the_table_lists_none(older_url: str) -> None:
    with Reports.open(older_url) as reports:
        assert reports.alerts() == []


def test_a_ledger_older_than_the_table_is_not_migrated(older_url: str) -> None:
    with Reports.open(older_url) as reports:
        reports.alerts()
    assert execute(older_url, "SELECT value FROM costcap_ledger_meta") == [("6",)]
