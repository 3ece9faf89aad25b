"""Alerts as a Guard fires them, and a ledger that holds some: for the tests of the alert history
(the ledger's table, the report, the command)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from costcap.alerts import Alert
from costcap.ledger import open_sink
from costcap.ledger._fired import FiredAlert

__all__ = ["HISTORY", "alert", "fired", "write_alerts"]


def alert(kind: str = "threshold", **fields: Any) -> Alert:
    """An alert of ``kind`` on the global $1 daily budget of 2026-03-05: 80 % reached with
    $0.81 spent (other fields as given)."""
    values: dict[str, Any] = {
        "kind": kind,
        "budget": "global/day",
        "member": "",
        "mode": "hard",
        "period": "2026-03-05",
        "threshold_pct": Decimal(80),
        "spent_usd": Decimal("0.81"),
        "limit_usd": Decimal(1),
        "resets_at": datetime(2026, 3, 6, tzinfo=UTC),
    }
    values.update(fields)
    return Alert(**values)


def fired(n: int, at: datetime, **fields: Any) -> FiredAlert:
    """The record of :func:`alert` (with ``fields``) fired at ``at``, the n-th of its writer."""
    return FiredAlert.of(alert(**fields), at=at, alert_id=f"test-writer-{n:012d}")


# Five alerts over three days of March 2026, in the order they fired (the report lists them
# the other way round): user ann's 50 % and 100 % of her $2 budget on the 4th at 10:00 and
# 15:30, the global budget's exhausted alert on the 5th at 09:00, a pacing alert at 09:00 the
# same instant (fired after it), and an anomaly on the 6th at 23:59:59.
HISTORY: tuple[FiredAlert, ...] = (
    fired(1, datetime(2026, 3, 4, 10, tzinfo=UTC), budget="user:*/day", member="ann",
          period="2026-03-04", threshold_pct=Decimal(50), spent_usd=Decimal("1.000001"),
          limit_usd=Decimal(2), resets_at=datetime(2026, 3, 5, tzinfo=UTC)),
    fired(2, datetime(2026, 3, 4, 15, 30, tzinfo=UTC), budget="user:*/day", member="ann",
          period="2026-03-04", threshold_pct=Decimal(100), spent_usd=Decimal(2),
          limit_usd=Decimal(2), resets_at=datetime(2026, 3, 5, tzinfo=UTC)),
    fired(3, datetime(2026, 3, 5, 9, tzinfo=UTC), kind="exhausted",
          threshold_pct=Decimal(100), spent_usd=Decimal("0.9"),
          reserved_usd=Decimal("0.05"), limit_usd=Decimal(1)),
    fired(4, datetime(2026, 3, 5, 9, tzinfo=UTC), kind="pacing", budget="global/month",
          period="2026-03", threshold_pct=Decimal("120.5"), spent_usd=Decimal("12.5"),
          limit_usd=Decimal(30), projected_usd=Decimal("36.15"),
          exhausts_at=datetime(2026, 3, 26, 7, 12, tzinfo=UTC),
          resets_at=datetime(2026, 4, 1, tzinfo=UTC)),
    fired(5, datetime(2026, 3, 6, 23, 59, 59, tzinfo=UTC), kind="anomaly", budget="",
          member="user:bob", mode="", period="2026-03-06T23",
          threshold_pct=Decimal("412.37"), spent_usd=Decimal("4.123700000001"),
          limit_usd=Decimal("1.000000000001"), detail="user bob spent $4.12 in the last hour",
          resets_at=datetime(2026, 3, 6, 23, 59, 59, tzinfo=UTC)),
)  # fmt: skip


def write_alerts(url: str, alerts: Sequence[FiredAlert] = HISTORY) -> str:
    """A ledger at ``url`` holding ``alerts`` (written by a sink, as the drain writes them)."""
    sink = open_sink(url)
    try:
        sink.write(alerts)
    finally:
        sink.close()
    return url
