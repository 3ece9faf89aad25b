"""A ledger at schema version 1, as costcap 0.1's sinks created it (frozen here: the migration
tests start from it), filled with events and the three spend rollups that version kept."""

from __future__ import annotations

from collections.abc import Sequence

from costcap.ledger import CostEvent
from costcap.ledger._sinks import sqlite_path
from costcap.ledger._sql import EVENT_COLUMNS, event_row

# version 1's event columns: every column up to those later versions added
V1_COLUMNS = EVENT_COLUMNS[: EVENT_COLUMNS.index("flag")]
_ROLLUPS = {
    "costcap_rollup_daily": ("day", "user_id", "feature", "model"),
    "costcap_rollup_daily_user": ("day", "user_id"),
    "costcap_rollup_daily_feature_model": ("day", "feature", "model"),
}
# version 1's rollup measures (later versions added more: costcap.ledger._schema.MEASURES_SINCE)
MEASURES = (
    ("calls", "1"),
    ("ok", "CASE WHEN e.status = 'ok' THEN 1 ELSE 0 END"),
    ("errors", "CASE WHEN e.status = 'error' THEN 1 ELSE 0 END"),
    ("refused", "CASE WHEN e.status = 'refused' THEN 1 ELSE 0 END"),
    ("cut", "CASE WHEN e.status = 'cut' THEN 1 ELSE 0 END"),
    ("cache_hits", "CASE WHEN e.cache_hit THEN 1 ELSE 0 END"),
    ("streams", "CASE WHEN e.stream THEN 1 ELSE 0 END"),
    ("input_tokens", "e.input_tokens"),
    ("output_tokens", "e.output_tokens"),
    ("cache_read_tokens", "e.cache_read_tokens"),
    ("cache_write_tokens", "e.cache_write_tokens"),
    ("cost_pico", "e.cost_pico"),
    ("saved_pico", "e.saved_pico"),
    ("latency_ms_sum", "COALESCE(e.latency_ms, 0)"),
    ("latency_count", "CASE WHEN e.latency_ms IS NULL THEN 0 ELSE 1 END"),
)
_EVENTS = """CREATE TABLE costcap_events (
  request_id TEXT PRIMARY KEY, ts {ts} NOT NULL, day {day} NOT NULL, status TEXT NOT NULL,
  model TEXT NOT NULL, requested_model TEXT, provider TEXT, user_id TEXT, feature TEXT,
  api_key_id TEXT, endpoint TEXT, input_tokens {int} NOT NULL DEFAULT 0,
  output_tokens {int} NOT NULL DEFAULT 0, cache_read_tokens {int} NOT NULL DEFAULT 0,
  cache_write_tokens {int} NOT NULL DEFAULT 0, cost_pico {int} NOT NULL DEFAULT 0,
  saved_pico {int} NOT NULL DEFAULT 0, latency_ms {real},
  cache_hit {bool} NOT NULL DEFAULT {false}, stream {bool} NOT NULL DEFAULT {false},
  refused_by TEXT, prompt_hash TEXT)"""
_INDEXES = [
    "CREATE INDEX costcap_events_day ON costcap_events (day)",
    "CREATE INDEX costcap_events_user_ts ON costcap_events (user_id, ts)",
    "CREATE INDEX costcap_events_loop ON costcap_events (prompt_hash, ts)",
    "CREATE INDEX costcap_events_refused ON costcap_events (day, refused_by, user_id, ts) "
    "WHERE status = 'refused'",
]

_VIEW = """CREATE VIEW cost_logs AS
  SELECT ts AS {timestamp}, day AS {date}, model, input_tokens, output_tokens,
         {usd} AS cost_usd, cost_pico, user_id, feature, status, request_id,
         provider, api_key_id, endpoint, cache_read_tokens, cache_write_tokens, saved_pico,
         latency_ms, cache_hit, stream
  FROM costcap_events"""


def ddl(dialect: str) -> list[str]:
    sqlite = dialect == "sqlite"
    integer, real = ("INTEGER", "REAL") if sqlite else ("BIGINT", "DOUBLE PRECISION")
    day = "TEXT" if sqlite else "DATE"
    out = [
        "CREATE TABLE costcap_ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        _EVENTS.format(
            ts="TEXT" if sqlite else "TIMESTAMPTZ",
            day=day,
            int=integer,
            real=real,
            bool="INTEGER" if sqlite else "BOOLEAN",
            false="0" if sqlite else "FALSE",
        ),
        *_INDEXES,
        _VIEW.format(
            timestamp="timestamp" if sqlite else '"timestamp"',
            date="date" if sqlite else '"date"',
            usd="cost_pico / 1e12" if sqlite else "cost_pico::numeric / 1000000000000",
        ),
    ]
    for table, keys in _ROLLUPS.items():
        cols = [f"day {day} NOT NULL"]
        cols += [f"{k} TEXT NOT NULL DEFAULT ''" for k in keys if k != "day"]
        cols += [
            f"{name} {real if name == 'latency_ms_sum' else integer} NOT NULL DEFAULT 0"
            for name, _ in MEASURES
        ]
        out.append(f"CREATE TABLE {table} ({', '.join(cols)}, PRIMARY KEY ({', '.join(keys)}))")
    return out


def _fill(dialect: str, events: Sequence[CostEvent]) -> tuple[list[str], list[tuple[object, ...]]]:
    """The statements after the DDL (rollups from the events) and the event rows."""
    keys_sql = {"day": "e.day", "model": "e.model"}
    out = []
    for table, keys in _ROLLUPS.items():
        exprs = [keys_sql.get(k, f"COALESCE(e.{k}, '')") for k in keys]
        names = ", ".join([*keys, *(name for name, _ in MEASURES)])
        sums = ", ".join(f"SUM({expr})" for _, expr in MEASURES)
        out.append(
            f"INSERT INTO {table} ({names}) SELECT {', '.join(exprs)}, {sums} "
            f"FROM costcap_events e GROUP BY {', '.join(exprs)}"
        )
    out.append("INSERT INTO costcap_ledger_meta VALUES ('ledger_schema_version', '1')")
    rows = [event_row(e, text_time=dialect == "sqlite")[: len(V1_COLUMNS)] for e in events]
    return out, rows


def create(url: str, events: Sequence[CostEvent]) -> None:
    """A version-1 ledger at ``url`` (SQLite file, or PostgreSQL ``?schema=``) holding
    ``events``."""
    insert = f"INSERT INTO costcap_events ({', '.join(V1_COLUMNS)}) VALUES "
    if url.startswith("sqlite"):
        import sqlite3

        statements, rows = _fill("sqlite", events)
        with sqlite3.connect(sqlite_path(url)) as lite:
            for statement in ddl("sqlite"):
                lite.execute(statement)
            lite.executemany(insert + f"({', '.join('?' * len(V1_COLUMNS))})", rows)
            for statement in statements:
                lite.execute(statement)
        lite.close()
        return
    import psycopg

    base, _, schema = url.partition("?schema=")
    statements, rows = _fill("postgres", events)
    with psycopg.connect(base) as db:
        db.execute(f'CREATE SCHEMA "{schema}"')
        db.execute(f'SET search_path TO "{schema}"')
        for statement in ddl("postgres"):
            db.execute(statement)
        with db.cursor() as cur:
            cur.executemany(insert + f"({', '.join(['%s'] * len(V1_COLUMNS))})", rows)
        for statement in statements:
            db.execute(statement)
