"""The cost ledger: one event per call, durable, with rollups for fast reports.

``Ledger`` spools every event to a local append-only file before ``record`` returns and drains
batches to a sink (SQLite or PostgreSQL) in the background; see :mod:`costcap.ledger._writer`.
"""

from __future__ import annotations

from costcap.ledger._event import STATUSES, CostEvent, Status
from costcap.ledger._inflight import InFlight
from costcap.ledger._sinks import LedgerSink, PostgresSink, SQLiteSink, open_sink
from costcap.ledger._writer import FSYNC_POLICIES, FsyncPolicy, Ledger

__all__ = [
    "FSYNC_POLICIES",
    "STATUSES",
    "CostEvent",
    "FsyncPolicy",
    "InFlight",
    "Ledger",
    "LedgerSink",
    "PostgresSink",
    "SQLiteSink",
    "Status",
    "open_sink",
]
