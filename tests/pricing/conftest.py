"""Helpers shared by the pricing tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import genai_prices
import pytest

from costcap.pricing import ModelPrice, PriceCatalog, Usage

_COUNTS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
           "cache_write_1h_tokens", "input_audio_tokens", "cache_audio_read_tokens",
           "output_audio_tokens", "input_image_tokens", "cache_image_read_tokens",
           "output_image_tokens")  # fmt: skip


def genai_usage(usage: Usage) -> genai_prices.Usage:
    """The same counts as genai-prices' own ``Usage`` (they share the names)."""
    return genai_prices.Usage(**{name: getattr(usage, name) for name in _COUNTS})


def genai_total(
    model: str, usage: Usage, *, provider: str | None = None, at: datetime | None = None
) -> Decimal:
    """genai-prices' own ``calc_price(...).total_price`` for the same usage (the reference)."""
    return genai_prices.calc_price(
        genai_usage(usage), model, provider_id=provider, genai_request_timestamp=at
    ).total_price


def data_prices(at: datetime) -> Iterator[tuple[Any, Any, dict[str, str] | None, ModelPrice]]:
    """Every priced model of genai-prices' data, standard and batch, compiled for ``at``:
    (provider, model info, price context, price). Models costcap corrects are left out (their
    prices are costcap's own, tested against published prices)."""
    from genai_prices.data_snapshot import get_snapshot

    from costcap.pricing._corrections import CORRECTIONS
    from costcap.pricing._genai import compile_price

    corrected = {(row.provider, row.model) for row in CORRECTIONS}
    for prov in get_snapshot().providers:
        for info in prov.models:
            if (prov.id, info.id) in corrected:
                continue
            for context in (None, {"processing": "batch"}):
                price = compile_price(prov, info, at=at, context=context)
                if price is not None:  # None: no token price, refused by the catalog
                    yield prov, info, context, price


@pytest.fixture
def catalog() -> PriceCatalog:
    """A fresh catalog with no overrides (no state shared between tests)."""
    return PriceCatalog()
