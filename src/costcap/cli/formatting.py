"""How the CLI writes numbers: exact decimal strings for JSON, readable money for tables."""

from __future__ import annotations

from decimal import Context, Decimal

__all__ = ["decimal_text", "money", "tokens_text"]

_CENT = Decimal("0.01")
_MICRO = Decimal("0.000001")


def _exact(value: Decimal) -> Context:
    """A context wide enough to quantize ``value`` to a millionth without an error."""
    return Context(prec=max(28, value.adjusted() + 10))


def decimal_text(value: Decimal) -> str:
    """Exact, fixed-point (no exponent): ``405.00``, ``0.0135``; at least two places."""
    cents = value.quantize(_CENT, context=_exact(value))
    return f"{cents:f}" if value == cents else f"{value.normalize(_exact(value)):f}"


def money(value: Decimal) -> str:
    """``$405.00``; amounts under a dollar keep up to six places (``$0.0135``, ``$0.50``)."""
    sign = "-" if value < 0 else ""
    value = value.copy_abs()
    cents = value.quantize(_CENT, context=_exact(value))
    if value >= 1 or value == cents:
        return f"{sign}${cents:,}"
    return f"{sign}${value.quantize(_MICRO).normalize():f}"


def tokens_text(value: Decimal) -> str:
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.1f}"
