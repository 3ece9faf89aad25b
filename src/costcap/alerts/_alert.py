"""What an alert says."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

__all__ = ["Alert"]


@dataclass(frozen=True, slots=True)
class Alert:
    """A budget crossed ``threshold_pct`` of its limit (``kind="threshold"``), or refused a call
    for lack of room (``kind="exhausted"``). Fired once per budget, member, period and kind."""

    kind: Literal["threshold", "exhausted"]
    budget: str
    member: str
    mode: str
    period: str  # the bucket, e.g. "2026-11-28"
    threshold_pct: Decimal
    spent_usd: Decimal
    limit_usd: Decimal
    resets_at: datetime
    reserved_usd: Decimal = Decimal(0)  # held by calls in flight when it fired

    @property
    def message(self) -> str:
        who = f" ({self.member})" if self.member else ""
        if self.kind == "exhausted":
            return (
                f"costcap: budget {self.budget}{who} has no room left for {self.period}: "
                f"${self.spent_usd} spent + ${self.reserved_usd} in flight of ${self.limit_usd}; "
                f"calls that could pass it are refused until {self.resets_at.isoformat()}"
            )
        return (
            f"costcap: budget {self.budget}{who} reached {self.threshold_pct}% for {self.period}: "
            f"${self.spent_usd} of ${self.limit_usd} ({self.mode})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "budget": self.budget,
            "member": self.member,
            "mode": self.mode,
            "period": self.period,
            "threshold_pct": str(self.threshold_pct),
            "spent_usd": str(self.spent_usd),
            "limit_usd": str(self.limit_usd),
            "reserved_usd": str(self.reserved_usd),
            "resets_at": self.resets_at.isoformat(),
            "message": self.message,
        }
