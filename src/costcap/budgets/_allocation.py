"""Split one total across features by share: ``allocate(5000, {"chat": 40, "code": 30, …})``."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_FLOOR, Decimal
from typing import Literal

from costcap.budgets._budget import Budget
from costcap.errors import ConfigError
from costcap.money import parse_usd

__all__ = ["allocate"]

_MICRO = Decimal("0.000001")


def allocate(
    total_usd: Decimal | int | float | str,
    shares: Mapping[str, Decimal | int | float | str],
    *,
    period: str = "month",
    mode: Literal["hard", "soft"] = "hard",
    timezone: str = "UTC",
    scope_kind: str = "feature",
) -> list[Budget]:
    """One budget per feature, each ``total × share / 100`` (shares are percentages that must add
    up to at most 100), rounded down to the micro-dollar so the parts never add up to more than
    the total."""
    try:
        total = parse_usd(total_usd, what="allocation total_usd")
        parts = {
            name: parse_usd(share, what=f"allocation share {name!r}")
            for name, share in shares.items()
        }
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not parts:
        raise ConfigError("allocation: no shares given")
    if sum(parts.values()) > 100:
        raise ConfigError(f"allocation: shares add up to {sum(parts.values())}%, more than 100%")
    return [
        Budget(
            scope=f"{scope_kind}:{name}",
            period=period,
            limit_usd=(total * share / 100).quantize(_MICRO, rounding=ROUND_FLOOR),
            mode=mode,
            timezone=timezone,
        )
        for name, share in parts.items()
    ]
