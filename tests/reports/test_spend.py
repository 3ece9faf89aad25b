"""Spend reports against sums computed by hand from the generated events, on SQLite and Postgres."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from costcap.ledger import CostEvent, open_sink
from costcap.reports import Reports
from tests.reports.ledger import EMPTY_DAY, EVENTS, FEATURES, cost, group, select, usd

MARCH_2 = datetime(2026, 3, 2, tzinfo=UTC)
MARCH_9 = datetime(2026, 3, 9, tzinfo=UTC)
# An instant range: partial days at both ends (read from events), whole days between (rollups).
EDGY = (datetime(2026, 3, 2, 13, 30, tzinfo=UTC), datetime(2026, 3, 8, 7, 15, 0, 250, tzinfo=UTC))
PICO = Decimal("1E-12")


def pico_round(value: Decimal) -> Decimal:
    return value.quantize(PICO, rounding=ROUND_HALF_EVEN)


def test_by_feature_matches_the_events(reports: Reports) -> None:
    """Spend by feature over all time: calls, refusals, tokens and exact spend per feature."""
    expected = {
        key: (len(es), sum(e.status == "refused" for e in es), cost(es))
        for key, es in group(EVENTS, lambda e: e.feature).items()
    }
    got = {r.feature: (r.calls, r.refused, r.cost_usd) for r in reports.by_feature()}
    assert got == {k: (c, r, usd(p)) for k, (c, r, p) in expected.items()}


def test_by_feature_rows_are_ranked_and_shares_add_up(reports: Reports) -> None:
    """Rows come most expensive first and each share is its spend over the total, to 0.01%."""
    rows = reports.by_feature()
    assert [r.cost_usd for r in rows] == sorted((r.cost_usd for r in rows), reverse=True)
    total = cost(EVENTS)
    spend = {k: cost(es) for k, es in group(EVENTS, lambda e: e.feature).items()}
    for row in rows:
        share = Decimal(spend[row.feature]) * 100 / total
        assert row.share_pct == share.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def test_a_date_range_includes_its_end_date(reports: Reports) -> None:
    """``until`` given as a date includes that whole day."""
    rows = reports.by_feature(since=date(2026, 3, 2), until=date(2026, 3, 8))
    chosen = select(EVENTS, since=MARCH_2, until=MARCH_9)
    assert sum(r.calls for r in rows) == len(chosen)
    assert sum(r.cost_usd for r in rows) == usd(cost(chosen))


def test_an_instant_range_counts_partial_days_exactly(reports: Reports) -> None:
    """Datetimes cut days: only events with since <= ts < until count, to the microsecond."""
    since, until = EDGY
    rows = reports.by_feature(since=since, until=until)
    chosen = select(EVENTS, since=since, until=until)
    expected = {k: (len(es), usd(cost(es))) for k, es in group(chosen, lambda e: e.feature).items()}
    assert {r.feature: (r.calls, r.cost_usd) for r in rows} == expected


def test_a_range_inside_one_day(reports: Reports) -> None:
    """A range that starts and ends within one day is read from that day's events alone."""
    since, until = datetime(2026, 3, 3, 6, tzinfo=UTC), datetime(2026, 3, 3, 18, tzinfo=UTC)
    chosen = select(EVENTS, since=since, until=until)
    assert chosen, "the test ledger should have calls on March 3"
    totals = reports.totals(since=since, until=until)
    assert (totals.calls, totals.cost_pico) == (len(chosen), cost(chosen))


@pytest.mark.parametrize(
    "filters",
    [
        {"user": "user-03"},
        {"feature": "search"},
        {"model": "gpt-4o"},
        {"user": "user-07", "feature": "chat"},
        {"feature": "summarize", "model": "claude-haiku-4-5"},
        {"user": "user-01", "model": "gpt-4o-mini"},
    ],
)
def test_filters_apply_to_spend_by_feature(reports: Reports, filters: dict[str, str]) -> None:
    """Each filter (and pairs of them) keeps only the matching calls, over an instant range."""
    since, until = EDGY
    rows = reports.by_feature(since=since, until=until, **filters)
    chosen = select(EVENTS, since=since, until=until, **filters)
    expected = {k: (len(es), usd(cost(es))) for k, es in group(chosen, lambda e: e.feature).items()}
    assert {r.feature: (r.calls, r.cost_usd) for r in rows} == expected


def test_top_users_ranks_by_spend_and_skips_anonymous_calls(reports: Reports) -> None:
    """Top users: the N biggest spenders with their calls (all, answered, refused) and their
    cost per answered call."""
    spend = {
        u: (cost(es), len(es), sum(e.status != "refused" for e in es))
        for u, es in group(EVENTS, lambda e: e.user_id).items()
        if u is not None
    }
    ranked = sorted(spend, key=lambda u: (-spend[u][0], -spend[u][1], str(u)))[:5]
    rows = reports.top_users(limit=5)
    assert [r.user for r in rows] == ranked
    for row in rows:
        pico, calls, answered = spend[row.user]
        assert (row.calls, row.answered, row.refused) == (calls, answered, calls - answered)
        assert row.cost_usd == usd(pico)
        assert row.cost_per_answered_usd == pico_round(usd(pico) / answered)
        total = cost(EVENTS)
        assert row.share_pct == (Decimal(pico) * 100 / total).quantize(Decimal("0.01"))


def test_top_users_for_one_feature_and_range(reports: Reports) -> None:
    """A feature filter ranks users by their spend on that feature only (the daily rollup)."""
    since, until = EDGY
    chosen = select(EVENTS, since=since, until=until, feature="chat")
    spend = {u: cost(es) for u, es in group(chosen, lambda e: e.user_id).items() if u}
    rows = reports.top_users(limit=100, since=since, until=until, feature="chat")
    assert {r.user: r.cost_usd for r in rows} == {u: usd(p) for u, p in spend.items()}


def test_cost_per_user_summarizes_each_users_spend(reports: Reports) -> None:
    """Mean, median (mean of the middle two), nearest-rank p90 and max of spend per user."""
    per_user = sorted(
        cost(es) for u, es in group(EVENTS, lambda e: e.user_id).items() if u is not None
    )
    n = len(per_user)
    anonymous = [e for e in EVENTS if e.user_id is None]
    s = reports.cost_per_user()
    assert (s.users, s.cost_usd) == (n, usd(sum(per_user)))
    assert s.mean_usd == pico_round(usd(sum(per_user)) / n)
    middle = Decimal(per_user[n // 2 - 1] + per_user[n // 2]) / 2 if n % 2 == 0 else None
    median = Decimal(per_user[n // 2]) if middle is None else middle
    assert s.median_usd == pico_round(median / 10**12)
    assert s.p90_usd == usd(per_user[math.ceil(0.9 * n) - 1])
    assert s.max_usd == usd(per_user[-1])
    assert (s.unattributed_calls, s.unattributed_cost_usd) == (len(anonymous), usd(cost(anonymous)))


def test_token_efficiency_by_model(reports: Reports) -> None:
    """Per model: average input/output tokens and cost per answered call, cost per 1k output."""
    rows = {r.model: r for r in reports.by_model()}
    for model, es in group(EVENTS, lambda e: e.model).items():
        answered = [e for e in es if e.status != "refused"]
        tokens_in = sum(e.input_tokens for e in answered)
        tokens_out = sum(e.output_tokens for e in answered)
        row = rows[str(model)]
        assert (row.calls, row.answered) == (len(es), len(answered))
        assert row.input_tokens_per_answered == (Decimal(tokens_in) / len(answered)).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_EVEN
        )
        assert row.output_tokens_per_answered == (Decimal(tokens_out) / len(answered)).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_EVEN
        )
        assert row.cost_per_answered_usd == pico_round(usd(cost(es)) / len(answered))
        assert row.cost_per_1k_output_usd == pico_round(usd(cost(es)) * 1000 / tokens_out)


@pytest.mark.parametrize("granularity", ["day", "week", "month"])
def test_spend_over_time(reports: Reports, granularity: str) -> None:
    """Each bucket holds the calls of its days; the empty day is listed at zero."""
    rows = reports.over_time(granularity=granularity)  # type: ignore[arg-type]

    def start(day: date) -> date:
        if granularity == "week":
            return day - timedelta(days=day.weekday())
        return day.replace(day=1) if granularity == "month" else day

    expected = {
        k: (len(es), usd(cost(es))) for k, es in group(EVENTS, lambda e: start(e.day)).items()
    }
    assert {r.start: (r.calls, r.cost_usd) for r in rows if r.calls} == expected
    if granularity == "day":
        empty = [r for r in rows if r.start == EMPTY_DAY]
        assert len(empty) == 1
        assert (empty[0].calls, empty[0].cost_usd) == (0, Decimal(0))
        assert [r.start for r in rows] == sorted(r.start for r in rows)


def test_spend_over_time_lists_every_day_of_the_range(reports: Reports) -> None:
    """With a range, buckets run from its first to its last day, even past the last call."""
    rows = reports.over_time(since=date(2026, 2, 27), until=date(2026, 3, 14))
    assert [r.start for r in rows] == [date(2026, 2, 27) + timedelta(days=i) for i in range(16)]


def test_cache_savings_per_feature(reports: Reports) -> None:
    """Hit rate per answered call, dollars saved, and saved as a share of cost + saved."""
    rows = {r.feature: r for r in reports.cache_savings()}
    for feature, es in group(EVENTS, lambda e: e.feature).items():
        answered = [e for e in es if e.status != "refused"]
        hits = sum(e.cache_hit for e in es)
        saved = sum(e.saved_pico for e in es)
        row = rows[feature]  # type: ignore[index]
        assert (row.answered, row.cache_hits, row.saved_usd) == (len(answered), hits, usd(saved))
        assert row.hit_rate == (Decimal(hits) / len(answered)).quantize(Decimal("0.0001"))
        share = Decimal(saved) * 100 / (saved + cost(es))
        assert row.saved_pct == share.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def test_refused_calls_by_reason(reports: Reports) -> None:
    """Refusals are counted per refused_by reason, with distinct users and the last one's time."""
    since, until = EDGY
    refused = [e for e in select(EVENTS, since=since, until=until) if e.status == "refused"]
    rows = {r.reason: r for r in reports.refused(since=since, until=until)}
    for reason, es in group(refused, lambda e: e.refused_by).items():
        row = rows[str(reason)]
        assert row.calls == len(es)
        assert row.users == len({e.user_id for e in es if e.user_id})
        assert row.last_at == max(e.ts for e in es)
    assert rows["rate limit 20/minute per user"].category == "rate limit"
    assert sum(r.calls for r in rows.values()) == len(refused)


def test_refused_calls_of_one_user(reports: Reports) -> None:
    """The user filter applies to refusals too."""
    refused = [e for e in EVENTS if e.status == "refused" and e.user_id == "user-02"]
    rows = reports.refused(user="user-02")
    assert sum(r.calls for r in rows) == len(refused) > 0


def test_sums_are_exact_beyond_a_float(reports: Reports) -> None:
    """Totals are integer picodollars: the ledger's total spend to the last picodollar."""
    totals = reports.totals()
    assert totals.cost_pico == cost(EVENTS)
    assert totals.saved_pico == sum(e.saved_pico for e in EVENTS)
    assert totals.calls == len(EVENTS)


def test_a_feature_with_no_calls_in_range_is_absent(reports: Reports) -> None:
    """A filter that matches nothing gives no rows and zero totals, never an error."""
    assert reports.by_feature(feature="no-such-feature") == []
    assert reports.totals(user="nobody").calls == 0
    assert reports.over_time(since=date(2027, 1, 1), until=date(2027, 1, 2))[0].calls == 0


def test_reports_on_an_empty_ledger(empty_url: str) -> None:
    """An empty ledger answers every report with nothing (and a user filter with no days)."""
    with Reports.open(empty_url) as r:
        answers: list[Sequence[object]] = [r.by_feature(), r.top_users(), r.by_model()]
        answers += [r.refused(), r.over_time(), r.cache_savings(), r.cache_use()]
        assert answers == [[]] * 7
        assert r.by_feature(user="user-01") == []
        assert r.cost_per_user().users == 0
        assert r.anomalies() == []


def test_sqlite_and_postgres_agree(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every report gives identical rows on SQLite and PostgreSQL for the same events."""
    from tests.reports.conftest import ledger_url
    from tests.services import drop_postgres_schema

    pg = ledger_url("postgres", tmp_path_factory)
    urls = [ledger_url("sqlite", tmp_path_factory), pg]
    answers = []
    try:
        for url in urls:
            sink = open_sink(url)
            sink.write(EVENTS)
            r = Reports(sink)
            since, until = EDGY
            answers.append(
                [
                    r.by_feature(),
                    r.by_feature(since=since, until=until, user="user-04"),
                    r.top_users(limit=20, since=since, until=until, model="gpt-4o"),
                    r.cost_per_user(since=date(2026, 3, 3)),
                    r.by_model(until=until),
                    r.over_time(granularity="week", feature="chat"),
                    r.cache_savings(since=since),
                    r.cache_use(since=since),
                    r.cache_use(model="gpt-4o", user="user-04"),
                    r.refused(),
                    r.anomalies(at=datetime(2026, 3, 10, 12, tzinfo=UTC)),
                ]
            )
            r.close()
    finally:
        drop_postgres_schema(pg)
    assert answers[0] == answers[1]


@pytest.mark.parametrize("feature", FEATURES)
def test_each_feature_report_equals_its_filtered_totals(reports: Reports, feature: str) -> None:
    """A row of spend-by-feature equals the totals filtered to that feature (two rollups)."""
    row = next(r for r in reports.by_feature() if r.feature == feature)
    totals = reports.totals(feature=feature)
    assert (row.calls, row.cost_usd) == (totals.calls, usd(totals.cost_pico))


def test_a_tie_at_the_cut_goes_to_the_bytewise_first_name(empty_url: str) -> None:
    """Two users with the same spend and calls at the limit: the one first by bytes wins on
    every backend ("Zed" before "abe", whatever the database's collation says)."""
    events = [
        CostEvent(request_id=f"t{i}", ts=datetime(2026, 3, 2, 10, tzinfo=UTC), status="ok",
                  model="m", user_id=user, cost_pico=7 * 10**9)
        for i, user in enumerate(["abe", "Zed", "big", "big"])
    ]  # fmt: skip
    sink = open_sink(empty_url)
    sink.write(events)
    with Reports(sink) as r:
        assert [u.user for u in r.top_users(limit=2)] == ["big", "Zed"]
