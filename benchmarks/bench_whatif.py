"""What-if, routing report and cascades over a routed ledger of 1M events, SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_whatif.py [--events 1000000] [--backends sqlite,postgres]
        [--repeat 3] [--dir /tmp/costcap-bench] [--fresh] [--migration]

**The ledger** is ``bench_reports.py``'s (90 days, 5,000 users, 8 features, 6 models, every
status, cache hits), with routing added to its rows: ``chat`` and ``agent`` routed (tier
``simple`` on a feature's first model, ``complex`` on its second; reason ``auto``, one call in
ten ``pressure``, one in twenty ``fallback``), ``search`` cascaded (each call a cascade; three in
ten join the cascade of the feature's previous call, at tier ``complex``: escalations), the other
features not routed. Built like ``bench_reports.py`` (the sinks' merge statements, then every
rollup checked against the events) in its own file and schema (``whatif-<n>.db``,
``bench_whatif_<n>``), reused when it checks out.

**Timed** (median of ``--repeat`` runs after a warm-up): ``Reports.whatif`` for one feature moved
to another model, every call re-priced, a cache hit rate, the routed calls moved by tier, and
one feature moved over its last 7 days; ``Reports.routes`` and ``Reports.cascades`` over 90 and 7
days. ``--migration`` also times opening the ledger taken back to schema version 5 (the route
rollup backfilled from the events, the routing columns and the cascade index added).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import bench_reports as base

from costcap.ledger import open_sink
from costcap.pricing import PriceCatalog
from costcap.reports import NoLedger, Reports, Scenario

ROUTED = {"chat", "agent"}
CASCADED = "search"
LAST_DAY = date(2026, 3, 31)
WEEK = LAST_DAY - timedelta(days=6)
EDGES = datetime(2026, 3, 24, 13, 30, tzinfo=UTC)
_plain_day = base._draw_day


def _routed_day(rng: random.Random, day: int, count: int, first_id: int) -> list[tuple[Any, ...]]:
    """``bench_reports``' day with routing in its last three columns (tier, reason, cascade)."""
    rows = _plain_day(rng, day, count, first_id)
    out = []
    previous: str | None = None  # the cascade of search's previous call, if it may escalate
    for row in rows:
        feature, model = row[8], row[4]
        tier = reason = cascade = None
        if feature in ROUTED:
            tier = "simple" if model == base.FEATURE_MODELS[feature][0] else "complex"
            roll = rng.random()
            reason = "fallback" if roll < 0.05 else "pressure" if roll < 0.15 else "auto"
        elif feature == CASCADED:
            reason = "cascade"
            if previous is not None and rng.random() < 0.3:
                tier, cascade, previous = "complex", previous, None
            else:
                tier, cascade = "simple", f"c{row[0]}"
                previous = cascade
        out.append((*row[:-3], tier, reason, cascade))
    return out


def _tiers(feature: str | None, tier: str) -> str | None:
    return {"simple": "gpt-4o-mini", "complex": "gpt-4o"}.get(tier)


def scenarios(prices: Path, tiered_prices: Path) -> list[tuple[str, Callable[[Reports], object]]]:
    repriced = PriceCatalog.from_toml(prices)
    low_threshold = PriceCatalog.from_toml(tiered_prices)
    tiered = Scenario(tier_model=_tiers, tier_models=["gpt-4o-mini", "gpt-4o"])
    return [
        ("whatif --route chat=gpt-4o-mini, 90 days",
         lambda r: r.whatif(Scenario(routes={"chat": "gpt-4o-mini"}))),
        ("whatif --route chat=claude-sonnet-4-5 (tokenizer ratio), 90 days",
         lambda r: r.whatif(Scenario(routes={"chat": "claude-sonnet-4-5"}))),
        ("whatif --prices (every call re-priced), 90 days",
         lambda r: r.whatif(Scenario(prices=repriced))),
        ("whatif --cache-hit-rate 0.3, 90 days",
         lambda r: r.whatif(Scenario(cache_hit_rate=Decimal("0.3")))),
        ("whatif --tiers (routed calls by tier), 90 days", lambda r: r.whatif(tiered)),
        ("whatif --route chat=gpt-4o-mini, last 7 days",
         lambda r: r.whatif(Scenario(routes={"chat": "gpt-4o-mini"}), since=WEEK)),
        ("whatif --route chat=gpt-4o-mini, 7 days from 13:30 (2 edge days)",
         lambda r: r.whatif(Scenario(routes={"chat": "gpt-4o-mini"}), since=EDGES)),
        ("whatif --route chat=gpt-4o-mini, one user, 90 days (events)",
         lambda r: r.whatif(Scenario(routes={"chat": "gpt-4o-mini"}), user="user-00007")),
        ("whatif --prices, gpt-4o long-context above 2,000 tokens (rows read again)",
         lambda r: r.whatif(Scenario(prices=low_threshold))),
        ("report routes, 90 days", lambda r: r.routes()),
        ("report routes, last 7 days", lambda r: r.routes(since=WEEK)),
        ("cascades, 90 days", lambda r: r.cascades()),
        ("cascades, last 7 days", lambda r: r.cascades(since=WEEK)),
    ]  # fmt: skip


def url_for(backend: str, events: int, where: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{where / f'whatif-{events}.db'}"
    return f"{base.PG_BASE}?schema=bench_whatif_{events}"


def _routed(target: base.Target) -> bool:
    """Whether the ledger holds routed calls (a migration from 5 leaves none)."""
    with Reports.open(target.url) as reports:
        found = reports.sink.query("SELECT 1 FROM costcap_events WHERE tier IS NOT NULL LIMIT 1")
    return bool(found)


def _reusable(target: base.Target) -> bool:
    try:
        return base.ready(target) and _routed(target)
    except NoLedger:
        return False


def build(target: base.Target, fresh: bool) -> None:
    if not fresh and _reusable(target):
        return
    base.drop(target)
    print(f"building {target.backend} ledger of {target.events:,} events …", flush=True)
    started = time.perf_counter()
    base._draw_day = _routed_day
    try:
        (base.build_sqlite if target.backend == "sqlite" else base.build_postgres)(target)
    finally:
        base._draw_day = _plain_day
    print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
    with Reports.open(target.url) as reports:
        base.check(reports, target.events)


def time_migration(target: base.Target) -> tuple[float, float]:
    """Take the ledger back to schema 5 (route rollup, cascade index and routing columns
    dropped), time a what-if on it (read from the events: no routing rollup), then a sink
    opening it; the routing columns come back empty."""
    statements = [
        "DROP TABLE costcap_rollup_daily_route",
        "DROP INDEX costcap_events_cascade",
        *(f"ALTER TABLE costcap_events DROP COLUMN {c}"
          for c in ("tier", "route_reason", "cascade_id")),
        "UPDATE costcap_ledger_meta SET value = '5' WHERE key = 'ledger_schema_version'",
    ]  # fmt: skip
    if target.backend == "sqlite":
        with sqlite3.connect(target.url.removeprefix("sqlite:///")) as db:
            for statement in statements:
                db.execute(statement)
        db.close()
    else:
        import psycopg

        with psycopg.connect(base.PG_BASE, autocommit=True) as conn:
            conn.execute(f"SET search_path TO {target.url.split('schema=')[1]}")
            for statement in statements:
                conn.execute(statement)
    with Reports.open(target.url) as reports:
        scenario = Scenario(routes={"chat": "gpt-4o-mini"})
        reports.whatif(scenario)
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            reports.whatif(scenario)
            runs.append(time.perf_counter() - started)
    started = time.perf_counter()
    open_sink(target.url).close()
    return statistics.median(runs), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/costcap-bench"))
    parser.add_argument("--fresh", action="store_true", help="rebuild the ledgers")
    parser.add_argument("--migration", action="store_true", help="also time 5 → 6 (rebuilds)")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    prices = args.dir / "whatif-prices.toml"
    prices.write_text('[models."gpt-4o"]\ninput = 2.0\noutput = 8.0\n')
    tiered = args.dir / "whatif-tiered-prices.toml"
    tiered.write_text(
        '[models."gpt-4o"]\ninput = 2.5\noutput = 10.0\n'
        '[models."gpt-4o".long_context]\nthreshold = 2000\ninput = 5.0\noutput = 20.0\n'
    )
    cases = scenarios(prices, tiered)
    results: dict[str, dict[str, float]] = {}
    answers: dict[str, dict[str, object]] = {}
    for backend in args.backends.split(","):
        target = base.Target(backend, args.events, url_for(backend, args.events, args.dir))
        build(target, args.fresh)
        timings = results.setdefault(backend, {})
        with Reports.open(target.url) as reports:
            (count,) = reports.sink.query("SELECT COUNT(*) FROM costcap_events")[0]
            print(f"{backend}: {count:,} events", flush=True)
            for name, case in cases:
                answers.setdefault(backend, {})[name] = case(reports)  # warm-up
                runs = []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    case(reports)
                    runs.append((time.perf_counter() - started) * 1000)
                timings[name] = statistics.median(runs)
                print(f"  {name}: {timings[name]:.0f} ms", flush=True)
        if args.migration:  # last: the ledger loses its routing (rebuilt next time)
            whatif_s, migration_s = time_migration(target)
            timings["schema 5: whatif --route chat=gpt-4o-mini, 90 days (events)"] = whatif_s * 1e3
            timings["migration 5 → 6 (a sink opens it)"] = migration_s * 1000
            print(f"  schema 5 what-if {whatif_s:.2f} s, migration {migration_s:.2f} s", flush=True)
    if len(answers) == 2:
        a, b = answers.values()
        differ = [name for name in a if a[name] != b[name]]
        print("SQLite and PostgreSQL answers " + (f"differ on {differ}" if differ else "agree"))
    backends = list(results)
    print("\n| case | " + " | ".join(f"{b} {args.events:,} (ms)" for b in backends) + " |")
    print("|---|" + "---:|" * len(backends))
    for name in results[backends[0]]:
        print(f"| {name} | " + " | ".join(f"{results[b][name]:,.0f}" for b in backends) + " |")


if __name__ == "__main__":
    main()
