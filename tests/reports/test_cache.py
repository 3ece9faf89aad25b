"""The response-cache report (``Reports.cache_use``) on SQLite and PostgreSQL: hits, misses and
their rates from the rollups, repeated requests of the features without a cache from the
events, and advice. Figures worked out by hand on the ledger of ``tests.reports.cache_ledger``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest

from costcap.reports import ADVICE_OFF, ADVICE_ON, CacheRules, FeatureCache, Reports, TimeRange
from costcap.reports import cache_use_total as total_of
from costcap.reports._repeats import repeats_sql
from tests.ledger.older import make_older
from tests.reports.cache_ledger import CACHED, CENT, SEARCH_START, START, call
from tests.reports.conftest import LEDGER_BACKENDS, ledger_url, reports_over
from tests.services import drop_postgres_schema


@pytest.fixture(scope="module", params=LEDGER_BACKENDS)
def reports(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Reports]:
    """Reports over the cache ledger."""
    yield from reports_over(CACHED, request.param, tmp_path_factory)


def rows_of(reports: Reports, **kwargs: object) -> dict[str | None, FeatureCache]:
    return {r.feature: r for r in reports.cache_use(**kwargs)}  # type: ignore[arg-type]


def usd(cents: int | str) -> Decimal:
    return Decimal(cents) / 100


def test_hits_misses_and_hit_rate_per_feature(reports: Reports) -> None:
    """faq: 6 hits + 2 misses = 8 cacheable, 6/8 = 0.75 (its uncached and refused calls are
    neither); chat: 1 + 9 = 10, 1/10 = 0.1."""
    rows = rows_of(reports)
    found = {f: (r.cacheable, r.cache_hits, r.cache_misses, r.hit_rate) for f, r in rows.items()}
    assert found["faq"] == (8, 6, 2, Decimal("0.75"))
    assert found["chat"] == (10, 1, 9, Decimal("0.1"))


def test_a_feature_without_a_cacheable_call_has_no_hit_rate(reports: Reports) -> None:
    """search and the calls without a feature never asked the cache: 0 cacheable, no rate."""
    rows = rows_of(reports)
    assert [(rows[f].cacheable, rows[f].hit_rate) for f in ("search", None)] == [(0, None)] * 2


def test_saved_dollars_and_what_the_misses_cost(reports: Reports) -> None:
    """faq saved 6 × $0.02 and its misses cost 2 × $0.03 (not its $0.05 uncached call); chat
    saved $0.01 and its misses cost 9 × $0.01."""
    rows = rows_of(reports)
    assert (rows["faq"].saved_usd, rows["faq"].miss_cost_usd) == (usd(12), usd(6))
    assert (rows["chat"].saved_usd, rows["chat"].miss_cost_usd) == (usd(1), usd(9))


def test_features_never_asked_count_their_repeated_requests(reports: Reports) -> None:
    """search: 6 answered calls with a digest (the refused h1 and the call without a digest
    left out), 3 distinct, so 3 repeats costing $0.02 + $0.04 + $0.03, a share of 3/6; without
    a feature: 2 calls of h1, 1 repeat of $0.01 (h1 in search is another feature's)."""
    rows = rows_of(reports)
    search, none = rows["search"], rows[None]
    assert (search.hashed, search.repeats, search.repeat_cost_usd, search.repeat_share) == (
        6, 3, usd(9), Decimal("0.5")
    )  # fmt: skip
    assert (none.hashed, none.repeats, none.repeat_cost_usd, none.repeat_share) == (
        2, 1, usd(1), Decimal("0.5")
    )  # fmt: skip


def test_features_with_a_cache_have_no_repeat_figures(reports: Reports) -> None:
    rows = rows_of(reports)
    for feature in ("faq", "chat"):
        row = rows[feature]
        assert (row.hashed, row.repeats, row.repeat_share, row.repeat_cost_usd) == (None,) * 4


def test_repeats_are_counted_within_the_range(reports: Reports) -> None:
    """From search's second call: h1 twice ($0.02, $0.04), h2, h3 twice: 5 calls, 3 distinct,
    2 repeats: h1's $0.04 and h3's $0.03 (the first h1 is before the range)."""
    row = rows_of(reports, since=SEARCH_START + timedelta(seconds=30))["search"]
    assert (row.hashed, row.repeats, row.repeat_cost_usd) == (5, 2, usd(7))


def test_a_user_filter_applies_to_repeats(reports: Reports) -> None:
    """alice's search calls: h1 three times ($0.01, $0.02, $0.04): 2 repeats costing $0.06."""
    row = rows_of(reports, user="alice")["search"]
    assert (row.hashed, row.repeats, row.repeat_cost_usd) == (3, 2, usd(6))


def test_a_feature_filter_gives_that_feature_alone(reports: Reports) -> None:
    assert list(rows_of(reports, feature="search")) == ["search"]


def test_the_features_that_saved_most_come_first(reports: Reports) -> None:
    """faq saved $0.12, chat $0.01; then search, whose repeats cost $0.09, then none ($0.01)."""
    assert [r.feature for r in reports.cache_use()] == ["faq", "chat", "search", None]


def test_a_poor_hit_rate_after_enough_calls_advises_caching_off(reports: Reports) -> None:
    """chat hits 0.1 of 10 cacheable calls, below 0.2 after 10: off; faq's 0.75 is useful."""
    rows = rows_of(reports, rules=CacheRules(useful_hit_rate=Decimal("0.2"), advice_after_calls=10))
    assert (rows["chat"].advice, rows["faq"].advice) == (ADVICE_OFF, None)


def test_a_hit_rate_at_the_useful_rate_is_not_advised_off(reports: Reports) -> None:
    """chat's 1/10 is not below a useful rate of 0.1."""
    rows = rows_of(reports, rules=CacheRules(useful_hit_rate=Decimal("0.1"), advice_after_calls=10))
    assert rows["chat"].advice is None


def test_repeated_requests_after_enough_calls_advise_caching_on(reports: Reports) -> None:
    """search repeats 3 of its 6 hashed calls: a share of 0.5, at a useful rate of 0.5, after 6
    calls: on. The calls without a feature (2 hashed) are too few."""
    rows = rows_of(reports, rules=CacheRules(useful_hit_rate=Decimal("0.5"), advice_after_calls=6))
    assert (rows["search"].advice, rows[None].advice) == (ADVICE_ON, None)


def test_no_advice_before_enough_calls(reports: Reports) -> None:
    """chat has 10 cacheable calls and search 6 hashed ones: one call short of 11 and 7."""
    off = rows_of(reports, rules=CacheRules(useful_hit_rate=Decimal("0.2"), advice_after_calls=11))
    on = rows_of(reports, rules=CacheRules(useful_hit_rate=Decimal("0.5"), advice_after_calls=7))
    assert (off["chat"].advice, on["search"].advice) == (None, None)


def test_a_repeat_share_below_the_useful_rate_is_not_advised_on(reports: Reports) -> None:
    """search's 0.5 is below a useful rate of 0.51."""
    rules = CacheRules(useful_hit_rate=Decimal("0.51"), advice_after_calls=6)
    assert rows_of(reports, rules=rules)["search"].advice is None


def test_the_default_rules_wait_for_a_thousand_calls(reports: Reports) -> None:
    assert {r.advice for r in reports.cache_use()} == {None}


def test_the_total_adds_every_feature(reports: Reports) -> None:
    """Cacheable 8 + 10, hits 6 + 1, misses 2 + 9, rate 7/18 = 0.3889; saved $0.13; misses
    cost $0.15; hashed 6 + 2, repeats 3 + 1 costing $0.10, a share of 4/8."""
    t = total_of(reports.cache_use())
    assert (t.feature, t.cacheable, t.cache_hits, t.cache_misses, t.hit_rate) == (
        None, 18, 7, 11, Decimal("0.3889")
    )  # fmt: skip
    assert (t.saved_usd, t.miss_cost_usd) == (usd(13), usd(15))
    assert (t.hashed, t.repeats, t.repeat_cost_usd, t.repeat_share) == (
        8, 4, usd(10), Decimal("0.5")
    )  # fmt: skip


@pytest.mark.parametrize("backend", LEDGER_BACKENDS)
def test_calls_at_one_instant_count_the_cheaper_first(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Two calls of one digest at the same instant, $0.06 and $0.03: the repeat is the $0.06
    one, on either database (whatever order they are stored in)."""
    events = [
        call("dear", START, feature="qa", prompt_hash="h", cost_pico=6 * CENT),
        call("cheap", START, feature="qa", prompt_hash="h", cost_pico=3 * CENT),
    ]
    for reports in reports_over(events, backend, tmp_path_factory):
        (row,) = reports.cache_use()
        assert (row.repeats, row.repeat_cost_usd) == (1, usd(6))


def test_an_empty_range_has_no_rows(reports: Reports) -> None:
    assert reports.cache_use(since=START + timedelta(days=1)) == []


def test_time_buckets_count_misses(reports: Reports) -> None:
    """The day's bucket: 7 hits and 11 misses."""
    (bucket,) = reports.over_time(since=START.date(), until=START.date())
    assert (bucket.cache_hits, bucket.cache_misses) == (7, 11)


def test_totals_count_misses_and_their_cost(reports: Reports) -> None:
    totals = reports.totals()
    assert (totals.cache_misses, totals.cache_miss_cost_pico) == (11, 15 * CENT)


def _plan(reports: Reports, sql: str, params: list[object]) -> str:
    """The database's plan of ``sql``; PostgreSQL's with sequential scans off, so that the
    plan says whether an index can answer (on a ledger this small a scan is cheaper)."""
    if reports.sink.dialect == "sqlite":
        return " | ".join(
            str(r[-1]) for r in reports.sink.query(f"EXPLAIN QUERY PLAN {sql}", params)
        )
    import psycopg

    base, _, schema = reports.sink.url.partition("?schema=")
    with psycopg.connect(base, autocommit=True) as db:
        db.execute(f'SET search_path TO "{schema}"')
        db.execute("SET enable_seqscan = off")
        return " | ".join(str(r[0]) for r in db.execute(f"EXPLAIN {sql}", params).fetchall())


def test_repeats_read_a_range_of_events_through_the_ts_index(reports: Reports) -> None:
    """A bounded range of repeats is an index range of ``ts`` on both databases, never a scan of
    every event."""
    span = TimeRange.of(START, START + timedelta(hours=3))
    sql, params = repeats_sql(reports.dialect, ["search", ""], span)
    plan = _plan(reports, sql, params)
    if reports.sink.dialect == "sqlite":
        assert "SEARCH e USING INDEX costcap_events_ts (ts>? AND ts<?)" in plan
    else:
        assert "costcap_events_ts" in plan
        assert "Seq Scan" not in plan


def test_one_users_repeats_read_that_users_events(reports: Reports) -> None:
    """Under a user filter, the events of that user in the range, through (user_id, ts)."""
    span = TimeRange.of(START, START + timedelta(hours=3))
    sql, params = repeats_sql(reports.dialect, ["search"], span, [("user_id", "bob")])
    plan = _plan(reports, sql, params)
    if reports.sink.dialect == "sqlite":
        assert "costcap_events_user_ts_cost (user_id=? AND ts>? AND ts<?)" in plan
    else:
        assert "costcap_events_user_ts_cost" in plan
        assert "Seq Scan" not in plan


# -- ledgers from before cache misses ------------------------------------------------------------


@pytest.fixture(params=[(b, v) for b in LEDGER_BACKENDS for v in (2, 3, 4)], ids=str)
def older(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Reports]:
    """Reports over the cache ledger as schema 2, 3 or 4 keeps it: no misses recorded."""
    backend, version = request.param
    url = ledger_url(backend, tmp_path_factory)
    make_older(url, version, CACHED)
    with Reports.open(url) as reports:
        yield reports
    if backend == "postgres":
        drop_postgres_schema(url)


def test_an_older_ledger_has_hits_and_savings_but_no_misses(older: Reports) -> None:
    """faq's 6 hits and $0.12 saved are known; its misses, cacheable calls, hit rate and the
    misses' cost are not (None), and a low hit rate cannot be judged: no advice."""
    rules = CacheRules(useful_hit_rate=Decimal("0.9"), advice_after_calls=1)
    faq = rows_of(older, rules=rules)["faq"]
    assert (faq.cache_hits, faq.saved_usd) == (6, usd(12))
    assert (faq.cache_misses, faq.cacheable, faq.hit_rate, faq.miss_cost_usd) == (None,) * 4
    assert faq.advice is None


def test_an_older_ledger_still_counts_repeats(older: Reports) -> None:
    """search never had a hit: its repeats are read from the events as usual."""
    row = rows_of(older)["search"]
    assert (row.hashed, row.repeats, row.repeat_cost_usd) == (6, 3, usd(9))


def test_an_older_ledgers_time_buckets_have_no_misses(older: Reports) -> None:
    (bucket,) = older.over_time(since=START.date(), until=START.date())
    assert (bucket.cache_hits, bucket.cache_misses) == (7, None)
