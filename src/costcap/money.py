"""Exact money.

Costs are computed in integer **picodollars** (10⁻¹² USD). A price quoted in USD per million
tokens is, multiplied by 10⁶, an integer number of picodollars per token for every price in the
catalog (prices have at most six decimals per million tokens), so ``tokens × price`` is exact
integer arithmetic with no rounding anywhere. :class:`decimal.Decimal` is used at the edges
(configuration, display, JSON) and never ``float``.

Stores that keep counters (budgets, rate limits) work in whole micro-dollars; :func:`to_micros_ceil`
rounds a cost *up* to the next micro-dollar so that a budget counter can never under-count.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

__all__ = [
    "PICO_PER_MICRO",
    "PICO_PER_USD",
    "format_usd",
    "micros_ceil_from_usd",
    "parse_usd",
    "pico_ceil_from_usd",
    "pico_from_usd",
    "to_micros_ceil",
    "usd_from_pico",
    "usd_text",
]

PICO_PER_USD = 10**12
PICO_PER_MICRO = 10**6
_PICO = Decimal(PICO_PER_USD)


def usd_from_pico(pico: int) -> Decimal:
    """Exact USD value of an integer number of picodollars."""
    return Decimal(pico).scaleb(-12).normalize() if pico else Decimal(0)


def usd_text(pico: int) -> str:
    """``str(usd_from_pico(pico))`` with integer and string operations only: the ledger writes
    it on every call, right after the SDK's work has left ``decimal``'s code cold (18 µs
    there, measured, against ~5 µs for this). Past ``decimal``'s 28 digits it defers to it
    (its context rounds them)."""
    if not pico:
        return "0"
    sign = "-" if pico < 0 else ""
    whole = str(-pico if pico < 0 else pico)
    digits = whole.rstrip("0")
    if len(digits) > _DECIMAL_DIGITS:
        return str(usd_from_pico(pico))
    exponent = len(whole) - len(digits) - 12
    adjusted = exponent + len(digits) - 1
    if exponent <= 0 and adjusted >= -6:  # decimal's own rule for plain notation
        point = len(digits) + exponent
        if exponent == 0:
            return sign + digits
        if point > 0:
            return f"{sign}{digits[:point]}.{digits[point:]}"
        return f"{sign}0.{'0' * -point}{digits}"
    mantissa = digits if len(digits) == 1 else f"{digits[0]}.{digits[1:]}"
    return f"{sign}{mantissa}E{'+' if adjusted > 0 else '-'}{abs(adjusted)}"


_DECIMAL_DIGITS = 28  # decimal's default context precision
_MOST_DIGITS = 40  # whole digits of a scaled amount worth counting (stores count up to 16)
_STRAY_UNDERSCORE = re.compile(r"(?<![0-9])_|_(?![0-9])")  # one not between two digits


def pico_from_usd(usd: Decimal | int | str) -> int:
    """Picodollars in ``usd``; raises ``ValueError`` if it is not a whole number of picodollars."""
    value = Decimal(usd) if not isinstance(usd, Decimal) else usd
    pico = _scaled_ceil(value, 12)
    if pico != -_scaled_ceil(-value, 12):
        raise ValueError(f"{usd} USD is finer than a picodollar")
    return pico


def parse_usd(text: str | int | float | Decimal, *, what: str = "amount") -> Decimal:
    """Parse a dollar amount such as ``"12.50"``, ``"$0.003"``, ``5`` or ``0.5``.

    A ``float`` is read through its shortest repr (``0.1`` is ``Decimal("0.1")``, what was typed),
    never through its binary value. Text is ASCII: digits with an optional sign, point and
    exponent, one leading ``$``, underscores only between digits (``"1_000"``, as in Python),
    spaces around. Raises ``ValueError`` for anything else, including negatives, NaN and
    infinities, ``True``/``False`` and other types.
    """
    if isinstance(text, bool) or not isinstance(text, str | int | float | Decimal):
        raise ValueError(f"{what} is not a dollar amount: {text!r}")
    raw: str | int | Decimal
    if isinstance(text, float):
        raw = repr(text)
    elif isinstance(text, str):
        raw = text.strip().removeprefix("$")
        if not raw.isascii() or _STRAY_UNDERSCORE.search(raw):
            raise ValueError(f"{what} is not a dollar amount: {text!r}")
    else:
        raw = text
    try:
        value = Decimal(raw)
    except (InvalidOperation, ValueError):
        raise ValueError(f"{what} is not a dollar amount: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"{what} is not a finite dollar amount: {text!r}")
    if value < 0:
        raise ValueError(f"{what} must not be negative: {text!r}")
    return value


def to_micros_ceil(pico: int) -> int:
    """Whole micro-dollars, rounded up (``-(-a // b)`` is ceiling division on ints)."""
    return -(-pico // PICO_PER_MICRO)


def micros_ceil_from_usd(usd: Decimal) -> int:
    """Whole micro-dollars in ``usd`` (finite), rounded up."""
    return _scaled_ceil(usd, 6)


def pico_ceil_from_usd(usd: Decimal) -> int:
    """Whole picodollars in ``usd`` (finite), rounded up."""
    return _scaled_ceil(usd, 12)


def _scaled_ceil(value: Decimal, places: int) -> int:
    """``ceil(value × 10**places)`` in integers, exact for every digit of ``value``: decimal's
    arithmetic would first round the product to 28 digits, and could round it down
    (``0.0000010000000000000000000000000001`` would be 1 micro-dollar, not 2). A product of
    ``_MOST_DIGITS`` digits or more (no store counts it) is a ValueError, not an integer of a
    million digits."""
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"{value} is not a finite amount")
    whole = int("".join(map(str, digits)))
    if whole and value.adjusted() + places >= _MOST_DIGITS:
        raise ValueError(f"{value:E} USD is too large to count")
    shift = exponent + places
    if shift >= 0:
        low = high = whole * int(10**shift)
    elif -shift > len(digits):  # under one unit (and 10**-shift may be huge)
        low, high = 0, 1 if whole else 0
    else:
        low, rest = divmod(whole, int(10**-shift))
        high = low + 1 if rest else low
    return -low if sign else high  # ceil(-x) = -floor(x)


def format_usd(value: Decimal | int, *, places: int = 2) -> str:
    """``$1,234.56`` for display. ``int`` means picodollars. Shows more places for tiny amounts:
    up to six, or every digit of an amount under half a micro-dollar (not ``$0.``)."""
    usd = usd_from_pico(value) if isinstance(value, int) else value
    if usd != 0 and abs(usd) < Decimal(1).scaleb(-places):
        text = f"{usd:,.6f}".rstrip("0")
        if text.endswith("."):  # nothing left in six places
            text = f"{usd.normalize():f}"
        return f"${text}"
    return f"${usd:,.{places}f}"
