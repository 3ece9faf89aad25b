"""Long-context tiers: every tiered model of the price data, priced at each tier's edges and far
above its last threshold, equals genai-prices' ``calc_price`` (the reference).

The general differential test stops at 250k input tokens, below the upper tiers of models with
several (e.g. 32k and 256k): tiers taken in the wrong order would charge the lower tier's rate
above the last threshold and pass it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from costcap.pricing import Usage

from .conftest import data_prices, genai_usage

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _edges(thresholds: list[int]) -> list[int]:
    """Input sizes at and around each threshold, between them, and far above the last."""
    last = thresholds[-1]
    sizes = {last * 2 + 17, last * 8 + 3}
    for t in thresholds:
        sizes |= {t, t + 1}
    return sorted(sizes)


def test_every_tiered_model_matches_genai_prices_at_and_above_each_tier() -> None:
    checked = models = multi = 0
    for prov, info, context, price in data_prices(AT):
        if not price.tiers:
            continue
        thresholds = sorted(tier.threshold for tier in price.tiers)
        models += 1
        multi += len(thresholds) > 1
        output = 0 if price.output_pico_per_token is None else 1_000
        for size in _edges(thresholds):
            for usage in (Usage(size, output), Usage(size, output, cache_read_tokens=size // 2)):
                expected = info.calc_price(
                    genai_usage(usage), prov, genai_request_timestamp=AT, price_context=context
                ).total_price
                got = price.cost(usage).total_usd
                assert got == expected, (prov.id, info.id, context, usage)
                checked += 1
    assert models > 50
    assert multi >= 1  # the data has models with more than one tier: the order is exercised
    assert checked > 500


def test_the_rate_above_the_last_tier_is_the_last_tiers_rate() -> None:
    """For each model with two or more tiers, one token above the last threshold costs the last
    tier's input rate, which differs from the tier below it (so a swapped order is visible)."""
    seen = 0
    for prov, info, context, price in data_prices(AT):
        if len(price.tiers) < 2 or context is not None:
            continue
        ordered = sorted(price.tiers, key=lambda tier: tier.threshold)
        last, below = ordered[-1], ordered[-2]
        if last.input_pico_per_token == below.input_pico_per_token:
            continue
        size = last.threshold + 1
        expected = info.calc_price(
            genai_usage(Usage(size, 0)), prov, genai_request_timestamp=AT
        ).total_price
        assert price.cost(Usage(size, 0)).total_usd == expected, (prov.id, info.id)
        per_token = Decimal(last.input_pico_per_token) / 10 ** (12 + price.scale)
        assert expected == per_token * size, (prov.id, info.id)
        seen += 1
    assert seen >= 1
