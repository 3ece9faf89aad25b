"""Spend over time split by feature, model or user (``Reports.over_time_by``), on SQLite and
PostgreSQL: a ledger small enough to work its buckets out by hand, then the random test ledger
against plain-Python sums of its events and against ``over_time``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from costcap.ledger import CostEvent
from costcap.reports import OTHER_GROUP, Granularity, Reports, StackedBucket
from tests.reports.conftest import LEDGER_BACKENDS, reports_over
from tests.reports.ledger import _CENT, EVENTS, select

FEB_27, MAR_1 = date(2026, 2, 27), date(2026, 3, 1)
MAR_2, MAR_3 = date(2026, 3, 2), date(2026, 3, 3)
WEEK_FEB_23, WEEK_MAR_2 = date(2026, 2, 23), date(2026, 3, 2)  # Mondays (Feb 27 is a Friday)


def _call(  # noqa: PLR0917 - one line per call in CALLS below
    name: str, day: date, hour: int, feature: str | None, model: str, user: str | None, cents: int
) -> CostEvent:
    """One call at ``hour`` UTC on ``day`` costing ``cents`` (0 cents: refused)."""
    return CostEvent(
        request_id=name,
        ts=datetime(day.year, day.month, day.day, hour, tzinfo=UTC),
        status="ok" if cents else "refused",
        model=model,
        user_id=user,
        feature=feature,
        input_tokens=100 if cents else 0,
        output_tokens=50 if cents else 0,
        cost_pico=cents * _CENT,
        refused_by=None if cents else "budget user:*/day",
    )


# Spend by feature: chat 50¢, search 40¢, code 20¢, no feature 12¢, triage 5¢ (and a refusal).
# By model: gpt-4o 90¢, gpt-4o-mini 37¢. By user: alice 65¢, bob 42¢, no user 20¢.
CALLS = [
    _call("chat-1", FEB_27, 9, "chat", "gpt-4o-mini", "alice", 10),
    _call("chat-2", FEB_27, 10, "chat", "gpt-4o-mini", "alice", 10),
    _call("bare", FEB_27, 15, None, "gpt-4o-mini", "bob", 12),
    _call("search-1", MAR_1, 11, "search", "gpt-4o", "bob", 25),
    _call("refused", MAR_1, 12, "triage", "gpt-4o-mini", None, 0),
    _call("chat-3", MAR_2, 9, "chat", "gpt-4o", "alice", 30),
    _call("code", MAR_2, 13, "code", "gpt-4o", None, 20),
    _call("search-2", MAR_3, 8, "search", "gpt-4o", "alice", 15),
    _call("triage", MAR_3, 16, "triage", "gpt-4o-mini", "bob", 5),
]


def b(start: date, group: str, calls: int, cents: int) -> StackedBucket:
    return StackedBucket(start=start, group=group, calls=calls, cost_usd=Decimal(cents) / 100)


@pytest.fixture(scope="module", params=LEDGER_BACKENDS)
def reports(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Reports]:
    """Reports over CALLS, written through the ledger's sink."""
    yield from reports_over(CALLS, request.param, tmp_path_factory)


def test_every_feature_by_day(reports: Reports) -> None:
    """Five features, fewer than the top 8: each keeps its name, no "(other)"; a day without
    calls (Feb 28) has no row; in a day, the features come by their spend over the range."""
    assert reports.over_time_by(by="feature") == [
        b(FEB_27, "chat", 2, 20),
        b(FEB_27, "(no feature)", 1, 12),
        b(MAR_1, "search", 1, 25),
        b(MAR_1, "triage", 1, 0),  # refused: a call, $0
        b(MAR_2, "chat", 1, 30),
        b(MAR_2, "code", 1, 20),
        b(MAR_3, "search", 1, 15),
        b(MAR_3, "triage", 1, 5),
    ]


def test_the_top_two_and_the_other_by_day(reports: Reports) -> None:
    """top=2 keeps chat (50¢) and search (40¢); code, no feature and triage are "(other)"."""
    assert reports.over_time_by(by="feature", top=2) == [
        b(FEB_27, "chat", 2, 20),
        b(FEB_27, OTHER_GROUP, 1, 12),
        b(MAR_1, "search", 1, 25),
        b(MAR_1, OTHER_GROUP, 1, 0),
        b(MAR_2, "chat", 1, 30),
        b(MAR_2, OTHER_GROUP, 1, 20),
        b(MAR_3, "search", 1, 15),
        b(MAR_3, OTHER_GROUP, 1, 5),
    ]


def test_weeks_start_on_monday(reports: Reports) -> None:
    """Feb 27 and Mar 1 fold into the week of Monday Feb 23, Mar 2 and 3 into the next."""
    assert reports.over_time_by(by="feature", top=2, granularity="week") == [
        b(WEEK_FEB_23, "chat", 2, 20),
        b(WEEK_FEB_23, "search", 1, 25),
        b(WEEK_FEB_23, OTHER_GROUP, 2, 12),  # no feature 12¢ + the refusal
        b(WEEK_MAR_2, "chat", 1, 30),
        b(WEEK_MAR_2, "search", 1, 15),
        b(WEEK_MAR_2, OTHER_GROUP, 2, 25),  # code 20¢ + triage 5¢
    ]


def test_months_keep_the_rank_of_the_whole_range(reports: Reports) -> None:
    """In March search spent more (40¢) than chat (30¢), yet chat comes first: over the range
    it spent 50¢."""
    assert reports.over_time_by(by="feature", top=2, granularity="month") == [
        b(date(2026, 2, 1), "chat", 2, 20),
        b(date(2026, 2, 1), OTHER_GROUP, 1, 12),
        b(date(2026, 3, 1), "chat", 1, 30),
        b(date(2026, 3, 1), "search", 2, 40),
        b(date(2026, 3, 1), OTHER_GROUP, 3, 25),
    ]


def test_by_model(reports: Reports) -> None:
    """gpt-4o 90¢ before gpt-4o-mini 37¢."""
    assert reports.over_time_by(by="model", granularity="month") == [
        b(date(2026, 2, 1), "gpt-4o-mini", 3, 32),
        b(date(2026, 3, 1), "gpt-4o", 4, 90),
        b(date(2026, 3, 1), "gpt-4o-mini", 2, 5),
    ]


def test_by_user_names_calls_without_one(reports: Reports) -> None:
    """alice 65¢, bob 42¢, then the calls without a user (20¢) as "(no user)"."""
    assert reports.over_time_by(by="user", granularity="week") == [
        b(WEEK_FEB_23, "alice", 2, 20),
        b(WEEK_FEB_23, "bob", 2, 37),
        b(WEEK_FEB_23, "(no user)", 1, 0),
        b(WEEK_MAR_2, "alice", 2, 45),
        b(WEEK_MAR_2, "bob", 1, 5),
        b(WEEK_MAR_2, "(no user)", 1, 20),
    ]


def test_the_top_is_ranked_within_the_range(reports: Reports) -> None:
    """From Mar 1 to Mar 2: chat 30¢ beats search 25¢ there; the rest is "(other)"."""
    rows = reports.over_time_by(by="feature", top=1, since=MAR_1, until=MAR_2)
    assert rows == [
        b(MAR_1, OTHER_GROUP, 2, 25),
        b(MAR_2, "chat", 1, 30),
        b(MAR_2, OTHER_GROUP, 1, 20),
    ]


@pytest.mark.parametrize(
    ("filters", "rows"),
    [
        ({"feature": "chat"}, [b(FEB_27, "gpt-4o-mini", 2, 20), b(MAR_2, "gpt-4o", 1, 30)]),
        ({"user": "bob"}, [b(FEB_27, "gpt-4o-mini", 1, 12), b(MAR_1, "gpt-4o", 1, 25),
                           b(MAR_3, "gpt-4o-mini", 1, 5)]),
        ({"model": "gpt-4o", "user": "alice"}, [b(MAR_2, "gpt-4o", 1, 30),
                                                b(MAR_3, "gpt-4o", 1, 15)]),
        ({"user": "carol"}, []),
    ],
    ids=str,
)  # fmt: skip
def test_filters(reports: Reports, filters: dict[str, str], rows: list[StackedBucket]) -> None:
    """Feature, user and model filters keep only their calls."""
    assert reports.over_time_by(by="model", **filters) == rows  # type: ignore[arg-type]


def test_an_instant_range_cuts_a_day(reports: Reports) -> None:
    """From Feb 27 at noon: that day's morning chat calls are out, the 15:00 call in (read from
    the events of the partial day)."""
    since = datetime(2026, 2, 27, 12, tzinfo=UTC)
    rows = reports.over_time_by(by="feature", since=since, until=date(2026, 3, 1))
    assert rows == [b(FEB_27, "(no feature)", 1, 12), b(MAR_1, "search", 1, 25),
                    b(MAR_1, "triage", 1, 0)]  # fmt: skip


def test_calls_without_a_user_in_the_top_over_a_partial_day(reports: Reports) -> None:
    """From Mar 2 at 09:30 (chat-3 at 09:00 is out): no user 20¢ (code, 13:00, read from the
    events of the partial day), alice 15¢, bob 5¢; top 1 keeps "(no user)"."""
    since = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert reports.over_time_by(by="user", top=1, since=since) == [
        b(MAR_2, "(no user)", 1, 20),
        b(MAR_3, OTHER_GROUP, 2, 20),
    ]


@pytest.mark.parametrize("top", [0, -1, 51])
def test_top_outside_1_to_50_is_refused(reports: Reports, top: int) -> None:
    with pytest.raises(ValueError, match=f"top must be 1..50, not {top}"):
        reports.over_time_by(by="feature", top=top)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"by": "team"}, "by must be one of feature, model, user, not 'team'"),
        ({"by": "feature", "granularity": "year"}, "granularity must be one of"),
        ({"by": "feature", "user": ""}, "the user filter must not be empty"),
        ({"by": "feature", "since": MAR_3, "until": MAR_1}, "must be before until"),
    ],
    ids=str,
)
def test_bad_arguments_are_refused(
    reports: Reports, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        reports.over_time_by(**kwargs)  # type: ignore[arg-type]


# -- the random test ledger -----------------------------------------------------------------------

EDGY = (datetime(2026, 3, 2, 13, 30, tzinfo=UTC), datetime(2026, 3, 8, 7, 15, tzinfo=UTC))


@pytest.fixture(scope="module", params=LEDGER_BACKENDS)
def events_reports(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Reports]:
    """Reports over the random test ledger (ten days of March 2026)."""
    yield from reports_over(EVENTS, request.param, tmp_path_factory)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def test_users_by_week_match_the_events(events_reports: Reports) -> None:
    """Top 3 users by week over a range with partial days, against sums of the events: the
    three users who spent most in the range, everyone else (anonymous calls too) as other."""
    since, until = EDGY
    chosen = select(EVENTS, since=since, until=until)
    spend: dict[str, int] = defaultdict(int)
    for e in chosen:
        spend[e.user_id or "(no user)"] += e.cost_pico
    top = sorted(spend, key=lambda u: (-spend[u], u))[:3]
    cells: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0])
    for e in chosen:
        name = e.user_id or "(no user)"
        cell = cells[_monday(e.ts.date()), name if name in top else OTHER_GROUP]
        cell[0] += 1
        cell[1] += e.cost_pico
    order = [*top, OTHER_GROUP]
    expected = [
        StackedBucket(start, name, calls, Decimal(pico) / 10**12)
        for (start, name), (calls, pico) in sorted(
            cells.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]))
        )
    ]
    got = events_reports.over_time_by(
        by="user", top=3, granularity="week", since=since, until=until
    )
    assert got == expected


@pytest.mark.parametrize("granularity", ["day", "week", "month"])
@pytest.mark.parametrize("by", ["feature", "model", "user"])
def test_each_bucket_sums_to_over_time(
    events_reports: Reports, granularity: Granularity, by: str
) -> None:
    """Per bucket, the groups' spend (top 2 and other) is exactly over_time's spend, over a
    range with partial days at both ends."""
    since, until = EDGY
    rows = events_reports.over_time_by(
        by=by,  # type: ignore[arg-type]
        top=2,
        granularity=granularity,
        since=since,
        until=until,
    )
    sums: dict[date, Decimal] = defaultdict(Decimal)
    for row in rows:
        sums[row.start] += row.cost_usd
    buckets = events_reports.over_time(granularity=granularity, since=since, until=until)
    assert {k.start: k.cost_usd for k in buckets if k.calls} == dict(sums)
    assert sum(sums.values()) > 0
