"""Dollars as chart text: compact on axes (``$1.2k``), to the cent on bar labels (``$1,234.56``).

Hand-written because matplotlib's formatters speak SI rather than money: ``EngFormatter`` writes
$0.03 as ``30 m``, and ``StrMethodFormatter`` has one precision for every tick, so an axis from
$0 to $0.005 and one up to $2,000 cannot share it.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["axis_dollars", "label_dollars"]

_SUFFIXES = ((1e9, "B"), (1e6, "M"), (1e3, "k"))


def _significant(value: float, digits: int) -> str:
    """``value`` to ``digits`` significant digits, in plain notation (never ``1e-05``)."""
    return format(Decimal(f"{value:.{digits}g}").normalize(), "f")


def axis_dollars(value: float) -> str:
    """A tick of a money axis: ``$0``, ``$0.005``, ``$0.03``, ``$1.5``, ``$250``, ``$1.2k``,
    ``$3.4M``: three significant digits at most, the tick values being round already."""
    if value == 0:
        return "$0"
    sign, size = ("-" if value < 0 else ""), abs(value)
    for limit, suffix in _SUFFIXES:
        if size >= limit:
            return f"{sign}${_significant(size / limit, 3)}{suffix}"
    return f"{sign}${_significant(size, 3)}"


def label_dollars(value: Decimal) -> str:
    """A bar's own amount: to the cent from one cent up (``$0.43``, ``$1,234.56``); below, two
    significant digits (``$0.0042``), so a small spend never reads as $0.00."""
    if value == 0:
        return "$0"
    if abs(value) >= Decimal("0.01"):
        return f"${value:,.2f}"
    return f"${_significant(float(value), 2)}"
