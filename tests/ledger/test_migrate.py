"""Opening a version-1 ledger migrates it to the current version: new rollups backfilled from the
events, indexes changed, nothing else touched; a version-3 ledger gains the in-flight table and
the service-tier rollup; a version-4 ledger gains cache misses; a version-5 ledger gains the
routing columns, their rollup and the cascade index (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

import pytest

from costcap.errors import ConfigError
from costcap.ledger import CostEvent, open_sink
from costcap.ledger._schema import (
    DAILY_ROUTE,
    DAILY_TIER,
    MEASURES_SINCE,
    ROLLUPS_ALL,
    SCHEMA_VERSION,
    SPEND_ROLLUPS,
    Rollup,
)
from costcap.ledger._sql import EVENT_COLUMNS
from tests.ledger import schema_v1
from tests.ledger.conftest import fetch, in_flight
from tests.ledger.older import execute, make_older
from tests.ledger.rollups import (
    ALL_TABLES,
    NEW_ROLLUPS,
    SPEND_TABLES,
    contents,
    expected,
    make_events,
    unmissed,
    unrouted,
    untiered,
)

EVENTS = make_events()
VERSION = "SELECT value FROM costcap_ledger_meta WHERE key = 'ledger_schema_version'"
_ROUTING = ("tier", "route_reason", "cascade_id")  # the event columns version 6 added
_SINCE_4 = ("cache_miss", *_ROUTING)  # and those added after version 4


def _older_columns(rollup: Rollup) -> str:
    """The columns ``rollup`` had before version 5 (its keys and the older measures)."""
    return ", ".join(n for n in (*rollup.keys, *rollup.names) if n not in MEASURES_SINCE)


def _indexes(url: str) -> set[str]:
    if url.startswith("sqlite"):
        sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'costcap_events%'"
    else:
        sql = "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'costcap_events%' AND "
        sql += f"schemaname = '{url.partition('?schema=')[2]}'"
    return {name for (name,) in execute(url, sql) if not name.endswith("_pkey")}


@pytest.mark.parametrize("table", ALL_TABLES)
def test_migration_backfills_the_new_rollups(ledger_url: str, table: str) -> None:
    """The rollups added since version 1 hold the aggregates of the events already recorded
    (which have no service tier nor cache miss: version 1 kept none), and so do the measures
    added to the version-1 rollups (cache misses: none)."""
    schema_v1.create(ledger_url, EVENTS)
    sink = open_sink(ledger_url)
    try:
        assert contents(sink, table) == expected(table, untiered(EVENTS))
    finally:
        sink.close()


def test_migration_sets_the_version(ledger_url: str) -> None:
    schema_v1.create(ledger_url, EVENTS[:5])
    assert fetch(ledger_url, VERSION) == [(str(SCHEMA_VERSION),)]  # fetch opens a sink


def test_migration_changes_the_event_indexes(ledger_url: str) -> None:
    """The unused (prompt_hash, ts) index goes, (user_id, ts) gains cost_pico, ts gets one."""
    schema_v1.create(ledger_url, EVENTS[:5])
    before = _indexes(ledger_url)
    open_sink(ledger_url).close()
    after = _indexes(ledger_url)
    assert before - after == {"costcap_events_loop", "costcap_events_user_ts"}
    assert after - before == {
        "costcap_events_ts", "costcap_events_user_ts_cost", "costcap_events_cascade"
    }  # fmt: skip


def test_migration_keeps_events_and_spend_rollups(ledger_url: str) -> None:
    """The events and the version-1 rollups are left as they were."""
    schema_v1.create(ledger_url, EVENTS)
    queries = {
        r.table: f"SELECT {_older_columns(r)} FROM {r.table}" for r in SPEND_ROLLUPS if r.since == 1
    }
    queries["costcap_events"] = f"SELECT {', '.join(schema_v1.V1_COLUMNS)} FROM costcap_events"
    dumps = {t: sorted(map(repr, execute(ledger_url, q))) for t, q in queries.items()}
    open_sink(ledger_url).close()
    assert {t: sorted(map(repr, execute(ledger_url, q))) for t, q in queries.items()} == dumps


def test_migration_adds_the_flag_column(ledger_url: str) -> None:
    """A version-1 ledger gains ``costcap_events.flag`` (NULL for the events it held), and a
    flagged event written after the migration keeps its flag."""
    schema_v1.create(ledger_url, EVENTS)
    sink = open_sink(ledger_url)
    try:
        flagged = replace(make_events(1, seed=3, prefix="f")[0], flag="usage_beyond_request")
        assert sink.write([flagged]) == 1
    finally:
        sink.close()
    rows = execute(ledger_url, "SELECT flag, COUNT(*) FROM costcap_events GROUP BY flag")
    assert sorted(rows, key=repr) == sorted(
        [(None, len(EVENTS)), ("usage_beyond_request", 1)], key=repr
    )


def test_migration_adds_the_service_tier_column(ledger_url: str) -> None:
    """A version-1 ledger gains ``costcap_events.service_tier`` (NULL for the events it held),
    and an event priced at a tier written after the migration keeps it."""
    schema_v1.create(ledger_url, EVENTS)
    sink = open_sink(ledger_url)
    try:
        flex = replace(make_events(1, seed=4, prefix="t")[0], service_tier="flex")
        assert sink.write([flex]) == 1
    finally:
        sink.close()
    rows = execute(
        ledger_url, "SELECT service_tier, COUNT(*) FROM costcap_events GROUP BY service_tier"
    )
    assert sorted(rows, key=repr) == sorted([(None, len(EVENTS)), ("flex", 1)], key=repr)


def test_migration_adds_the_cache_miss_column(ledger_url: str) -> None:
    """A version-1 ledger gains ``costcap_events.cache_miss``, false for the events it held (no
    costcap before version 5 recorded a miss), and a miss written afterwards is stored as one."""
    schema_v1.create(ledger_url, EVENTS)
    sink = open_sink(ledger_url)
    try:
        miss = replace(make_events(1, seed=5, prefix="x")[0], cache_miss=True)
        assert sink.write([miss]) == 1
    finally:
        sink.close()
    rows = execute(
        ledger_url,
        "SELECT CASE WHEN cache_miss THEN 'miss' ELSE 'none' END, COUNT(*) FROM costcap_events "
        "GROUP BY 1 ORDER BY 1",
    )
    assert rows == [("miss", 1), ("none", len(EVENTS))]


@pytest.mark.parametrize("table", ALL_TABLES)
def test_a_migrated_ledger_takes_new_batches_and_replays(ledger_url: str, table: str) -> None:
    """After the backfill, new events (and a replay of old ones) are added like any batch."""
    more = make_events(120, seed=9, prefix="m")
    schema_v1.create(ledger_url, EVENTS)
    sink = open_sink(ledger_url)
    try:
        assert sink.write([*EVENTS[:40], *more]) == len(more)
        assert contents(sink, table) == expected(table, [*untiered(EVENTS), *more])
    finally:
        sink.close()


def test_reopening_a_current_ledger_runs_no_migration(ledger_url: str) -> None:
    """A second open finds the current version and leaves the rollups alone (a backfill would
    refill the one emptied here)."""
    sink = open_sink(ledger_url)
    sink.write(EVENTS)
    sink.close()
    execute(ledger_url, f"DELETE FROM {NEW_ROLLUPS[0]}")
    assert fetch(ledger_url, f"SELECT COUNT(*) FROM {NEW_ROLLUPS[0]}") == [(0,)]


def test_a_newer_ledger_is_refused(ledger_url: str) -> None:
    """A ledger written by a newer costcap (a later schema version) is not opened."""
    open_sink(ledger_url).close()
    execute(ledger_url, f"UPDATE costcap_ledger_meta SET value = '{SCHEMA_VERSION + 1}'")
    with pytest.raises(ConfigError, match="newer than this costcap"):
        open_sink(ledger_url)


def test_version_3_gains_the_in_flight_table_and_keeps_its_data(ledger_url: str) -> None:
    """A version-3 ledger (no ``costcap_inflight``) opened by a sink is current: its events and
    rollups as they were, an empty in-flight table that takes calls in flight at once."""
    make_older(ledger_url, 3, EVENTS)
    queries = {
        r.table: f"SELECT {_older_columns(r)} FROM {r.table}" for r in ROLLUPS_ALL if r.since < 4
    }
    v3_columns = ", ".join(c for c in EVENT_COLUMNS if c not in (*_SINCE_4, "service_tier"))
    queries["costcap_events"] = f"SELECT {v3_columns} FROM costcap_events"
    dumps = {t: sorted(map(repr, execute(ledger_url, q))) for t, q in queries.items()}
    sink = open_sink(ledger_url)
    try:
        assert fetch(ledger_url, VERSION) == [(str(SCHEMA_VERSION),)]
        assert {t: sorted(map(repr, execute(ledger_url, q))) for t, q in queries.items()} == dumps
        assert execute(ledger_url, "SELECT COUNT(*) FROM costcap_inflight") == [(0,)]
        sink.write([in_flight("r-new")])
        assert execute(ledger_url, "SELECT request_id FROM costcap_inflight") == [("r-new",)]
    finally:
        sink.close()


def test_version_3_gains_the_tier_rollup_backfilled(ledger_url: str) -> None:
    """A version-3 ledger's events (no tier: the standard price) fill the service-tier rollup
    when a sink opens it, and events priced at a tier written afterwards are added to it."""
    make_older(ledger_url, 3, EVENTS)
    more = make_events(120, seed=9, prefix="m")
    sink = open_sink(ledger_url)
    try:
        assert contents(sink, DAILY_TIER.table) == expected(DAILY_TIER.table, untiered(EVENTS))
        assert sink.write(more) == len(more)
        assert contents(sink, DAILY_TIER.table) == expected(
            DAILY_TIER.table, [*untiered(EVENTS), *more]
        )
    finally:
        sink.close()


@pytest.mark.parametrize("version", [2, 3, 4])
def test_an_older_ledger_keeps_its_data_and_gains_no_misses(ledger_url: str, version: int) -> None:
    """A ledger of version 2 to 4 opened by a sink is current: its events and the columns its
    rollups had are as they were, and every spend rollup row counts 0 misses costing $0."""
    make_older(ledger_url, version, EVENTS)
    kept = {
        r.table: f"SELECT {_older_columns(r)} FROM {r.table}" for r in ROLLUPS_ALL if r.since < 4
    }
    dumps = {t: sorted(map(repr, execute(ledger_url, q))) for t, q in kept.items()}
    sink = open_sink(ledger_url)
    sink.close()
    assert fetch(ledger_url, VERSION) == [(str(SCHEMA_VERSION),)]
    assert {t: sorted(map(repr, execute(ledger_url, q))) for t, q in kept.items()} == dumps
    for table in SPEND_TABLES:
        rows = execute(ledger_url, f"SELECT COUNT(*), SUM(cache_misses), "
                                   f"SUM(cache_miss_cost_pico) FROM {table}")  # fmt: skip
        assert [(n > 0, int(misses), int(cost)) for n, misses, cost in rows] == [(True, 0, 0)]
    assert execute(ledger_url, "SELECT COUNT(*) FROM costcap_events WHERE cache_miss") == [(0,)]


@pytest.mark.parametrize("table", SPEND_TABLES)
@pytest.mark.parametrize("version", [2, 3, 4])
def test_an_older_ledger_counts_the_misses_written_after(
    ledger_url: str, version: int, table: str
) -> None:
    """Once a version 2 to 4 ledger is migrated, new events' cache misses and their cost are
    added to every spend rollup, next to the older events (none a miss)."""
    make_older(ledger_url, version, EVENTS)
    more = make_events(120, seed=9, prefix="m")
    assert any(e.cache_miss and e.cost_pico for e in more)
    stored = unmissed(EVENTS) if version == 4 else untiered(EVENTS)
    sink = open_sink(ledger_url)
    try:
        assert sink.write(more) == len(more)
        assert contents(sink, table) == expected(table, [*stored, *more])
    finally:
        sink.close()


def _as_stored(version: int) -> Callable[[Iterable[CostEvent]], list[CostEvent]]:
    """What a ledger of ``version`` keeps of events (its migration cannot bring back the rest)."""
    return {2: untiered, 3: untiered, 4: unmissed, 5: unrouted}[version]


@pytest.mark.parametrize("version", [2, 3, 4, 5])
def test_an_older_ledger_keeps_its_events_and_rollups(ledger_url: str, version: int) -> None:
    """A ledger of version 2 to 5 opened by a sink is current, and its events (the columns it
    had) and the rollups it had (their older columns) are as they were."""
    make_older(ledger_url, version, EVENTS)
    columns = ", ".join(c for c in EVENT_COLUMNS if c not in _ROUTING)
    kept = {
        r.table: f"SELECT {_older_columns(r)} FROM {r.table}" for r in ROLLUPS_ALL if r.since < 4
    }
    events = columns if version == 5 else "request_id"
    kept["costcap_events"] = f"SELECT {events} FROM costcap_events"
    dumps = {t: sorted(map(repr, execute(ledger_url, q))) for t, q in kept.items()}
    open_sink(ledger_url).close()
    assert fetch(ledger_url, VERSION) == [(str(SCHEMA_VERSION),)]
    assert {t: sorted(map(repr, execute(ledger_url, q))) for t, q in kept.items()} == dumps


@pytest.mark.parametrize("version", [1, 5])
def test_migration_adds_the_routing_columns_empty(ledger_url: str, version: int) -> None:
    """A version-1 or version-5 ledger gains ``tier``, ``route_reason`` and ``cascade_id``, NULL
    for every event it held (no costcap before version 6 routed a call)."""
    if version == 1:
        schema_v1.create(ledger_url, EVENTS)
    else:
        make_older(ledger_url, version, EVENTS)
    open_sink(ledger_url).close()
    rows = execute(
        ledger_url,
        "SELECT COUNT(*) FROM costcap_events "
        "WHERE tier IS NULL AND route_reason IS NULL AND cascade_id IS NULL",
    )
    assert rows == [(len(EVENTS),)]


def test_a_routed_event_written_after_the_migration_keeps_its_routing(ledger_url: str) -> None:
    """Once a version-5 ledger is migrated, a routed event's tier, reason and cascade id are
    stored as given."""
    make_older(ledger_url, 5, EVENTS)
    routed = replace(
        make_events(1, seed=6, prefix="x")[0], tier="complex", route_reason="cascade",
        cascade_id="casc-1",
    )  # fmt: skip
    sink = open_sink(ledger_url)
    try:
        assert sink.write([routed]) == 1
    finally:
        sink.close()
    rows = execute(
        ledger_url,
        "SELECT tier, route_reason, cascade_id FROM costcap_events WHERE request_id = 'x0'",
    )
    assert rows == [("complex", "cascade", "casc-1")]


@pytest.mark.parametrize("version", [2, 3, 4, 5])
def test_an_older_ledger_gains_the_route_rollup_backfilled(ledger_url: str, version: int) -> None:
    """The routing rollup of a migrated version 2 to 5 ledger holds its events' sums, their tier
    and reason ``''``."""
    make_older(ledger_url, version, EVENTS)
    sink = open_sink(ledger_url)
    try:
        got = contents(sink, DAILY_ROUTE.table)
    finally:
        sink.close()
    assert got == expected(DAILY_ROUTE.table, _as_stored(version)(EVENTS))
    assert {key[2:4] for key in got} == {("", "")}


@pytest.mark.parametrize("version", [2, 3, 4, 5])
def test_an_older_ledger_routes_the_events_written_after(ledger_url: str, version: int) -> None:
    """After the migration, new events are added to the routing rollup by tier and reason,
    beside the older events under ``''``."""
    make_older(ledger_url, version, EVENTS)
    more = make_events(120, seed=9, prefix="m")
    assert {e.tier for e in more} > {None}
    assert {e.route_reason for e in more} > {None}
    sink = open_sink(ledger_url)
    try:
        assert sink.write(more) == len(more)
        got = contents(sink, DAILY_ROUTE.table)
    finally:
        sink.close()
    assert got == expected(DAILY_ROUTE.table, [*_as_stored(version)(EVENTS), *more])


def test_migration_to_6_adds_the_cascade_index(ledger_url: str) -> None:
    """A version-5 ledger gains the partial index of cascaded events, and only it."""
    make_older(ledger_url, 5, EVENTS)
    before = _indexes(ledger_url)
    open_sink(ledger_url).close()
    assert _indexes(ledger_url) - before == {"costcap_events_cascade"}
