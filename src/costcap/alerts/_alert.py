"""What an alert says."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, get_args

__all__ = ["ALERT_KINDS", "Alert", "AlertKind"]

AlertKind = Literal["threshold", "exhausted", "oversized", "pacing", "anomaly"]
ALERT_KINDS: tuple[AlertKind, ...] = get_args(AlertKind)


@dataclass(frozen=True, slots=True)
class Alert:
    """A budget crossed ``threshold_pct`` of its limit (``kind="threshold"``), refused a call
    for lack of room (``kind="exhausted"``), refused a call whose worst case alone is larger
    than its whole limit (``kind="oversized"``: the budget itself may still have room; the call
    never fits), or is projected to pass its limit before the period ends (``kind="pacing"``:
    ``threshold_pct`` is the projected share of the limit). Fired once per budget, member,
    period and kind. ``kind="anomaly"`` is not about a budget: ``detail`` says what was seen (a
    spend spike, a runaway loop, usage beyond what a request allows; ``member`` names who)."""

    kind: AlertKind
    budget: str
    member: str
    mode: str
    period: str  # the bucket, e.g. "2026-11-28"
    threshold_pct: Decimal
    spent_usd: Decimal
    limit_usd: Decimal
    resets_at: datetime
    reserved_usd: Decimal = Decimal(0)  # held by calls in flight when it fired
    requested_usd: Decimal = Decimal(0)  # oversized: what the refused call needed
    projected_usd: Decimal | None = None  # pacing: the spend projected at the end of the period
    exhausts_at: datetime | None = None  # pacing: when the limit is projected to be reached
    detail: str = ""  # anomaly: what was seen

    @property
    def message(self) -> str:
        who = f" ({self.member})" if self.member else ""
        spent, limit = _plain(self.spent_usd), _plain(self.limit_usd)
        if self.kind == "anomaly":
            return f"costcap: anomaly: {self.detail}"
        if self.kind == "pacing":
            when = (
                f"; the limit is projected to be reached at {self.exhausts_at.isoformat()}"
                if self.exhausts_at is not None
                else ""
            )
            projected = _plain(self.projected_usd or Decimal(0))
            return (
                f"costcap: budget {self.budget}{who} is on pace to spend ${projected} of "
                f"${limit} in {self.period} ({_plain(self.threshold_pct)}%): ${spent} spent so "
                f"far{when}; it resets at {self.resets_at.isoformat()}"
            )
        if self.kind == "oversized":
            return (
                f"costcap: budget {self.budget}{who} refused a call needing up to "
                f"${_plain(self.requested_usd)}, more than its whole limit of ${limit} for "
                f"{self.period} (${spent} spent): raise the limit or lower the call's "
                "max_tokens"
            )
        if self.kind == "exhausted":
            return (
                f"costcap: budget {self.budget}{who} has no room left for {self.period}: "
                f"${spent} spent + ${_plain(self.reserved_usd)} in flight of ${limit}; "
                f"calls that could pass it are refused until {self.resets_at.isoformat()}"
            )
        return (
            f"costcap: budget {self.budget}{who} reached {_plain(self.threshold_pct)}% for "
            f"{self.period}: ${spent} of ${limit} ({self.mode})"
        )

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "budget": self.budget,
            "member": self.member,
            "mode": self.mode,
            "period": self.period,
            "threshold_pct": _plain(self.threshold_pct),
            "spent_usd": _plain(self.spent_usd),
            "limit_usd": _plain(self.limit_usd),
            "reserved_usd": _plain(self.reserved_usd),
            "resets_at": self.resets_at.isoformat(),
            "message": self.message,
        }
        if self.kind == "oversized":
            data["requested_usd"] = _plain(self.requested_usd)
        if self.projected_usd is not None:
            data["projected_usd"] = _plain(self.projected_usd)
        if self.exhausts_at is not None:
            data["exhausts_at"] = self.exhausts_at.isoformat()
        if self.detail:
            data["detail"] = self.detail
        return data


def _plain(value: Decimal) -> str:
    """Fixed-point, no exponent and no trailing zeros: ``300``, ``0.5`` (never ``3E+2``)."""
    return f"{value.normalize():f}"
