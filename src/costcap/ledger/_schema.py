"""The ledger's tables, for SQLite and PostgreSQL (schema version 1).

``costcap_events``      one row per call, keyed by ``request_id`` (replays are ignored)
``cost_logs``           a view with the seed's column names, so its SQL runs as written
``costcap_rollup_*``    sums maintained in the same transaction as the events they count:
    ``_daily``               day × user × feature × model (every measure)
    ``_daily_user``          day × user                   (top users, cost per user)
    ``_daily_feature_model`` day × feature × model        (by feature, by model, over time)
Missing user/feature are stored as ``''`` in rollups (they are part of the primary key).
Money is integer picodollars (``cost_pico``); ``cost_logs.cost_usd`` is exact NUMERIC on
PostgreSQL and a REAL convenience on SQLite (sum ``cost_pico`` for exact figures there).
Days are UTC.
"""

from __future__ import annotations

__all__ = ["MEASURES", "POSTGRES_DDL", "SCHEMA_VERSION", "SQLITE_DDL"]

SCHEMA_VERSION = 1

# Every rollup carries these sums (name, SQL expression over an event row ``e``).
MEASURES: tuple[tuple[str, str], ...] = (
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

ROLLUPS: dict[str, tuple[str, ...]] = {
    "costcap_rollup_daily": ("day", "user_id", "feature", "model"),
    "costcap_rollup_daily_user": ("day", "user_id"),
    "costcap_rollup_daily_feature_model": ("day", "feature", "model"),
}


def _rollup_ddl(integer: str, real: str, day: str) -> str:
    out = []
    for table, keys in ROLLUPS.items():
        cols = [f"day {day} NOT NULL"]
        cols += [f"{k} TEXT NOT NULL DEFAULT ''" for k in keys if k != "day"]
        cols += [
            f"{name} {real if name == 'latency_ms_sum' else integer} NOT NULL DEFAULT 0"
            for name, _ in MEASURES
        ]
        cols.append(f"PRIMARY KEY ({', '.join(keys)})")
        out.append(f"CREATE TABLE IF NOT EXISTS {table} (\n  " + ",\n  ".join(cols) + "\n);")
    return "\n".join(out)


_EVENT_COLUMNS = """
  request_id TEXT PRIMARY KEY,
  ts {ts} NOT NULL,
  day {day} NOT NULL,
  status TEXT NOT NULL,
  model TEXT NOT NULL,
  requested_model TEXT,
  provider TEXT,
  user_id TEXT,
  feature TEXT,
  api_key_id TEXT,
  endpoint TEXT,
  input_tokens {int} NOT NULL DEFAULT 0,
  output_tokens {int} NOT NULL DEFAULT 0,
  cache_read_tokens {int} NOT NULL DEFAULT 0,
  cache_write_tokens {int} NOT NULL DEFAULT 0,
  cost_pico {int} NOT NULL DEFAULT 0,
  saved_pico {int} NOT NULL DEFAULT 0,
  latency_ms {real},
  cache_hit {bool} NOT NULL DEFAULT {false},
  stream {bool} NOT NULL DEFAULT {false},
  refused_by TEXT,
  prompt_hash TEXT
"""

_INDEXES = """
CREATE INDEX IF NOT EXISTS costcap_events_day ON costcap_events (day);
CREATE INDEX IF NOT EXISTS costcap_events_user_ts ON costcap_events (user_id, ts);
CREATE INDEX IF NOT EXISTS costcap_events_loop ON costcap_events (prompt_hash, ts);
CREATE INDEX IF NOT EXISTS costcap_events_refused ON costcap_events (day, refused_by, user_id, ts)
  WHERE status = 'refused';
"""

SQLITE_DDL = f"""
CREATE TABLE IF NOT EXISTS costcap_ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS costcap_events ({
    _EVENT_COLUMNS.format(
        ts="TEXT", day="TEXT", int="INTEGER", real="REAL", bool="INTEGER", false="0"
    )
});
{_INDEXES}
CREATE VIEW IF NOT EXISTS cost_logs AS
  SELECT ts AS timestamp, day AS date, model, input_tokens, output_tokens,
         cost_pico / 1e12 AS cost_usd, cost_pico, user_id, feature, status, request_id,
         provider, api_key_id, endpoint, cache_read_tokens, cache_write_tokens, saved_pico,
         latency_ms, cache_hit, stream
  FROM costcap_events;
{_rollup_ddl("INTEGER", "REAL", "TEXT")}
"""

POSTGRES_DDL = f"""
CREATE TABLE IF NOT EXISTS costcap_ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS costcap_events ({
    _EVENT_COLUMNS.format(
        ts="TIMESTAMPTZ",
        day="DATE",
        int="BIGINT",
        real="DOUBLE PRECISION",
        bool="BOOLEAN",
        false="FALSE",
    )
});
{_INDEXES}
CREATE OR REPLACE VIEW cost_logs AS
  SELECT ts AS "timestamp", day AS "date", model, input_tokens, output_tokens,
         cost_pico::numeric / 1000000000000 AS cost_usd, cost_pico, user_id, feature, status,
         request_id, provider, api_key_id, endpoint, cache_read_tokens, cache_write_tokens,
         saved_pico, latency_ms, cache_hit, stream
  FROM costcap_events;
{_rollup_ddl("BIGINT", "DOUBLE PRECISION", "DATE")}
"""
