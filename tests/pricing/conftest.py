"""Helpers shared by the pricing tests."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import genai_prices
import pytest

from costcap.pricing import PriceCatalog, Usage


def genai_total(
    model: str, usage: Usage, *, provider: str | None = None, at: datetime | None = None
) -> Decimal:
    """genai-prices' own ``calc_price(...).total_price`` for the same usage (the reference)."""
    gp_usage = genai_prices.Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
    )
    return genai_prices.calc_price(
        gp_usage, model, provider_id=provider, genai_request_timestamp=at
    ).total_price


@pytest.fixture
def catalog() -> PriceCatalog:
    """A fresh catalog with no overrides (no state shared between tests)."""
    return PriceCatalog()
