"""Report latency over big ledgers (1M and 10M events), on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_reports.py [--events 1000000,10000000]
        [--backends sqlite,postgres] [--repeat 5] [--dir /tmp/costcap-bench] [--fresh]

**The ledgers.** 90 days ending 2026-03-31, 5,000 users (Zipf-weighted: a few heavy users, a long
tail; 10% of calls anonymous), 8 features (each user has a home feature, 70% of its calls), 6
models (two per feature), statuses 92% ok / 2% error / 4% refused (12 reasons) / 2% cut, 10% of
answered calls cache hits, a diurnal and weekly traffic shape, plus one runaway loop and one
spending spike in the last hour (so that anomalies have something to find).

**Fast path for generation.** Rows are drawn in Python (no ``CostEvent`` objects), one day at a
time, in time order with time-ordered request ids; each day is loaded into the sink's own staging
table and moved into the ledger by ``costcap.ledger._sql.merge_statements`` — the very statements
``PostgresSink.write`` runs (``SQLiteSink.write`` runs the same rollup statements over its new
rows) — so the events and every rollup are filled exactly as the sinks fill them. After loading,
the script checks every rollup against the events (and stops if not): the spend and minute
rollups' total calls and cost, the refusal rollups' calls, last refusal and (reason, user)
pairs. SQLite is loaded with ``synchronous=OFF`` and a 1 GB page cache (a bulk load, not the
sink's durable settings); Postgres with ``COPY``; both are ANALYZEd once loaded (autovacuum
would do it on Postgres).

A ledger already built by an earlier run (same size) is reused — opening it migrates it to the
current schema version first, if it is older — and ``--fresh`` rebuilds it.
"""

from __future__ import annotations

import argparse
import math
import random
import sqlite3
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from costcap.ledger import open_sink
from costcap.ledger._schema import (
    MINUTE_FEATURE,
    REFUSED,
    REFUSED_SPAN,
    REFUSED_USER,
    ROLLUPS,
)
from costcap.ledger._sql import EVENT_COLUMNS, merge_statements
from costcap.reports import NoLedger, Reports

END = datetime(2026, 4, 1, tzinfo=UTC)  # the ledger covers the 90 days before
DAYS = 90
USERS = 5000
FEATURES = ["chat", "search", "summarize", "code", "translate", "extract", "classify", "agent"]
MODELS = {  # picodollars per input / output token
    "gpt-4o-mini": (150_000, 600_000),
    "gpt-4o": (2_500_000, 10_000_000),
    "claude-haiku-4-5": (1_000_000, 5_000_000),
    "claude-sonnet-4-5": (3_000_000, 15_000_000),
    "gemini-2.5-flash": (300_000, 2_500_000),
    "o3-mini": (1_100_000, 4_400_000),
}
REASONS = [
    "budget user:*/day",
    "budget user:*/month",
    "budget feature:agent/week",
    "budget global/day",
    "rate limit 20/minute per user",
    "rate limit 100000 tokens/hour per user",
    "rate limit 5 concurrent per user",
    "rate limit 600/minute per global",
    "policy: model gpt-4o is not allowed for feature classify",
    "policy: max_tokens 8000 is over the cap 4000",
    "policy: the request's worst case $0.41 is over the cap $0.25",
    "store unavailable",
]
HOURS = [1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 10, 9, 8, 9, 10, 10, 9, 8, 6, 5, 4, 3, 2, 1]
STAGE = "costcap_batch"
PG_BASE = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Target:
    backend: str
    events: int
    url: str


def _cumulative(weights: list[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


USER_IDS = [f"user-{i:05d}" for i in range(USERS)]
CUM_USERS = _cumulative([1 / (i + 1) ** 0.9 for i in range(USERS)])  # Zipf-like
HOME = [FEATURES[(i * 7) % len(FEATURES)] for i in range(USERS)]
FEATURE_MODELS = {f: [list(MODELS)[(i + k) % 6] for k in (0, 2)] for i, f in enumerate(FEATURES)}
CUM_HOURS = _cumulative([float(h) for h in HOURS])


# The last event columns (flag, service_tier, cache_miss, tier, route_reason, cascade_id):
# unflagged calls at the standard price, the cache not asked, not routed.
UNFLAGGED = (None, None, False, None, None, None)
assert len(EVENT_COLUMNS) == 22 + len(UNFLAGGED)


def _draw_day(rng: random.Random, day: int, count: int, first_id: int) -> list[tuple[Any, ...]]:
    """One day of rows in EVENT_COLUMNS order, in time order."""
    start = END - timedelta(days=DAYS - day)
    hours = rng.choices(range(24), cum_weights=CUM_HOURS, k=count)
    seconds = sorted(h * 3600 + rng.random() * 3600 for h in hours)
    user_indexes = rng.choices(range(USERS), cum_weights=CUM_USERS, k=count)
    rows = []
    for i, (second, user_index) in enumerate(zip(seconds, user_indexes, strict=True)):
        ts = start + timedelta(seconds=second)
        user = USER_IDS[user_index] if rng.random() >= 0.1 else None
        feature = HOME[user_index] if rng.random() < 0.7 else rng.choice(FEATURES)
        model = FEATURE_MODELS[feature][0 if rng.random() < 0.75 else 1]
        status_roll = rng.random()
        status = (
            "ok" if status_roll < 0.92 else "error" if status_roll < 0.94
            else "refused" if status_roll < 0.98 else "cut"
        )  # fmt: skip
        tokens_in = tokens_out = cost = saved = 0
        hit = False
        latency = None
        reason = None
        if status == "refused":
            reason = REASONS[min(int(rng.expovariate(0.35)), len(REASONS) - 1)]
        else:
            tokens_in = int(rng.lognormvariate(7.0, 0.8))
            tokens_out = int(rng.lognormvariate(5.5, 0.9)) if status != "error" else 0
            price_in, price_out = MODELS[model]
            cost = tokens_in * price_in + tokens_out * price_out
            hit = status == "ok" and rng.random() < 0.1
            if hit:
                cost, saved = 0, cost
            else:
                latency = 200 + tokens_out * 8 * rng.random()
        rows.append(
            (
                f"{first_id + i:016x}", ts.isoformat(), ts.date().isoformat(), status, model,
                model, "openai" if model.startswith(("gpt", "o3")) else "other", user, feature,
                f"key-{user_index % 50}", "/v1/chat/completions", tokens_in, tokens_out, 0, 0,
                cost, saved, latency, hit, False, reason, f"{rng.getrandbits(64):016x}",
                *UNFLAGGED,
            )
        )  # fmt: skip
    return rows


def _incidents(first_id: int) -> list[tuple[Any, ...]]:
    """A runaway loop (45 identical prompts in 9 minutes) and a $60 spike, in the last hour."""
    rows = []
    for i in range(45):
        ts = END - timedelta(minutes=9, seconds=-12 * i)
        rows.append(
            (f"{first_id + i:016x}", ts.isoformat(), ts.date().isoformat(), "ok", "gpt-4o",
             "gpt-4o", "openai", "user-04321", "agent", "key-21", "/v1/chat/completions", 3000,
             400, 0, 0, 11_500_000_000, 0, 900.0, False, False, None, "loop-0123456789ab",
             *UNFLAGGED)
        )  # fmt: skip
    for i in range(20):
        ts = END - timedelta(minutes=40, seconds=-30 * i)
        rows.append(
            (f"{first_id + 100 + i:016x}", ts.isoformat(), ts.date().isoformat(), "ok",
             "claude-sonnet-4-5", "claude-sonnet-4-5", "other", "user-01234", "code", "key-34",
             "/v1/messages", 100_000, 0, 0, 0, 3 * 10**12, 0, 5000.0, False, False, None,
             f"spike-{i}", *UNFLAGGED)
        )  # fmt: skip
    return rows


def days_of(events: int) -> list[int]:
    """Calls per day: weekdays busier than weekends, summing to ``events``."""
    shape = [0.6 if (END - timedelta(days=DAYS - d)).weekday() >= 5 else 1.0 for d in range(DAYS)]
    scale = events / sum(shape)
    counts = [math.floor(s * scale) for s in shape]
    counts[-1] += events - sum(counts)
    return counts


def _load(target: Target, fill: Callable[[list[tuple[Any, ...]]], None]) -> None:
    rng = random.Random(2026)
    next_id = 0
    started = time.perf_counter()
    for day, count in enumerate(days_of(target.events)):
        rows = _draw_day(rng, day, count, next_id)
        next_id += count
        if day == DAYS - 1:
            rows += _incidents(next_id)
        fill(rows)
        if day % 10 == 9:
            print(f"  {target.backend}: day {day + 1}/{DAYS} {time.perf_counter() - started:.0f}s")


def build_sqlite(target: Target) -> None:
    path = target.url.removeprefix("sqlite:///")
    open_sink(target.url).close()  # the schema, as the sink creates it
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-1000000")
    columns = ", ".join(EVENT_COLUMNS)
    db.execute(f"CREATE TEMP TABLE {STAGE} ({columns})")
    insert = f"INSERT INTO {STAGE} VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
    merge = merge_statements(STAGE, "sqlite")

    def fill(rows: list[tuple[Any, ...]]) -> None:
        db.execute("BEGIN")
        db.execute(f"DELETE FROM {STAGE}")
        db.executemany(insert, rows)
        for statement in merge:
            db.execute(statement)
        db.execute("COMMIT")

    _load(target, fill)
    db.execute("ANALYZE")
    db.close()


def build_postgres(target: Target) -> None:
    import psycopg

    open_sink(target.url).close()
    schema = target.url.split("schema=")[1]
    columns = ", ".join(EVENT_COLUMNS)
    merge = merge_statements(STAGE, "postgres")
    with psycopg.connect(PG_BASE, autocommit=True) as db:
        db.execute(f"SET search_path TO {schema}")
        db.execute("SET synchronous_commit TO off")
        db.execute(f"CREATE TEMP TABLE {STAGE} (LIKE costcap_events INCLUDING DEFAULTS)")

        def fill(rows: list[tuple[Any, ...]]) -> None:
            with db.transaction():
                db.execute(f"TRUNCATE {STAGE}")
                with db.cursor() as cur, cur.copy(f"COPY {STAGE} ({columns}) FROM STDIN") as cp:
                    for row in rows:
                        cp.write_row(row)
                for statement in merge:
                    db.execute(statement)

        _load(target, fill)
        db.execute("VACUUM ANALYZE")


# The refused events' calls, last time and (reason, user) pairs, as each refusal rollup holds them
_REFUSED_TRUTH = (
    "SELECT COUNT(*), MAX(ts), COUNT(CASE WHEN user_id <> '' THEN 1 END), "
    "MAX(CASE WHEN user_id <> '' THEN ts END) FROM costcap_events WHERE status = 'refused'",
    "SELECT COUNT(*) FROM (SELECT DISTINCT refused_by, user_id FROM costcap_events "
    "WHERE status = 'refused' AND user_id <> '') p",
)


def check(reports: Reports, events: int) -> None:
    """Every rollup agrees with the events: the spend and minute rollups hold the events' total
    calls and cost; the refusal rollups their refused calls, last refusal and (reason, user)
    pairs (the load kept them consistent)."""
    extra = 65  # the incidents
    query = reports.sink.query
    truth = [int(v or 0) for v in query("SELECT COUNT(*), SUM(cost_pico) FROM costcap_events")[0]]
    for table in [*ROLLUPS, MINUTE_FEATURE.table]:
        row = [int(v or 0) for v in query(f"SELECT SUM(calls), SUM(cost_pico) FROM {table}")[0]]
        if row != truth:
            raise SystemExit(f"{table} disagrees with the events: {row} vs {truth}")
    if truth[0] != events + extra:
        raise SystemExit(f"expected {events + extra} events, found {truth[0]}")
    (refused, last, with_user, last_user), ((pairs,),) = (
        query(_REFUSED_TRUTH[0])[0],
        query(_REFUSED_TRUTH[1]),
    )
    read_ts, read_day = reports.dialect.read_ts, reports.dialect.read_day
    found: dict[str, tuple[int, date | datetime]] = {
        table: (int(count or 0), read_ts(newest))
        for table in (REFUSED.table, REFUSED_USER.table)
        for count, newest in query(f"SELECT SUM(calls), MAX(last_ts) FROM {table}")
    }
    for count, newest in query(f"SELECT COUNT(*), MAX(last_day) FROM {REFUSED_SPAN.table}"):
        found[REFUSED_SPAN.table] = (int(count), read_day(newest))
    expected: dict[str, tuple[int, date | datetime]] = {
        REFUSED.table: (int(refused), read_ts(last)),
        REFUSED_USER.table: (int(with_user), read_ts(last_user)),
        REFUSED_SPAN.table: (int(pairs), read_ts(last_user).date()),
    }
    if found != expected:
        raise SystemExit(f"the refusal rollups disagree with the events: {found} vs {expected}")


def ready(target: Target) -> bool:
    try:
        if target.backend == "sqlite" and not Path(target.url.removeprefix("sqlite:///")).exists():
            return False
        with Reports.open(target.url) as reports:
            check(reports, target.events)
        return True
    except (SystemExit, NoLedger):  # no such ledger yet: reports never create one
        return False


def drop(target: Target) -> None:
    if target.backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(target.url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    else:
        import psycopg

        with psycopg.connect(PG_BASE, autocommit=True) as db:
            db.execute(f"DROP SCHEMA IF EXISTS {target.url.split('schema=')[1]} CASCADE")


# -- the reports timed ---------------------------------------------------------------------------

LAST_DAY = date(2026, 3, 31)
AT = END
CASES: list[tuple[str, str, Callable[[Reports], object]]] = [
    ("by feature, 90 days", "_daily_feature_model", lambda r: r.by_feature()),
    ("by feature, last 30 days", "_daily_feature_model",
     lambda r: r.by_feature(since=LAST_DAY - timedelta(days=29), until=LAST_DAY)),
    ("by feature, 7 days from 13:30 (2 edge days)", "rollup + events of the partial day (`ts`)",
     lambda r: r.by_feature(since=datetime(2026, 3, 24, 13, 30, tzinfo=UTC))),
    ("by feature, one user", "_daily (day list × user)",
     lambda r: r.by_feature(user="user-00007")),
    ("top 10 users, 90 days", "_daily_user (SQLite: by-user index)",
     lambda r: r.top_users(limit=10)),
    ("top 10 users, last 7 days", "_daily_user",
     lambda r: r.top_users(limit=10, since=LAST_DAY - timedelta(days=6))),
    ("top 10 users of one feature, 90 days", "_daily (by-feature index)",
     lambda r: r.top_users(feature="search")),
    ("top 10 users of one feature, 7 days", "_daily (by-feature index)",
     lambda r: r.top_users(feature="search", since=LAST_DAY - timedelta(days=6))),
    ("cost per user, 90 days", "_daily_user (SQLite: by-user index)",
     lambda r: r.cost_per_user()),
    ("cost per user, one model, 30 days", "_daily (by-model index)",
     lambda r: r.cost_per_user(model="gpt-4o", since=LAST_DAY - timedelta(days=29))),
    ("tokens by model, 90 days", "_daily_feature_model", lambda r: r.by_model()),
    ("tokens by model, one user", "_daily (day list × user)",
     lambda r: r.by_model(user="user-00007")),
    ("spend per day, 90 days", "_daily_feature_model", lambda r: r.over_time()),
    ("spend per week, one feature", "_daily_feature_model",
     lambda r: r.over_time(granularity="week", feature="code")),
    ("spend per month, one user", "_daily_user (day list)",
     lambda r: r.over_time(granularity="month", user="user-00007")),
    ("spend per day by feature (stacked, top 8), 90 days", "_daily_feature_model",
     lambda r: r.over_time_by(by="feature")),
    ("spend per day by model, one feature, 90 days", "_daily_feature_model",
     lambda r: r.over_time_by(by="model", feature="code")),
    ("spend per week by user (stacked, top 8), 90 days", "_daily_user",
     lambda r: r.over_time_by(by="user", granularity="week")),
    ("cache savings, 90 days", "_daily_feature_model", lambda r: r.cache_savings()),
    ("refused by reason, 90 days", "`_daily_refused` + `_refused_user_span`",
     lambda r: r.refused()),
    ("refused by reason, last day", "`_daily_refused` + `_refused_user_span`",
     lambda r: r.refused(since=LAST_DAY)),
    ("refused by reason, February (inside the ledger)", "+ `_daily_refused_user` probes",
     lambda r: r.refused(since=date(2026, 2, 1), until=date(2026, 2, 28))),
    ("refused by reason, 7 days from 13:30 (2 edge days)", "rollups + refused events of 2 days",
     lambda r: r.refused(since=datetime(2026, 3, 24, 13, 30, tzinfo=UTC))),
    ("refused by reason, one feature, 90 days", "`_daily_refused` + `_daily_refused_user`",
     lambda r: r.refused(feature="search")),
    ("refused by reason, one user", "`_daily_refused_user` (user key)",
     lambda r: r.refused(user="user-00007")),
    ("anomalies (spikes + loops) at 00:00", "events of 24 h (`ts`) + rollups",
     lambda r: r.anomalies(at=AT)),
    ("anomalies (spikes + loops) at 23:56:38", "+ 28 partial minutes of events",
     lambda r: r.anomalies(at=AT - timedelta(minutes=3, seconds=22))),
    ("pacing rate (totals since yesterday)", "_daily_feature_model",
     lambda r: r.totals(since=LAST_DAY - timedelta(days=1))),
]  # fmt: skip

ANSWERS: dict[tuple[int, str], dict[str, object]] = {}  # (events, backend) → report → rows


def time_cases(url: str, repeat: int, answers: dict[str, object]) -> dict[str, float]:
    out = {}
    with Reports.open(url) as reports:
        for name, _, case in CASES:
            answers[name] = case(reports)  # also warms: a first read pays the cache misses
            runs = []
            for _ in range(repeat):
                started = time.perf_counter()
                case(reports)
                runs.append((time.perf_counter() - started) * 1000)
            out[name] = statistics.median(runs)
    return out


def url_for(backend: str, events: int, where: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{where / f'reports-{events}.db'}"
    return f"{PG_BASE}?schema=bench_reports_{events}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", default="1000000,10000000")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/costcap-bench"))
    parser.add_argument("--fresh", action="store_true", help="rebuild existing ledgers")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    sizes = [int(n) for n in args.events.split(",")]
    backends = args.backends.split(",")
    results: dict[tuple[str, int, str], dict[str, float]] = {}
    for events in sizes:
        for backend in backends:
            target = Target(backend, events, url_for(backend, events, args.dir))
            if args.fresh or not ready(target):
                drop(target)
                print(f"building {backend} ledger of {events:,} events …", flush=True)
                started = time.perf_counter()
                (build_sqlite if backend == "sqlite" else build_postgres)(target)
                print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
                with Reports.open(target.url) as reports:
                    check(reports, events)
            answers = ANSWERS.setdefault((events, backend), {})
            results[(backend, events, "as is")] = time_cases(target.url, args.repeat, answers)
        if len(backends) == 2:
            a, b = (ANSWERS[(events, backend)] for backend in backends)
            differ = ", ".join(name for name in a if a[name] != b[name])
            verdict = f"differ on {differ}" if differ else "agree on every report"
            print(f"{events:,} events: SQLite and Postgres answers {verdict}")
    columns = sorted(results, key=lambda k: (k[2], k[0], k[1]))
    print("\n| report | reads | " + " | ".join(f"{b} {n:,} {v}" for b, n, v in columns) + " |")
    print("|---|---|" + "---:|" * len(columns))
    for name, reads, _ in CASES:
        cells = " | ".join(f"{results[c][name]:.1f}" for c in columns)
        print(f"| {name} | {reads} | {cells} |")


if __name__ == "__main__":
    main()
