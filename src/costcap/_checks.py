"""Argument checks shared by the constructors (Budget, RateLimit, Policy, CostGuard…).

Each failure is a :class:`~costcap.errors.ConfigError` that names the argument and shows what
was given, never a raw ``TypeError`` from deeper down.
"""

from __future__ import annotations

from decimal import Decimal

from costcap.errors import ConfigError
from costcap.money import parse_usd

__all__ = ["count", "dollars", "text", "usd"]


def usd(value: object, what: str) -> Decimal:
    """A non-negative, finite dollar amount: ``"12.50"``, ``"$0.003"``, ``5``, ``0.5``."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise ConfigError(f"{what} must be a dollar amount (str, int or Decimal), not {value!r}")
    try:
        return parse_usd(value, what=what)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def dollars(amount: Decimal) -> str:
    """An amount as a message shows it: ``$1,000,000,001``, and an absurd one in scientific
    notation (``$1E+400``), never a number of hundreds of digits."""
    if amount.adjusted() < 30:
        return f"${amount:,f}"
    digits = "".join(map(str, amount.as_tuple().digits)).rstrip("0")
    return f"${digits[0]}{'.' if digits[1:] else ''}{digits[1:]}E+{amount.adjusted()}"


def count(value: object, what: str, *, most: int) -> int:
    """A whole number from 1 to ``most``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= most:
        raise ConfigError(f"{what} must be a whole number from 1 to {most:,}, not {value!r}")
    return value


def text(value: object, what: str) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{what} must be a non-empty string, not {value!r}")
    return value
