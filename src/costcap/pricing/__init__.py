"""Prices and costs: genai-prices data plus ``costcap.toml`` overrides, exact integer arithmetic.

::

    from costcap.pricing import default_catalog

    cost = default_catalog().cost("claude-sonnet-4-5", response.usage)
    cost.total_pico, cost.total_usd          # 13_500_000_000, Decimal('0.0135')

Resolve once, price many times on the hot path::

    price = default_catalog().resolve("gpt-4o")
    price.cost(Usage(input_tokens=2_000, output_tokens=500))
"""

from __future__ import annotations

from ._catalog import PriceCatalog, default_catalog
from ._cost import Cost, ModelPrice, PriceTier
from ._usage import Usage, usage_from

__all__ = [
    "Cost",
    "ModelPrice",
    "PriceCatalog",
    "PriceTier",
    "Usage",
    "default_catalog",
    "usage_from",
]
