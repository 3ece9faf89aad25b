"""SQL shared by the ledger sinks: event columns and the batch → rollups statements."""

from __future__ import annotations

from costcap.ledger._event import CostEvent
from costcap.ledger._schema import MEASURES, ROLLUPS

__all__ = ["EVENT_COLUMNS", "event_row", "merge_statements"]

EVENT_COLUMNS: tuple[str, ...] = (
    "request_id", "ts", "day", "status", "model", "requested_model", "provider", "user_id",
    "feature", "api_key_id", "endpoint", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "cost_pico", "saved_pico", "latency_ms", "cache_hit", "stream",
    "refused_by", "prompt_hash",
)  # fmt: skip


def event_row(event: CostEvent, *, text_time: bool) -> tuple[object, ...]:
    """The row for ``costcap_events``; SQLite stores time as ISO text, Postgres natively."""
    ts: object = event.ts.isoformat() if text_time else event.ts
    day: object = event.day.isoformat() if text_time else event.day
    values = {"ts": ts, "day": day}
    return tuple(values.get(c, getattr(event, c, None)) for c in EVENT_COLUMNS)


def merge_statements(batch: str) -> list[str]:
    """Statements that move the new rows of temp table ``batch`` into the ledger: drop rows
    already recorded (a replay), insert the events, and add them to every rollup."""
    columns = ", ".join(EVENT_COLUMNS)
    out = [
        # EXISTS, not IN (SELECT …): SQLite plans the IN form as a walk over every recorded
        # request_id, so each batch cost grew with the size of the ledger
        f"DELETE FROM {batch} WHERE EXISTS "
        f"(SELECT 1 FROM costcap_events e WHERE e.request_id = {batch}.request_id)",
        f"INSERT INTO costcap_events ({columns}) SELECT {columns} FROM {batch}",
    ]
    names = [name for name, _ in MEASURES]
    for table, keys in ROLLUPS.items():
        key_exprs = ["e.day" if k == "day" else f"COALESCE(e.{k}, '')" for k in keys]
        sums = [f"SUM({expr})" for _, expr in MEASURES]
        updates = ", ".join(f"{n} = {table}.{n} + excluded.{n}" for n in names)
        out.append(
            f"INSERT INTO {table} ({', '.join(keys)}, {', '.join(names)}) "
            f"SELECT {', '.join(key_exprs)}, {', '.join(sums)} FROM {batch} e WHERE true "
            f"GROUP BY {', '.join(key_exprs)} "
            # one lock order for every writer: concurrent batches on PostgreSQL cannot deadlock
            f"ORDER BY {', '.join(key_exprs)} "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
        )
    return out
