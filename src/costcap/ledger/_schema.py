"""The ledger's tables, for SQLite and PostgreSQL (schema version 8).

``costcap_events``      one row per call, keyed by ``request_id`` (replays are ignored)
``costcap_inflight``    one row per admitted call whose event has not arrived yet, with its
                        reservation and lease end (:mod:`costcap.ledger._lost`)
``costcap_alerts``      one row per alert a Guard fired (:mod:`costcap.ledger._fired`)
``cost_logs``           a view with the seed's column names, so its SQL runs as written
``costcap_rollup_*``    sums maintained in the same transaction as the events they count:
    ``_daily``               day × user × feature × model (every measure)
    ``_daily_user``          day × user                   (top users, cost per user)
    ``_daily_feature_model`` day × feature × model        (by feature, by model, over time)
    ``_daily_tier``          day × feature × model × service tier (by model and service tier)
    ``_daily_route``         day × feature × routing tier × route reason × model × service
                             tier (routing; and the sums of the calls a what-if prices again)
    ``_daily_user_route``    day × user × feature × routing tier × route reason (one user's
                             routing)
    ``_minute_feature``      minute × feature: calls, cost (anomalies: features' seasonal hours)
    ``_daily_refused``       day × reason × feature × model of refused calls: calls, the last
    ``_daily_refused_user``  user × reason × feature × model × day: calls, the last
    ``_refused_user_span``   reason × user: the first and last day refused (distinct users)
Missing user/feature/reason/service tier/routing tier/route reason are stored as ``''`` in
rollups (they are part of the primary key).
Money is integer picodollars (``cost_pico``); ``cost_logs.cost_usd`` is exact NUMERIC on
PostgreSQL and a REAL convenience on SQLite (sum ``cost_pico`` for exact figures there).
Days and minutes are UTC; SQLite stores instants as ISO text in UTC (``…+00:00``).

Versions (``costcap_ledger_meta.ledger_schema_version``; :mod:`costcap.ledger._migrate`):
1. events, the view, the three daily rollups; indexes on ``day``, ``(user_id, ts)``,
   ``(prompt_hash, ts)`` and refused events.
2. adds ``_minute_feature`` and the three refusal rollups (backfilled from the events), an
   index on ``ts``, covering indexes on ``_daily`` by feature and by model (and on SQLite on
   ``_daily_user`` by user) for per-user rankings; ``(user_id, ts)`` becomes ``(user_id, ts,
   cost_pico)``; drops ``(prompt_hash, ts)``, which no query used (runaway loops read the last
   minutes through ``ts``) and which cost every write a random index insert.
3. adds ``costcap_events.flag``: what was wrong with a call's report (``usage_beyond_request``:
   usage past what the request allows, charged at its bounds; ``unread_output_charged``: a strict
   stream left early, charged its output reservation). Reports read version 2 as well.
4. adds ``costcap_inflight`` (and its index on ``lease_until``): calls in flight, which the
   status ``lost`` comes from. Nothing to backfill: no call is known to be in flight before.
   Adds ``costcap_events.service_tier``: the tier a call was priced at (``priority``, ``flex``,
   ``fast``, …; empty for the standard price or an older costcap's events), the rollup
   ``_daily_tier`` (backfilled from the events) and ``costcap_inflight.service_tier`` (the tier
   a call was admitted at, which its ``lost`` event carries).
5. adds ``costcap_events.cache_miss``: a cacheable call the provider answered (the response
   cache was asked and had no answer), and two measures to every spend rollup:
   ``cache_misses`` and ``cache_miss_cost_pico`` (what those calls cost). Backfilled as 0, the
   columns' default: no costcap before version 5 recorded a miss, so 0 is the true count and
   no rollup is recomputed. No index: the cache report's repeated requests read events
   through ``ts`` (one on ``(feature, ts, prompt_hash, …)`` measured slower to read than
   ``ts`` or a parallel scan, and cost every write).
6. adds ``costcap_events.tier`` (the routing tier a call was sent at: ``simple``, ``complex``,
   …), ``route_reason`` (why that model: ``explicit``, ``auto``, ``pressure``, ``fallback``,
   ``cascade``, …) and ``cascade_id`` (shared by the calls of one cascaded answer), all NULL for
   the events already there (no costcap before 6 routed a call); the rollup ``_daily_route``
   (backfilled from the events: their tier and reason ``''``; 1M events: 2.8 s SQLite, 1.7 s
   PostgreSQL), whose rows also sum the calls a what-if prices again
   (:data:`PRICED_MEASURES`); and a partial index on ``ts`` of the events with a
   ``cascade_id``, which the routing report's cascades read over a range without touching the
   other events (a full ``ts`` scan of a range filtered afterwards reads every call of it).
7. adds ``costcap_alerts``: the alerts the Guards writing to the ledger fired, one row each,
   and its index on ``fired_at``. Nothing to backfill: no costcap before 7 recorded an alert
   (reports on an older ledger list none).
8. adds the rollup ``_daily_user_route`` (backfilled from the events): the routing report
   filtered to one user reads a few rows per day instead of every call of that user (a heavy
   user of a 10M-event ledger: ~100k events, 0.4 s on SQLite and 0.8 s on PostgreSQL). Keyed
   neither by model nor by service tier, with the spend measures only: as many rows as
   ``_daily`` (each routing tier sends its calls to a model or two), and as dear to write: +11 %
   sink time per event on SQLite, +14 % on PostgreSQL (``benchmarks/results/ledger.md``). The
   backfill of 10M events: 55 s on SQLite, 25 s on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ALERTS_SINCE",
    "DAILY_ROUTE",
    "DAILY_TIER",
    "DAILY_USER_ROUTE",
    "DROPPED_INDEXES",
    "EVENT_COLUMNS_SINCE",
    "INDEXES",
    "INFLIGHT_COLUMNS",
    "MEASURES",
    "MEASURES_SINCE",
    "MINUTE_FEATURE",
    "PRICED_MEASURES",
    "REFUSED",
    "REFUSED_SPAN",
    "REFUSED_USER",
    "ROLLUPS",
    "ROLLUPS_ALL",
    "ROLLUP_INDEXES",
    "SCHEMA_VERSION",
    "SPEND_ROLLUPS",
    "SQLITE_ROLLUP_INDEXES",
    "Rollup",
    "column_types",
    "ddl",
    "key_sql",
]

SCHEMA_VERSION = 8
ALERTS_SINCE = 7  # the version that added ``costcap_alerts``

# Every spend rollup carries these sums (name, SQL expression over an event row ``e``).
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
    ("cache_misses", "CASE WHEN e.cache_miss THEN 1 ELSE 0 END"),
    ("cache_miss_cost_pico", "CASE WHEN e.cache_miss THEN e.cost_pico ELSE 0 END"),
)
# The measures a schema version added (the others are there since version 1): a migration from
# an older version adds their columns to the spend rollups it keeps, at 0.
MEASURES_SINCE: dict[str, int] = {"cache_misses": 5, "cache_miss_cost_pico": 5}


@dataclass(frozen=True, slots=True)
class Rollup:
    """A table of aggregates of events per key, kept in step with ``costcap_events``.

    ``measures`` are ``(column, aggregate, expression over e)`` with aggregate ``SUM`` (added
    up as events land), ``MIN`` or ``MAX`` (the least / greatest kept: an instant if the column
    ends in ``_ts``, a count if in ``_tokens``, else a day); ``where`` restricts the events
    counted;
    ``since`` is the schema version that added the table (a migration to it backfills it)."""

    table: str
    keys: tuple[str, ...]
    measures: tuple[tuple[str, str, str], ...]
    where: str = ""
    since: int = 1

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _, _ in self.measures)


_SPEND = tuple((name, "SUM", expr) for name, expr in MEASURES)
# Spend per service tier: a few rows per day × feature × model (most calls at one tier).
DAILY_TIER = Rollup(
    "costcap_rollup_daily_tier", ("day", "feature", "model", "service_tier"), _SPEND, since=4
)
# Spend per routing tier and reason: a few rows per day × feature (each tier sends its calls to
# a model or two; fallbacks and budget pressure add a few; most calls at one service tier).
# Keyed by model and service tier too, with the sums of the calls the provider answered (status
# ok, not a cache hit: the calls a what-if prices again) and the most input tokens one of them
# had (whether a long-context price may apply): a report filtered by the model billed reads it,
# and a what-if prices its rows instead of the events.
_PRICED = "e.status = 'ok' AND NOT e.cache_hit"
_PRICED_SUMS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                "cost_pico")  # fmt: skip
PRICED_MEASURES: tuple[tuple[str, str, str], ...] = (
    ("priced_calls", "SUM", f"CASE WHEN {_PRICED} THEN 1 ELSE 0 END"),
    *((f"priced_{n}", "SUM", f"CASE WHEN {_PRICED} THEN e.{n} ELSE 0 END") for n in _PRICED_SUMS),
    ("priced_max_input_tokens", "MAX", f"CASE WHEN {_PRICED} THEN e.input_tokens ELSE 0 END"),
)
DAILY_ROUTE = Rollup(
    "costcap_rollup_daily_route",
    ("day", "feature", "tier", "route_reason", "model", "service_tier"),
    (*_SPEND, *PRICED_MEASURES),
    since=6,
)
# Spend per user, routing tier and reason: one user's routing report (``_daily_route`` has no
# user, and keying it by user would multiply its rows, which every what-if and unfiltered
# routing report reads, by the users). Neither model nor service tier: a report by those and a
# user reads ``_daily``; no priced sums: a user's what-if reads that user's events.
DAILY_USER_ROUTE = Rollup(
    "costcap_rollup_daily_user_route",
    ("day", "user_id", "feature", "tier", "route_reason"),
    _SPEND,
    since=8,
)
SPEND_ROLLUPS: tuple[Rollup, ...] = (
    Rollup("costcap_rollup_daily", ("day", "user_id", "feature", "model"), _SPEND),
    Rollup("costcap_rollup_daily_user", ("day", "user_id"), _SPEND),
    Rollup("costcap_rollup_daily_feature_model", ("day", "feature", "model"), _SPEND),
    DAILY_TIER,
    DAILY_ROUTE,
    DAILY_USER_ROUTE,
)
MINUTE_FEATURE = Rollup(
    "costcap_rollup_minute_feature",
    ("minute", "feature"),
    (("calls", "SUM", "1"), ("cost_pico", "SUM", "e.cost_pico")),
    since=2,
)
# Refusals: calls and the last one per reason (R1); the same per user and day (R2: one user's
# refusals, and whether a user was refused within a range); and the first and last day each user
# was refused for each reason (R3: distinct users over a range in one row per user and reason,
# not one per user, reason and day — see costcap.reports._refused).
_REFUSED = "e.status = 'refused'"
_REFUSED_USER = "e.status = 'refused' AND e.user_id <> ''"
_CALLS_LAST = (("calls", "SUM", "1"), ("last_ts", "MAX", "e.ts"))
REFUSED = Rollup(
    "costcap_rollup_daily_refused",
    ("day", "refused_by", "feature", "model"),
    _CALLS_LAST,
    where=_REFUSED,
    since=2,
)
REFUSED_USER = Rollup(
    "costcap_rollup_daily_refused_user",
    ("user_id", "refused_by", "feature", "model", "day"),
    _CALLS_LAST,
    where=_REFUSED_USER,
    since=2,
)
REFUSED_SPAN = Rollup(
    "costcap_rollup_refused_user_span",
    ("refused_by", "user_id"),
    (("first_day", "MIN", "e.day"), ("last_day", "MAX", "e.day")),
    where=_REFUSED_USER,
    since=2,
)
# Every rollup, in the order a batch updates them.
ROLLUPS_ALL: tuple[Rollup, ...] = (
    *SPEND_ROLLUPS,
    MINUTE_FEATURE,
    REFUSED,
    REFUSED_USER,
    REFUSED_SPAN,
)
# The spend rollups' keys by table (reports choose the narrowest that can answer).
ROLLUPS: dict[str, tuple[str, ...]] = {r.table: r.keys for r in SPEND_ROLLUPS}


def key_sql(key: str, dialect: str) -> str:
    """The value of rollup key ``key`` for an event row ``e``."""
    if key in ("day", "model"):
        return f"e.{key}"
    if key == "minute":  # the start of the event's UTC minute, stored like ``ts``
        if dialect == "sqlite":
            return "substr(e.ts, 1, 16) || ':00+00:00'"
        return "date_trunc('minute', e.ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    return f"COALESCE(e.{key}, '')"


@dataclass(frozen=True, slots=True)
class _Types:
    integer: str
    real: str
    day: str
    ts: str
    boolean: str
    false: str


_TYPES = {
    "sqlite": _Types("INTEGER", "REAL", "TEXT", "TEXT", "INTEGER", "0"),
    "postgres": _Types("BIGINT", "DOUBLE PRECISION", "DATE", "TIMESTAMPTZ", "BOOLEAN", "FALSE"),
}


def column_types(dialect: str) -> _Types:
    """The column types of ``dialect`` (``sqlite`` or ``postgres``), for migrations."""
    return _TYPES[dialect]


def _rollup_table(rollup: Rollup, types: _Types) -> str:
    cols = []
    for key in rollup.keys:
        kind = {"day": types.day, "minute": types.ts}.get(key)
        cols.append(f"{key} {kind} NOT NULL" if kind else f"{key} TEXT NOT NULL DEFAULT ''")
    for name, aggregate, _ in rollup.measures:
        if aggregate in ("MIN", "MAX"):
            kind = types.ts if name.endswith("_ts") else types.day
            kind = types.integer if name.endswith("_tokens") else kind
            cols.append(f"{name} {kind} NOT NULL")
        else:
            kind = types.real if name == "latency_ms_sum" else types.integer
            cols.append(f"{name} {kind} NOT NULL DEFAULT 0")
    cols.append(f"PRIMARY KEY ({', '.join(rollup.keys)})")
    return f"CREATE TABLE IF NOT EXISTS {rollup.table} (\n  " + ",\n  ".join(cols) + "\n)"


# Who a call was for and what it ran on: the same columns for events and calls in flight.
_CALL_COLUMNS = """model TEXT NOT NULL,
  requested_model TEXT,
  provider TEXT,
  user_id TEXT,
  feature TEXT,
  api_key_id TEXT,
  endpoint TEXT"""


def _events_table(t: _Types) -> str:
    return f"""CREATE TABLE IF NOT EXISTS costcap_events (
  request_id TEXT PRIMARY KEY,
  ts {t.ts} NOT NULL,
  day {t.day} NOT NULL,
  status TEXT NOT NULL,
  {_CALL_COLUMNS},
  input_tokens {t.integer} NOT NULL DEFAULT 0,
  output_tokens {t.integer} NOT NULL DEFAULT 0,
  cache_read_tokens {t.integer} NOT NULL DEFAULT 0,
  cache_write_tokens {t.integer} NOT NULL DEFAULT 0,
  cost_pico {t.integer} NOT NULL DEFAULT 0,
  saved_pico {t.integer} NOT NULL DEFAULT 0,
  latency_ms {t.real},
  cache_hit {t.boolean} NOT NULL DEFAULT {t.false},
  stream {t.boolean} NOT NULL DEFAULT {t.false},
  refused_by TEXT,
  prompt_hash TEXT,
  flag TEXT,
  service_tier TEXT,
  cache_miss {t.boolean} NOT NULL DEFAULT {t.false},
  tier TEXT,
  route_reason TEXT,
  cascade_id TEXT
)"""


INFLIGHT_COLUMNS: tuple[str, ...] = (
    "request_id", "ts", "lease_until", "model", "requested_model", "provider", "user_id",
    "feature", "api_key_id", "endpoint", "reserved_pico", "input_tokens", "max_tokens",
    "service_tier",
)  # fmt: skip


def _inflight_table(t: _Types) -> str:
    """Calls admitted and not yet ended: ``ts`` the admission, ``lease_until`` when the store's
    lease charges ``reserved_pico`` (renewals move it), the tokens reserved, the service tier
    the call was admitted at."""
    return f"""CREATE TABLE IF NOT EXISTS costcap_inflight (
  request_id TEXT PRIMARY KEY,
  ts {t.ts} NOT NULL,
  lease_until {t.ts} NOT NULL,
  {_CALL_COLUMNS},
  reserved_pico {t.integer} NOT NULL DEFAULT 0,
  input_tokens {t.integer} NOT NULL DEFAULT 0,
  max_tokens {t.integer} NOT NULL DEFAULT 0,
  service_tier TEXT
)"""


def _alerts_table(t: _Types) -> str:
    """The alerts fired: ``alert_id`` unique (a replayed spool adds nothing), ``fired_at`` by
    the Guard's clock, money in integer picodollars (``projected_pico`` NULL but for pacing),
    ``threshold_pct`` as exact decimal text, ``message`` as the notifiers were sent it."""
    return f"""CREATE TABLE IF NOT EXISTS costcap_alerts (
  alert_id TEXT PRIMARY KEY,
  fired_at {t.ts} NOT NULL,
  kind TEXT NOT NULL,
  budget TEXT NOT NULL DEFAULT '',
  member TEXT NOT NULL DEFAULT '',
  mode TEXT NOT NULL DEFAULT '',
  period TEXT NOT NULL DEFAULT '',
  threshold_pct TEXT NOT NULL,
  spent_pico {t.integer} NOT NULL DEFAULT 0,
  limit_pico {t.integer} NOT NULL DEFAULT 0,
  reserved_pico {t.integer} NOT NULL DEFAULT 0,
  requested_pico {t.integer} NOT NULL DEFAULT 0,
  projected_pico {t.integer},
  resets_at {t.ts} NOT NULL,
  exhausts_at {t.ts},
  detail TEXT NOT NULL DEFAULT '',
  message TEXT NOT NULL
)"""


INDEXES: tuple[str, ...] = (
    # `day`: the seed's SQL (cost_logs.date) and day-bounded reads; `ts`: windows of minutes or
    # hours (anomalies, partial days); `(user_id, ts, cost_pico)`: one user's calls, and the
    # spend of users over a window from the index alone; refused events: refusals of partial
    # days; cascaded events: the routing report's cascades over a range (only the calls of a
    # cascade have an entry). `day` and `ts` are written in time order (appends, cheap).
    "CREATE INDEX IF NOT EXISTS costcap_events_day ON costcap_events (day)",
    "CREATE INDEX IF NOT EXISTS costcap_events_ts ON costcap_events (ts)",
    "CREATE INDEX IF NOT EXISTS costcap_events_user_ts_cost ON costcap_events "
    "(user_id, ts, cost_pico)",
    "CREATE INDEX IF NOT EXISTS costcap_events_refused ON costcap_events "
    "(day, refused_by, user_id, ts) WHERE status = 'refused'",
    "CREATE INDEX IF NOT EXISTS costcap_events_cascade ON costcap_events (ts) "
    "WHERE cascade_id IS NOT NULL",
)
# The columns each schema version added to ``costcap_events`` (the others are version 1's):
# a migration from an older version adds them, NULL (or their default) for the events there.
EVENT_COLUMNS_SINCE: tuple[tuple[int, str, str], ...] = (
    (3, "flag", "TEXT"),
    (4, "service_tier", "TEXT"),
    (5, "cache_miss", "{boolean} NOT NULL DEFAULT {false}"),
    (6, "tier", "TEXT"),
    (6, "route_reason", "TEXT"),
    (6, "cascade_id", "TEXT"),
)
# Per-user rankings read whole ranges of a rollup grouped by user. Filtered by a feature or a
# model, these covering indexes give them only that feature's or model's rows (both databases).
# Unfiltered, SQLite — which groups by sorting: no hash aggregate, no parallel scan — reads the
# day × user rollup in user order through the by-user index. PostgreSQL does without that one
# (it hash-aggregates the rows in parallel): an index covering a rollup's sums makes every
# update of a rollup row write that index entry too (no HOT update), measured on PostgreSQL at
# +8% sink time per event at batch_size 5,000 for the two shared ones, +36% at 1,000; on SQLite
# an update rewrites its index entries anyway (a few %).
ROLLUP_INDEXES: tuple[str, ...] = (
    "CREATE INDEX IF NOT EXISTS costcap_rollup_daily_by_feature ON costcap_rollup_daily "
    "(feature, day, user_id, calls, refused, cost_pico)",
    "CREATE INDEX IF NOT EXISTS costcap_rollup_daily_by_model ON costcap_rollup_daily "
    "(model, day, user_id, calls, refused, cost_pico)",
)
SQLITE_ROLLUP_INDEXES: tuple[str, ...] = (
    "CREATE INDEX IF NOT EXISTS costcap_rollup_daily_user_by_user ON costcap_rollup_daily_user "
    "(user_id, day, calls, refused, cost_pico)",
)
DROPPED_INDEXES: tuple[str, ...] = (  # by version 2
    "costcap_events_loop",
    "costcap_events_user_ts",  # now (user_id, ts, cost_pico)
)

_VIEW_COLUMNS = """ts AS {timestamp}, day AS {date}, model, input_tokens, output_tokens,
         {cost_usd} AS cost_usd, cost_pico, user_id, feature, status, request_id,
         provider, api_key_id, endpoint, cache_read_tokens, cache_write_tokens, saved_pico,
         latency_ms, cache_hit, stream"""


def _view(dialect: str) -> str:
    if dialect == "sqlite":
        columns = _VIEW_COLUMNS.format(
            timestamp="timestamp", date="date", cost_usd="cost_pico / 1e12"
        )
        return f"CREATE VIEW IF NOT EXISTS cost_logs AS\n  SELECT {columns}\n  FROM costcap_events"
    columns = _VIEW_COLUMNS.format(
        timestamp='"timestamp"',
        date='"date"',
        cost_usd="cost_pico::numeric / 1000000000000",
    )
    return f"CREATE OR REPLACE VIEW cost_logs AS\n  SELECT {columns}\n  FROM costcap_events"


def ddl(dialect: str) -> list[str]:
    """The statements that create the current schema (each idempotent: ``IF NOT EXISTS``)."""
    types = _TYPES[dialect]
    return [
        "CREATE TABLE IF NOT EXISTS costcap_ledger_meta "
        "(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        _events_table(types),
        *INDEXES,
        _inflight_table(types),
        "CREATE INDEX IF NOT EXISTS costcap_inflight_lease ON costcap_inflight (lease_until)",
        _alerts_table(types),
        # the report lists the newest first, over a range: read backwards through this index
        "CREATE INDEX IF NOT EXISTS costcap_alerts_fired_at ON costcap_alerts (fired_at)",
        _view(dialect),
        *(_rollup_table(r, types) for r in ROLLUPS_ALL),
        *ROLLUP_INDEXES,
        *(SQLITE_ROLLUP_INDEXES if dialect == "sqlite" else ()),
    ]
