"""The cost event: one per call, whatever happened to it."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from costcap.money import usd_from_pico

__all__ = ["STATUSES", "CostEvent", "Status"]

Status = Literal["ok", "error", "refused", "cut"]
STATUSES: tuple[Status, ...] = ("ok", "error", "refused", "cut")


@dataclass(frozen=True, slots=True, kw_only=True)
class CostEvent:
    """What one call cost and why. ``request_id`` is unique: recording an event twice keeps one.

    ``status``: ``ok`` (answered), ``error`` (failed; nothing or only what was billed is charged),
    ``refused`` (a budget, rate limit or policy said no before sending; cost 0), ``cut`` (a stream
    stopped early by costcap or the client; the partial cost is charged).
    Money is exact integer picodollars: ``cost_pico`` what the provider bills, ``saved_pico`` what
    a cache hit or routing avoided. ``input_tokens`` is the total input, cache reads and writes
    included (the same convention as :class:`costcap.pricing.Usage`).
    """

    request_id: str
    ts: datetime  # when the call ended (or was refused), aware
    status: Status
    model: str  # the model billed (canonical name)
    requested_model: str | None = None
    provider: str | None = None
    user_id: str | None = None
    feature: str | None = None
    api_key_id: str | None = None
    endpoint: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_pico: int = 0
    saved_pico: int = 0
    latency_ms: float | None = None
    cache_hit: bool = False
    stream: bool = False
    refused_by: str | None = None  # the budget, rate limit or policy rule
    prompt_hash: str | None = None  # a digest of the request, for runaway-loop detection

    def __post_init__(self) -> None:
        if self.ts.tzinfo is None:
            raise ValueError("CostEvent.ts must be timezone-aware")
        if self.status not in STATUSES:
            raise ValueError(f"CostEvent.status must be one of {STATUSES}, not {self.status!r}")

    @property
    def cost_usd(self) -> Decimal:
        return usd_from_pico(self.cost_pico)

    @property
    def day(self) -> date:
        """The UTC calendar day the event belongs to (rollups and ``cost_logs.date``)."""
        return self.ts.astimezone(UTC).date()

    def to_json(self) -> str:
        """One line of JSON (the spool format and the ``costcap.costs`` log line).

        On the ledger's hot path: a flat dict of the fields (``dataclasses.asdict`` deep-copies
        and costs four times as much), encoded by one shared encoder.
        """
        data: dict[str, Any] = {name: getattr(self, name) for name in _FIELD_NAMES}
        data["ts"] = self.ts.astimezone(UTC).isoformat()
        data["cost_usd"] = str(self.cost_usd)
        return _ENCODER.encode(data)

    @classmethod
    def from_json(cls, line: str) -> CostEvent:
        data = json.loads(line)
        data.pop("cost_usd", None)
        data["ts"] = datetime.fromisoformat(data["ts"])
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(CostEvent))
_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True)
