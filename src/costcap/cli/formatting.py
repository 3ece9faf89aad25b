"""How the CLI writes numbers: exact decimal strings for JSON, readable money for tables."""

from __future__ import annotations

from decimal import Decimal

__all__ = ["decimal_text", "money", "tokens_text"]

_CENT = Decimal("0.01")
_MICRO = Decimal("0.000001")


def decimal_text(value: Decimal) -> str:
    """Exact, fixed-point (no exponent): ``405.00``, ``0.0135``; at least two places."""
    if value == value.quantize(_CENT):
        return f"{value.quantize(_CENT):f}"
    return f"{value.normalize():f}"


def money(value: Decimal) -> str:
    """``$405.00``; amounts under a dollar keep up to six places (``$0.0135``, ``$0.50``)."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value >= 1 or value == value.quantize(_CENT):
        return f"{sign}${value.quantize(_CENT):,}"
    return f"{sign}${value.quantize(_MICRO).normalize():f}"


def tokens_text(value: Decimal) -> str:
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.1f}"
