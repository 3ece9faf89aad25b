"""``Reports.routes`` and ``Reports.cascades`` over a hand-built ledger of routed calls, on SQLite
and PostgreSQL: every figure worked out below from the calls and the catalog's per-token prices
(picodollars per token); the partial index that reads cascades; ledgers before routing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from costcap.errors import ConfigError
from costcap.ledger import CostEvent
from costcap.reports import CascadeSavings, Reports, RouteSpend
from costcap.reports._open import open_readonly
from costcap.reports._range import TimeRange
from costcap.reports._reprice import Tokens
from costcap.reports._routes import Single, cascades_sql, singles_sql
from costcap.reports._sql import Dialect
from tests.ledger.older import execute, make_older
from tests.reports.conftest import LEDGER_BACKENDS, ledger_url, reports_over
from tests.reports.test_sources import SpySink
from tests.services import drop_postgres_schema

MINI = (150_000, 600_000)  # gpt-4o-mini, picodollars per input / output token
GPT_4O = (2_500_000, 10_000_000)
HAIKU = (1_000_000, 5_000_000)
SONNET = (3_000_000, 15_000_000)
PICO = Decimal("1e-12")
DAY = datetime(2026, 3, 2, 12, tzinfo=UTC)

_seconds = iter(range(10_000))


def call(  # noqa: PLR0917 - a call in one line of the table below
    n: str, feature: str, model: str, tier: str | None, reason: str | None,
    tokens: tuple[int, int], rates: tuple[int, int] | None, **more: Any,
) -> CostEvent:  # fmt: skip
    """Call ``n`` (one second after the previous one), costing ``tokens`` at ``rates``."""
    cost = 0 if rates is None else tokens[0] * rates[0] + tokens[1] * rates[1]
    values: dict[str, Any] = {"status": "ok", "ts": DAY + timedelta(seconds=next(_seconds))}
    values.update(more)
    return CostEvent(
        request_id=n, feature=feature, model=model, tier=tier, route_reason=reason,
        input_tokens=tokens[0], output_tokens=tokens[1], cost_pico=cost, **values,
    )  # fmt: skip


CASCADE = "cascade"
EVENTS = [
    # chat: routed at two tiers, for four reasons; one refusal; one call the next day
    call("r1", "chat", "gpt-4o-mini", "simple", "auto", (1000, 100), MINI, user_id="ann"),
    call("r2", "chat", "gpt-4o", "complex", "auto", (1000, 100), GPT_4O, user_id="ben"),
    call("r3", "chat", "gpt-4o", "complex", "auto", (0, 0), None, status="refused",
         refused_by="budget user:*/day", user_id="ann"),
    call("r4", "chat", "claude-sonnet-4-5", "complex", "fallback", (500, 50), SONNET,
         user_id="ann"),
    call("r5", "chat", "gpt-4o-mini", "simple", "pressure", (2000, 200), MINI,
         ts=DAY + timedelta(days=1)),
    # faq: cascades from Haiku to Sonnet. c1 and c5 escalate; c2 does not; c3 is a cache hit;
    # c4's escalation was refused (left out: c4 is one call)
    call("f1", "faq", "claude-haiku-4-5", "simple", CASCADE, (400, 40), HAIKU, cascade_id="c1"),
    call("f2", "faq", "claude-sonnet-4-5", "complex", CASCADE, (400, 60), SONNET,
         cascade_id="c1"),
    call("f3", "faq", "claude-haiku-4-5", "simple", CASCADE, (800, 80), HAIKU, cascade_id="c2"),
    call("f4", "faq", "claude-haiku-4-5", "simple", CASCADE, (800, 80), None, cascade_id="c3",
         cache_hit=True),
    call("f5", "faq", "claude-haiku-4-5", "simple", CASCADE, (200, 20), HAIKU, cascade_id="c4"),
    call("f6", "faq", "claude-sonnet-4-5", "complex", CASCADE, (0, 0), None, cascade_id="c4",
         status="refused", refused_by="budget feature:faq/day"),
    call("f7", "faq", "claude-haiku-4-5", "simple", CASCADE, (100, 10), HAIKU, cascade_id="c5"),
    call("f8", "faq", "claude-sonnet-4-5", "complex", CASCADE, (100, 20), SONNET,
         cascade_id="c5"),
    # help: from gpt-4o-mini up to Claude Sonnet (another tokenizer); h3 did not escalate
    call("h1", "help", "gpt-4o-mini", "simple", CASCADE, (1000, 100), MINI, cascade_id="h1"),
    call("h2", "help", "claude-sonnet-4-5", "complex", CASCADE, (1250, 100), SONNET,
         cascade_id="h1"),
    call("h3", "help", "gpt-4o-mini", "simple", CASCADE, (2000, 50), MINI, cascade_id="h3"),
    # legacy: a call the router did not route
    call("l1", "legacy", "gpt-4o", None, None, (100, 10), GPT_4O),
    # search: a cascade that never escalated: its upper model is unknown
    call("s1", "search", "gpt-4o-mini", "simple", CASCADE, (1000, 100), MINI, cascade_id="s1"),
]  # fmt: skip

R1, R2 = 1000 * MINI[0] + 100 * MINI[1], 1000 * GPT_4O[0] + 100 * GPT_4O[1]
R4, R5 = 500 * SONNET[0] + 50 * SONNET[1], 2000 * MINI[0] + 200 * MINI[1]
F1, F2 = 400 * HAIKU[0] + 40 * HAIKU[1], 400 * SONNET[0] + 60 * SONNET[1]
F3, F5 = 800 * HAIKU[0] + 80 * HAIKU[1], 200 * HAIKU[0] + 20 * HAIKU[1]
F7, F8 = 100 * HAIKU[0] + 10 * HAIKU[1], 100 * SONNET[0] + 20 * SONNET[1]
H1, H2 = 1000 * MINI[0] + 100 * MINI[1], 1250 * SONNET[0] + 100 * SONNET[1]
H3 = 2000 * MINI[0] + 50 * MINI[1]
L1, S1 = 100 * GPT_4O[0] + 10 * GPT_4O[1], 1000 * MINI[0] + 100 * MINI[1]
TOTAL = R1 + R2 + R4 + R5 + F1 + F2 + F3 + F5 + F7 + F8 + H1 + H2 + H3 + L1 + S1


def usd(pico: int) -> Decimal:
    return Decimal(pico) * PICO


def share(pico: int, total: int = TOTAL) -> Decimal:
    return (Decimal(pico) * 100 / Decimal(total)).quantize(Decimal("0.01"))


def route(  # noqa: PLR0917 - every field of a row, worked out by hand
    feature: str, tier: str | None, reason: str | None, calls: int, refused: int,
    tokens: tuple[int, int], pico: int, total: int = TOTAL,
) -> RouteSpend:  # fmt: skip
    return RouteSpend(
        feature=feature, tier=tier, route_reason=reason, calls=calls, answered=calls - refused,
        refused=refused, input_tokens=tokens[0], output_tokens=tokens[1], cost_usd=usd(pico),
        share_pct=share(pico, total),
    )  # fmt: skip


@pytest.fixture(scope="module", params=LEDGER_BACKENDS)
def reports(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Reports]:
    yield from reports_over(EVENTS, request.param, tmp_path_factory)


def test_spend_per_feature_tier_and_reason(reports: Reports) -> None:
    """Features by spend (chat R1+R2+R4+R5, help, faq, legacy, search), each feature's rows by
    spend; the refused call counted in chat's complex/auto row at $0; l1 with no tier nor
    reason."""
    assert reports.routes() == [
        route("chat", "complex", "auto", 2, 1, (1000, 100), R2),
        route("chat", "complex", "fallback", 1, 0, (500, 50), R4),
        route("chat", "simple", "pressure", 1, 0, (2000, 200), R5),
        route("chat", "simple", "auto", 1, 0, (1000, 100), R1),
        route("help", "complex", CASCADE, 1, 0, (1250, 100), H2),
        route("help", "simple", CASCADE, 2, 0, (3000, 150), H1 + H3),
        route("faq", "complex", CASCADE, 3, 1, (500, 80), F2 + F8),
        route("faq", "simple", CASCADE, 5, 0, (2300, 230), F1 + F3 + F5 + F7),
        route("legacy", None, None, 1, 0, (100, 10), L1),
        route("search", "simple", CASCADE, 1, 0, (1000, 100), S1),
    ]


def test_the_figures_above_are_the_catalog_prices(reports: Reports) -> None:
    """R2 (1,000 + 100 tokens of gpt-4o) is $0.0035, and the total is $0.01768."""
    assert (usd(R2), usd(TOTAL)) == (Decimal("0.0035"), Decimal("0.01768"))


def test_a_model_filter_reads_the_rollup_by_model(reports: Reports) -> None:
    """--model gpt-4o: chat's complex/auto calls (one refused) and legacy's call."""
    total = R2 + L1
    assert reports.routes(model="gpt-4o") == [
        route("chat", "complex", "auto", 2, 1, (1000, 100), R2, total),
        route("legacy", None, None, 1, 0, (100, 10), L1, total),
    ]


ANN_TOTAL = R1 + R4
ANN = [  # --user ann: r1, r3 (refused) and r4
    route("chat", "complex", "fallback", 1, 0, (500, 50), R4, ANN_TOTAL),
    route("chat", "simple", "auto", 1, 0, (1000, 100), R1, ANN_TOTAL),
    route("chat", "complex", "auto", 1, 1, (0, 0), 0, ANN_TOTAL),
]


def test_a_user_filter_gives_that_users_routes(reports: Reports) -> None:
    assert reports.routes(user="ann") == ANN


def test_a_user_filter_reads_the_rollup_of_users_routing(reports: Reports) -> None:
    """Whole days of one user come from the rollup keyed by user, tier and reason, not from the
    events."""
    spy = SpySink(reports.sink)
    Reports(spy).routes(user="ann", since=date(2026, 3, 2), until=date(2026, 3, 3))
    assert spy.tables()[-1] == "costcap_rollup_daily_user_route"
    assert "costcap_events" not in spy.tables()


@pytest.mark.parametrize("backend", LEDGER_BACKENDS)
def test_a_version_7_ledger_gives_a_users_routes_from_events(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A ledger from before the rollup of users' routing, opened by reports (which never
    migrate), answers from that user's events, with the same figures; it stays at version 7."""
    url = ledger_url(backend, tmp_path_factory)
    make_older(url, 7, EVENTS)
    spy = SpySink(open_readonly(url))
    try:
        assert Reports(spy).routes(user="ann") == ANN
        assert spy.tables()[-1] == "costcap_events"
    finally:
        spy.close()
    try:
        assert execute(url, "SELECT value FROM costcap_ledger_meta") == [("7",)]
    finally:
        if backend == "postgres":
            drop_postgres_schema(url)


def test_a_range_reads_its_days(reports: Reports) -> None:
    """From March 3rd: r5 alone."""
    assert reports.routes(since=date(2026, 3, 3)) == [
        route("chat", "simple", "pressure", 1, 0, (2000, 200), R5, R5)
    ]


def test_a_partial_day_reads_events(reports: Reports) -> None:
    """chat from 12:00:05 on March 2nd (an instant, after r1 to r4): r5 alone."""
    rows = reports.routes(since=DAY + timedelta(seconds=5), feature="chat")
    assert rows == [route("chat", "simple", "pressure", 1, 0, (2000, 200), R5, R5)]


def test_cascades_per_feature(reports: Reports) -> None:
    """faq: c1..c5, two escalated (c1, c5; c4's escalation was refused); seven calls; straight
    to Sonnet: c1 and c5 cost their Sonnet calls, c2 and c4 their tokens at Sonnet's prices
    (one tokenizer: no conversion), the cache hit c3 $0. help: h1 escalated to Sonnet, h3's
    2,000 gpt-4o-mini tokens are 2,500 Claude tokens (× 1.25). search: no escalation: its
    upper model is unknown."""
    faq_upper = F2 + F8 + (800 * SONNET[0] + 80 * SONNET[1]) + (200 * SONNET[0] + 20 * SONNET[1])
    faq_cost = F1 + F2 + F3 + F5 + F7 + F8
    help_upper = H2 + (2500 * SONNET[0] + 50 * SONNET[1])
    help_cost = H1 + H2 + H3
    assert reports.cascades() == [
        CascadeSavings(
            feature="faq", cascades=5, escalations=2, escalation_rate=Decimal("0.4"), calls=7,
            cost_usd=usd(faq_cost), upper_cost_usd=usd(faq_upper),
            saved_usd=usd(faq_upper - faq_cost), saved_pct=share(faq_upper - faq_cost, faq_upper),
        ),
        CascadeSavings(
            feature="help", cascades=2, escalations=1, escalation_rate=Decimal("0.5"), calls=3,
            cost_usd=usd(help_cost), upper_cost_usd=usd(help_upper),
            saved_usd=usd(help_upper - help_cost),
            saved_pct=share(help_upper - help_cost, help_upper),
        ),
        CascadeSavings(
            feature="search", cascades=1, escalations=0, escalation_rate=Decimal("0"), calls=1,
            cost_usd=usd(S1), upper_cost_usd=None, saved_usd=None, saved_pct=None,
        ),
    ]  # fmt: skip


def test_the_cascade_figures_in_dollars(reports: Reports) -> None:
    """faq cost $0.00495 against $0.0072 straight to Sonnet: $0.00225 saved, 31.25 %."""
    (faq,) = [r for r in reports.cascades() if r.feature == "faq"]
    assert (faq.cost_usd, faq.upper_cost_usd, faq.saved_usd, faq.saved_pct) == (
        Decimal("0.00495"), Decimal("0.0072"), Decimal("0.00225"), Decimal("31.25"),
    )  # fmt: skip


def test_a_cascade_that_cost_more_saved_a_negative_amount(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Every cascade escalated: it paid the Haiku calls on top of the Sonnet ones."""
    both = [e for e in EVENTS if e.cascade_id == "c1"]
    for reports in reports_over(both, "sqlite", tmp_path_factory):
        (row,) = reports.cascades()
        assert (row.escalation_rate, row.saved_usd) == (Decimal("1"), -usd(F1))


def test_cascades_follow_the_filters(reports: Reports) -> None:
    """--feature help keeps its row; a range without the day none."""
    assert [r.feature for r in reports.cascades(feature="help")] == ["help"]
    assert reports.cascades(since=date(2026, 3, 3)) == []


@pytest.mark.parametrize("backend", LEDGER_BACKENDS)
def test_a_long_call_that_did_not_escalate_is_priced_at_the_long_context_tier(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A Haiku call of 210,000 input tokens that did not escalate, priced at Sonnet (one
    tokenizer): above Sonnet's 200,000-token threshold, at its long-context rates ($6 / $22.50
    per million); a short one at the base rates."""
    long_rates = (6_000_000, 22_500_000)
    events = [
        call("d1", "docs", "claude-haiku-4-5", "simple", CASCADE, (100, 10), HAIKU,
             cascade_id="d1"),
        call("d2", "docs", "claude-sonnet-4-5", "complex", CASCADE, (100, 10), SONNET,
             cascade_id="d1"),
        call("d3", "docs", "claude-haiku-4-5", "simple", CASCADE, (210_000, 100), HAIKU,
             cascade_id="d3"),
        call("d4", "docs", "claude-haiku-4-5", "simple", CASCADE, (1000, 100), HAIKU,
             cascade_id="d4"),
    ]  # fmt: skip
    upper = (
        (100 * SONNET[0] + 10 * SONNET[1])
        + (210_000 * long_rates[0] + 100 * long_rates[1])
        + (1000 * SONNET[0] + 100 * SONNET[1])
    )
    for reports in reports_over(events, backend, tmp_path_factory):
        (row,) = reports.cascades()
        assert row.upper_cost_usd == usd(upper)


def _plan(reports: Reports, sql: str, params: list[object]) -> str:
    """The query plan of ``sql`` (PostgreSQL: with sequential scans off, so that on a table this
    small the plan shows whether the index can serve the query at all)."""
    if reports.dialect.name == "sqlite":
        return str(reports.sink.query(f"EXPLAIN QUERY PLAN {sql}", params))
    import psycopg

    base, _, schema = reports.sink.url.partition("?schema=")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute("SET enable_seqscan = off")
        return str(conn.execute(f"EXPLAIN {sql}", params).fetchall())


SPAN = TimeRange.of(date(2026, 3, 2), date(2026, 3, 2))
READS = {
    "cascades": lambda d: cascades_sql(d, SPAN),
    "singles again": lambda d: singles_sql(
        d, SPAN, (), [200_001], [Single("faq", "claude-haiku-4-5", "", False, 0, 1, Tokens(), 0)]
    ),
}


@pytest.mark.parametrize("read", READS)
def test_cascades_are_read_through_their_partial_index(reports: Reports, read: str) -> None:
    sql, params = READS[read](Dialect(reports.dialect.name))
    assert "costcap_events_cascade" in _plan(reports, sql, params)


@pytest.mark.parametrize("backend", LEDGER_BACKENDS)
def test_a_ledger_before_routing_is_one_error(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    url = ledger_url(backend, tmp_path_factory)
    make_older(url, 5, [replace(e, tier=None, route_reason=None, cascade_id=None) for e in EVENTS])
    reports = Reports.open(url)
    try:
        with pytest.raises(ConfigError, match="schema version 5, which predates routing"):
            reports.routes()
        with pytest.raises(ConfigError, match="predates routing"):
            reports.cascades()
    finally:
        reports.close()
        if backend == "postgres":
            drop_postgres_schema(url)
