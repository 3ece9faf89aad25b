"""``Reports.whatif``: the calls of a hand-built ledger priced again under a scenario, on SQLite
and PostgreSQL. Every expected figure is worked out below from the catalog's per-token prices
(picodollars per token: $2.50 per million tokens is 2_500_000), which the first test checks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from costcap.errors import ConfigError, UnknownModel
from costcap.ledger import CostEvent
from costcap.pricing import PriceCatalog, default_catalog
from costcap.reports import Reports, Scenario, WhatIf, WhatIfRow
from tests.ledger.older import make_older
from tests.reports.conftest import LEDGER_BACKENDS, ledger_url, reports_over
from tests.services import drop_postgres_schema

# The catalog's prices, picodollars per token: (input, output, cache read).
GPT_4O = (2_500_000, 10_000_000, 1_250_000)
GPT_4O_PRIORITY = (4_250_000, 17_000_000)
MINI = (150_000, 600_000, 75_000)
MINI_PRIORITY = (250_000, 1_000_000)
HAIKU = (1_000_000, 5_000_000, 100_000)
SONNET = (3_000_000, 15_000_000)
SONNET_LONG = (6_000_000, 22_500_000)  # a call of more than 200,000 input tokens
GEMINI_PRO = (1_250_000, 10_000_000)
GEMINI_PRO_LONG = (2_500_000, 15_000_000)
PICO = Decimal("1e-12")

T = datetime(2026, 3, 2, 12, tzinfo=UTC)


def call(
    n: int, feature: str, model: str, tokens: tuple[int, int], cost: int, **more: object
) -> CostEvent:
    values: dict[str, object] = {"status": "ok", "ts": T, "feature": feature, "model": model}
    values.update(more)
    return CostEvent(
        request_id=f"w{n}", input_tokens=tokens[0], output_tokens=tokens[1], cost_pico=cost,
        **values,  # type: ignore[arg-type]
    )  # fmt: skip


# chat: two answered gpt-4o calls (the second read 1,000 of its 3,000 input tokens from the
# prompt cache), a cut call, a refusal and a cache hit.
W1 = 1000 * GPT_4O[0] + 200 * GPT_4O[1]  # 4_500_000_000
W2 = 2000 * GPT_4O[0] + 1000 * GPT_4O[2] + 100 * GPT_4O[1]  # 7_250_000_000
W3 = 500 * GPT_4O[0] + 20 * GPT_4O[1]  # 1_450_000_000, cut
# faq: routed calls (tier simple on Haiku, complex on Sonnet) and a failed one
W6 = 800 * HAIKU[0] + 100 * HAIKU[1]  # 1_300_000_000
W7 = 400 * SONNET[0] + 40 * SONNET[1]  # 1_800_000_000
# docs: a long-context call of 250,000 input tokens (Sonnet's dearer tier) and a short one
W9 = 250_000 * SONNET_LONG[0] + 1000 * SONNET_LONG[1]  # 1_522_500_000_000
W10 = 1000 * SONNET[0] + 100 * SONNET[1]  # 4_500_000_000
# batch: gpt-4o at the priority service tier
W11 = 1000 * GPT_4O_PRIORITY[0] + 100 * GPT_4O_PRIORITY[1]  # 5_950_000_000

EVENTS = [
    call(1, "chat", "gpt-4o", (1000, 200), W1, user_id="ann"),
    call(2, "chat", "gpt-4o", (3000, 100), W2, cache_read_tokens=1000),
    call(3, "chat", "gpt-4o", (500, 20), W3, status="cut"),
    call(4, "chat", "gpt-4o", (0, 0), 0, status="refused", refused_by="budget user:*/day"),
    call(5, "chat", "gpt-4o", (1000, 200), 0, cache_hit=True, saved_pico=W1),
    call(
        6,
        "faq",
        "claude-haiku-4-5",
        (800, 100),
        W6,
        tier="simple",
        route_reason="auto",
        user_id="ann",
    ),
    call(7, "faq", "claude-sonnet-4-5", (400, 40), W7, tier="complex", route_reason="auto"),
    call(8, "faq", "claude-haiku-4-5", (100, 0), 0, status="error", tier="simple"),
    call(9, "docs", "claude-sonnet-4-5", (250_000, 1000), W9),
    call(10, "docs", "claude-sonnet-4-5", (1000, 100), W10),
    call(11, "batch", "gpt-4o", (1000, 100), W11, service_tier="priority"),
]
CHAT = W1 + W2 + W3  # 13_200_000_000
FAQ = W6 + W7
DOCS = W9 + W10


def usd(pico: int) -> Decimal:
    return Decimal(pico) * PICO


@pytest.fixture(scope="module", params=LEDGER_BACKENDS)
def reports(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Reports]:
    yield from reports_over(EVENTS, request.param, tmp_path_factory)


def by_feature(result: WhatIf) -> dict[str | None, WhatIfRow]:
    return {r.feature: r for r in result.rows}


def whatif_pico(result: WhatIf, feature: str) -> int:
    return int(by_feature(result)[feature].whatif_usd / PICO)


def test_the_catalog_prices_the_figures_below_use() -> None:
    """The rates written above are the catalog's (a new genai-prices would show here first)."""
    catalog = default_catalog()
    found = {}
    for name, model in (
        ("gpt-4o", "gpt-4o"),
        ("mini", "gpt-4o-mini"),
        ("haiku", "claude-haiku-4-5"),
    ):
        p = catalog.resolve(model)
        found[name] = (p.input_pico_per_token, p.output_pico_per_token, p.cache_read_pico_per_token)
    assert found == {"gpt-4o": GPT_4O, "mini": MINI, "haiku": HAIKU}
    sonnet, pro = catalog.resolve("claude-sonnet-4-5"), catalog.resolve("gemini-2.5-pro")
    assert (sonnet.input_pico_per_token, sonnet.output_pico_per_token) == SONNET
    assert [
        (t.threshold, t.input_pico_per_token, t.output_pico_per_token) for t in sonnet.tiers
    ] == [(200_000, *SONNET_LONG)]
    assert (pro.input_pico_per_token, pro.output_pico_per_token) == GEMINI_PRO
    assert [(t.threshold, t.input_pico_per_token, t.output_pico_per_token) for t in pro.tiers] == [
        (200_000, *GEMINI_PRO_LONG)
    ]
    for model, rates in (("gpt-4o", GPT_4O_PRIORITY), ("gpt-4o-mini", MINI_PRIORITY)):
        p = catalog.resolve(model, context={"service_tier": "priority"})
        assert (p.input_pico_per_token, p.output_pico_per_token) == rates


def test_a_feature_moved_to_another_model_is_priced_at_it(reports: Reports) -> None:
    """chat → gpt-4o-mini (same tokenizer): the two answered calls at mini's prices, the cache
    read at its cache price; the cut call keeps its cost, the refusal and the hit stay $0."""
    result = reports.whatif(Scenario(routes={"chat": "gpt-4o-mini"}))
    w1 = 1000 * MINI[0] + 200 * MINI[1]  # 270_000_000
    w2 = 2000 * MINI[0] + 1000 * MINI[2] + 100 * MINI[1]  # 435_000_000
    row = by_feature(result)["chat"]
    assert row.actual_usd == usd(CHAT)
    assert row.whatif_usd == usd(w1 + w2 + W3)
    assert row.difference_usd == usd(w1 + w2 + W3 - CHAT)
    assert (row.calls, row.priced, row.moved) == (5, 2, 2)


def test_a_feature_not_named_keeps_its_cost(reports: Reports) -> None:
    """Moving chat changes nothing for the other features: what-if equals actual."""
    rows = by_feature(reports.whatif(Scenario(routes={"chat": "gpt-4o-mini"})))
    assert [(f, r.whatif_usd, r.difference_usd) for f, r in rows.items() if f != "chat"] == [
        ("docs", usd(DOCS), Decimal(0)),
        ("batch", usd(W11), Decimal(0)),
        ("faq", usd(FAQ), Decimal(0)),
    ]


def test_input_is_recounted_for_another_tokenizer(reports: Reports) -> None:
    """chat → claude-haiku-4-5: input (and the cache read) × 1.25 (Claude per o200k_base
    token), output as logged: 1,250 and 3,750 input tokens, 1,250 of them read from the cache."""
    result = reports.whatif(Scenario(routes={"chat": "claude-haiku-4-5"}))
    w1 = 1250 * HAIKU[0] + 200 * HAIKU[1]  # 2_250_000_000
    w2 = 2500 * HAIKU[0] + 1250 * HAIKU[2] + 100 * HAIKU[1]  # 3_125_000_000
    assert whatif_pico(result, "chat") == w1 + w2 + W3
    assert [(r.from_model, r.to_model, r.ratio, r.calls) for r in result.ratios] == [
        ("gpt-4o", "claude-haiku-4-5", Decimal("1.25"), 2)
    ]


def test_a_long_call_moved_is_priced_at_its_long_context_tier(reports: Reports) -> None:
    """docs → gemini-2.5-pro: 250,000 Claude tokens × 0.84 (1.05 / 1.25) = 210,000 Gemini
    tokens, above its 200,000 threshold: that call at the long-context rates, the short one at
    the base rates."""
    result = reports.whatif(Scenario(routes={"docs": "gemini-2.5-pro"}))
    w9 = 210_000 * GEMINI_PRO_LONG[0] + 1000 * GEMINI_PRO_LONG[1]  # 540_000_000_000
    w10 = 840 * GEMINI_PRO[0] + 100 * GEMINI_PRO[1]  # 2_050_000_000
    assert whatif_pico(result, "docs") == w9 + w10


def test_a_call_keeps_its_service_tier(reports: Reports) -> None:
    """batch's priority call moved to gpt-4o-mini is priced at mini's priority price."""
    result = reports.whatif(Scenario(routes={"batch": "gpt-4o-mini"}))
    assert whatif_pico(result, "batch") == 1000 * MINI_PRIORITY[0] + 100 * MINI_PRIORITY[1]


def test_other_prices_reprice_the_calls(reports: Reports) -> None:
    """Other prices (a file's [models]): gpt-4o at $2 / $8 re-prices chat's answered calls
    (W1, W2 at the new rates; the cut call kept; the cache read at the input price, the
    override naming none), and batch's priority call — the override has no priority price — at
    the override."""
    catalog = PriceCatalog(overrides={"gpt-4o": {"input": "2", "output": "8"}})
    rows = by_feature(reports.whatif(Scenario(prices=catalog)))
    w1 = 1000 * 2_000_000 + 200 * 8_000_000
    w2 = 3000 * 2_000_000 + 100 * 8_000_000
    assert rows["chat"].whatif_usd == usd(w1 + w2 + W3)
    assert rows["batch"].whatif_usd == usd(1000 * 2_000_000 + 100 * 8_000_000)


def test_repricing_at_the_same_prices_keeps_every_cost(reports: Reports) -> None:
    """Re-priced with the bundled prices, the calls of the models the catalog prices as they
    were logged cost what they cost — the 250,000-token call at Sonnet's long-context rate,
    although the docs calls are summed in the database (else 251,000 tokens at the long rate)."""
    rows = by_feature(reports.whatif(Scenario(prices=default_catalog())))
    assert {f: r.difference_usd for f, r in rows.items()} == {
        "docs": 0, "faq": 0, "chat": 0, "batch": 0,
    }  # fmt: skip


def test_a_cache_hit_rate_frees_that_share_of_the_priced_calls(reports: Reports) -> None:
    """0.3: chat's two answered calls cost 70 % of their logged cost; the cut call is kept."""
    result = reports.whatif(Scenario(cache_hit_rate=Decimal("0.3")))
    assert whatif_pico(result, "chat") == (W1 + W2) * 7 // 10 + W3
    assert by_feature(result)["chat"].moved == 0


def test_a_cache_hit_rate_applies_after_a_move(reports: Reports) -> None:
    """chat → gpt-4o-mini at a hit rate of 0.5: half of mini's cost of the two calls."""
    result = reports.whatif(Scenario(routes={"chat": "gpt-4o-mini"}, cache_hit_rate=Decimal("0.5")))
    w1 = 1000 * MINI[0] + 200 * MINI[1]
    w2 = 2000 * MINI[0] + 1000 * MINI[2] + 100 * MINI[1]
    assert whatif_pico(result, "chat") == (w1 + w2) // 2 + W3


def _tiers(feature: str | None, tier: str) -> str | None:
    models: dict[tuple[str | None, str], str] = {
        ("faq", "simple"): "gpt-4o-mini",
        ("faq", "complex"): "gpt-4o",
    }
    return models.get((feature, tier))


def test_routed_calls_move_to_the_model_of_their_tier(reports: Reports) -> None:
    """faq's tier simple → gpt-4o-mini, complex → gpt-4o: input × 0.8 (o200k_base per Claude
    token): 640 and 320 tokens; the failed call keeps its $0."""
    scenario = Scenario(tier_model=_tiers, tier_models=["gpt-4o-mini", "gpt-4o"])
    result = reports.whatif(scenario)
    w6 = 640 * MINI[0] + 100 * MINI[1]  # 156_000_000
    w7 = 320 * GPT_4O[0] + 40 * GPT_4O[1]  # 1_200_000_000
    assert whatif_pico(result, "faq") == w6 + w7
    assert by_feature(result)["faq"].moved == 2


def test_calls_without_a_tier_keep_their_model_under_tiers(reports: Reports) -> None:
    """The calls the router did not route (chat, docs, batch) keep their cost."""
    scenario = Scenario(tier_model=_tiers, tier_models=["gpt-4o-mini", "gpt-4o"])
    rows = by_feature(reports.whatif(scenario))
    assert [rows[f].difference_usd for f in ("chat", "docs", "batch")] == [0, 0, 0]


def test_a_route_wins_over_the_tiers(reports: Reports) -> None:
    """faq routed to gpt-4o-mini as a whole: the complex call goes there too."""
    scenario = Scenario(
        routes={"faq": "gpt-4o-mini"}, tier_model=_tiers, tier_models=["gpt-4o-mini", "gpt-4o"]
    )
    result = reports.whatif(scenario)
    assert (
        whatif_pico(result, "faq") == 640 * MINI[0] + 100 * MINI[1] + 320 * MINI[0] + 40 * MINI[1]
    )


def test_the_total_adds_up_the_features(reports: Reports) -> None:
    """The total's actual is every call's cost; its what-if the rows' sum."""
    result = reports.whatif(Scenario(routes={"chat": "gpt-4o-mini"}))
    assert result.total.actual_usd == usd(CHAT + FAQ + DOCS + W11)
    assert result.total.whatif_usd == sum(r.whatif_usd for r in result.rows)
    assert (result.total.calls, result.total.priced) == (11, 7)


def test_rows_rank_by_actual_cost(reports: Reports) -> None:
    result = reports.whatif(Scenario(cache_hit_rate=Decimal("0.1")))
    assert [r.feature for r in result.rows] == ["docs", "chat", "batch", "faq"]


def test_filters_and_range_narrow_the_calls(reports: Reports) -> None:
    """A feature filter keeps its row only; a range without the day keeps none."""
    scenario = Scenario(routes={"chat": "gpt-4o-mini"})
    assert [r.feature for r in reports.whatif(scenario, feature="faq").rows] == ["faq"]
    assert reports.whatif(scenario, since=date(2026, 3, 3)).rows == []


def test_a_range_of_instants_reads_the_events_alike(reports: Reports) -> None:
    """Two hours around the calls (a partial day: read from the events, not the rollup) give
    the figures of the whole day, long-context call included."""
    scenario = Scenario(routes={"docs": "gemini-2.5-pro", "chat": "gpt-4o-mini"})
    hours = reports.whatif(scenario, since=T - timedelta(hours=1), until=T + timedelta(hours=1))
    assert hours == reports.whatif(scenario, since=date(2026, 3, 2), until=date(2026, 3, 2))


def test_a_user_filter_reads_that_users_calls(reports: Reports) -> None:
    """ann's calls: W1 (chat, moved to gpt-4o-mini) and W6 (faq, kept)."""
    result = reports.whatif(Scenario(routes={"chat": "gpt-4o-mini"}), user="ann")
    assert {f: (r.calls, r.whatif_usd) for f, r in by_feature(result).items()} == {
        "chat": (1, usd(1000 * MINI[0] + 200 * MINI[1])),
        "faq": (1, usd(W6)),
    }


def test_the_assumptions_are_stated(reports: Reports) -> None:
    """Every assumption is in words: the route, prices, output carried over, the tokenizer
    ratios, what is kept, the cache rate, and each ratio used."""
    result = reports.whatif(
        Scenario(routes={"chat": "claude-haiku-4-5"}, cache_hit_rate=Decimal("0.3"))
    )
    text = "\n".join(result.assumptions)
    for needle in (
        "chat → claude-haiku-4-5",
        "as in force now",
        "keeps its logged output tokens",
        "Claude 1.25, Gemini 1.05",
        "An estimate",
        "cut, failed (error) or lost keep their logged cost",
        "response cache stay at $0",
        "0.3 of each feature's calls",
        "gpt-4o (o200k_base) → claude-haiku-4-5 (claude): × 1.25 on input (2 calls)",
    ):
        assert needle in text, needle


def test_a_model_the_catalog_cannot_price_is_refused(reports: Reports) -> None:
    with pytest.raises(UnknownModel, match="no-such-model"):
        reports.whatif(Scenario(routes={"chat": "no-such-model"}))


@pytest.mark.parametrize("rate", [Decimal("-0.1"), Decimal("1.5"), Decimal("NaN")])
def test_a_cache_hit_rate_outside_0_to_1_is_refused(rate: Decimal) -> None:
    with pytest.raises(ValueError, match="cache_hit_rate"):
        Scenario(cache_hit_rate=rate)


def test_a_logged_model_without_a_price_keeps_its_cost(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Re-priced with other prices, the calls of a model no catalog knows keep their cost, and
    the assumptions say so."""
    odd = [call(1, "lab", "house-model-7", (100, 10), 123_456)]
    for reports in reports_over(odd, "sqlite", tmp_path_factory):
        result = reports.whatif(Scenario(prices=default_catalog()))
        assert by_feature(result)["lab"].whatif_usd == usd(123_456)
        assert any("house-model-7: no price" in line for line in result.assumptions)


@pytest.mark.parametrize("backend", LEDGER_BACKENDS)
def test_tiers_on_a_ledger_before_routing_are_refused(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A version-5 ledger has no routing tiers: a tier scenario is one ConfigError; a route is
    priced as usual."""
    url = ledger_url(backend, tmp_path_factory)
    make_older(url, 5, [replace(e, tier=None, route_reason=None) for e in EVENTS])
    reports = Reports.open(url)
    try:
        with pytest.raises(ConfigError, match="predates routing tiers"):
            reports.whatif(Scenario(tier_model=_tiers, tier_models=["gpt-4o"]))
        rows = by_feature(reports.whatif(Scenario(routes={"batch": "gpt-4o-mini"})))
        assert rows["batch"].whatif_usd == usd(1000 * MINI_PRIORITY[0] + 100 * MINI_PRIORITY[1])
    finally:
        reports.close()
        if backend == "postgres":
            drop_postgres_schema(url)
