"""Property: for any usage vector our integer cost equals genai-prices' Decimal cost."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costcap.pricing import PriceCatalog, Usage, default_catalog

from .conftest import genai_total

# Models with tiers, cache writes, one-hour writes, per-request fees and sub-picodollar prices;
# none has time-of-day prices, so "now" is the same instant on both sides.
MODELS = [
    ("claude-sonnet-4-5", None),
    ("gemini-2.5-pro", None),
    ("gpt-4o", None),
    ("sonar-pro", "perplexity"),
    ("google/gemini-2.5-flash", "openrouter"),
]


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    """Consistent usage vectors: cache reads + writes within the total input."""
    total = draw(st.integers(0, 2_000_000))
    read = draw(st.integers(0, total))
    write = draw(st.integers(0, total - read))
    return Usage(
        total,
        draw(st.integers(0, 200_000)),
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_1h_tokens=draw(st.integers(0, write)),
    )


@pytest.mark.parametrize(("model", "provider"), MODELS)
@settings(max_examples=150, deadline=None)
@given(usage=usages())
def test_cost_equals_genai_prices_for_any_usage(
    model: str, provider: str | None, usage: Usage
) -> None:
    """catalog.cost(...).total_usd == genai_prices.calc_price(...).total_price."""
    catalog: PriceCatalog = default_catalog()
    assert catalog.resolve(model, provider=provider).valid_until is None
    assert catalog.cost(model, usage, provider=provider).total_usd == genai_total(
        model, usage, provider=provider
    )
