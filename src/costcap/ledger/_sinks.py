"""Where ledger events land: SQLite (the embedded default) or PostgreSQL.

A sink writes a batch of events in ONE transaction: new events are inserted and added to every
rollup; events already recorded (same ``request_id``, e.g. a spool replayed after a crash) are
skipped, so replay is idempotent and rollups never double count (an event replaces the ``lost``
event of its call: :mod:`costcap.ledger._lost`). Opening a sink creates the
schema or migrates it to the current version (:mod:`costcap.ledger._migrate`). The sinks are in
:mod:`costcap.ledger._sqlite_sink` and :mod:`costcap.ledger._postgres_sink`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from costcap.ledger._event import CostEvent
from costcap.ledger._fired import FiredAlert
from costcap.ledger._inflight import InFlight
from costcap.ledger._postgres_sink import PostgresSink
from costcap.ledger._sqlite_sink import SQLiteSink
from costcap.ledger._urls import check_ledger_url

__all__ = ["LedgerSink", "PostgresSink", "SQLiteSink", "open_sink", "sqlite_path"]


class LedgerSink(Protocol):
    url: str

    def write(self, events: Sequence[CostEvent | InFlight | FiredAlert]) -> int:
        """Record ``events`` (and calls in flight, and alerts fired) atomically; returns how
        many events were new."""
        ...

    def convert_lost(self, cutoff: datetime) -> tuple[int, int]:
        """Turn the calls in flight whose lease ended before ``cutoff`` into ``lost`` events;
        how many, and their cost in picodollars (:mod:`costcap.ledger._lost`)."""
        ...

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query (reports); ``?`` placeholders on SQLite, ``%s`` on Postgres."""
        ...

    @property
    def dialect(self) -> str: ...

    def close(self) -> None: ...


def sqlite_path(url: str) -> str:
    """The file of ``sqlite:///relative.db`` / ``sqlite:////absolute.db``; ``:memory:`` for
    ``sqlite://``."""
    path = url[len("sqlite://") :].removeprefix("/") or ":memory:"
    if url.startswith("sqlite:////"):
        path = "/" + path.lstrip("/")
    return path


def open_sink(url: str) -> LedgerSink:
    """``sqlite:///path.db`` (``sqlite://`` alone: in memory) or ``postgresql://…?schema=…``;
    a URL that cannot work is a ConfigError (:mod:`costcap.ledger._urls`)."""
    if check_ledger_url(url) == "sqlite":
        return SQLiteSink(sqlite_path(url))
    return PostgresSink(url)
