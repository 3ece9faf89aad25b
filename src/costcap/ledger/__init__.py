"""The cost ledger: one event per call, durable, with rollups for fast reports."""

from __future__ import annotations

from costcap.ledger._event import STATUSES, CostEvent, Status
from costcap.ledger._sinks import LedgerSink, PostgresSink, SQLiteSink, open_sink

__all__ = [
    "STATUSES",
    "CostEvent",
    "LedgerSink",
    "PostgresSink",
    "SQLiteSink",
    "Status",
    "open_sink",
]
