"""Service tiers: the processing a call asks for or is served at, and the price variant it selects.

Providers price one model differently by how a call is processed: OpenAI's ``service_tier``
(``flex`` at about half the standard price, ``priority`` / ``fast`` at about twice it), Anthropic's
fast mode (``speed="fast"``), batch processing. genai-prices carries those prices as variants
selected by a request context (``{"service_tier": "priority"}``, ``{"speed": "fast"}``,
``{"processing": "batch"}``); costcap names each by one word, the tier, and maps it here.

A call is reserved at the tier it asks for — the dearest it may be served at — and settled at the
tier the provider reports it was served at.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from costcap.errors import CostcapError

__all__ = [
    "STANDARD_TIERS",
    "TIERS",
    "UnknownServiceTier",
    "anthropic_served_tier",
    "check_tier",
    "price_context",
]

# Tiers priced as the model's standard price (no variant).
STANDARD_TIERS: Final = frozenset({"default", "standard", "auto", "standard_only"})
# Every tier costcap prices; others are refused (a typo must not price a call as standard).
TIERS: Final = frozenset(
    {*STANDARD_TIERS, "flex", "priority", "fast", "ultrafast", "scale", "batch"}
)


class UnknownServiceTier(CostcapError, ValueError):
    """A service tier costcap cannot price: the call is refused before it is sent, rather than
    reserved at the standard price."""


def check_tier(tier: object, what: str = "service_tier") -> str | None:
    """``tier`` when costcap knows it (``None`` passes), else :class:`UnknownServiceTier`."""
    if tier is None:
        return None
    if not isinstance(tier, str) or tier not in TIERS:
        known = ", ".join(sorted(TIERS))
        raise UnknownServiceTier(f"{what} must be one of {known}, not {tier!r}")
    return tier


def price_context(provider: str | None, tier: str | None) -> Mapping[str, str] | None:
    """The genai-prices request context that selects ``tier``'s prices for ``provider``'s model
    (``None``: the standard price)."""
    if tier is None or tier in STANDARD_TIERS:
        return None
    if tier == "batch":
        return {"processing": "batch"}
    if tier == "fast" and provider == "anthropic":
        return {"speed": "fast"}
    return {"service_tier": tier}


def anthropic_served_tier(usage: object) -> str | None:
    """The tier an Anthropic usage reports — the SDK's ``Usage`` or its JSON mapping: ``fast``
    for fast mode, else its ``service_tier`` (``standard``, ``priority``, ``batch``), or
    ``None`` when it says nothing."""
    if isinstance(usage, Mapping):
        speed, tier = usage.get("speed"), usage.get("service_tier")
    else:
        speed, tier = getattr(usage, "speed", None), getattr(usage, "service_tier", None)
    if speed == "fast":
        return "fast"
    return tier if isinstance(tier, str) else None
