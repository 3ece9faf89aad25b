"""Schema version 7: a new ledger has the alerts table, and opening an older one (version 2 to 6)
adds it, empty, leaving the events and rollups as they were; alerts are recorded there after
(SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from costcap.ledger import open_sink
from costcap.ledger._schema import ROLLUPS_ALL, SCHEMA_VERSION
from tests.fired import HISTORY, write_alerts
from tests.ledger.conftest import fetch
from tests.ledger.older import execute, make_older
from tests.ledger.rollups import make_events

EVENTS = make_events()
COUNT = "SELECT COUNT(*) FROM costcap_alerts"


def _has_alerts_table(url: str) -> bool:
    if url.startswith("sqlite"):
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'costcap_alerts'"
    else:
        schema = url.partition("?schema=")[2]
        sql = f"SELECT to_regclass('\"{schema}\".costcap_alerts')::text"
    return any(name for (name,) in execute(url, sql))


def test_a_new_ledger_has_an_empty_alerts_table(ledger_url: str) -> None:
    open_sink(ledger_url).close()
    assert fetch(ledger_url, COUNT) == [(0,)]


@pytest.mark.parametrize("version", [2, 3, 4, 5, 6])
def test_an_older_ledger_gains_the_alerts_table(ledger_url: str, version: int) -> None:
    make_older(ledger_url, version, EVENTS[:10])
    assert not _has_alerts_table(ledger_url)
    open_sink(ledger_url).close()
    assert _has_alerts_table(ledger_url)
    assert execute(ledger_url, COUNT) == [(0,)]
    assert execute(ledger_url, "SELECT value FROM costcap_ledger_meta") == [(str(SCHEMA_VERSION),)]


def test_version_6_keeps_its_events_and_rollups(ledger_url: str) -> None:
    """Every row of the events and of every rollup, read without a sink, is the same after."""
    make_older(ledger_url, 6, EVENTS)
    tables = ["costcap_events", *(r.table for r in ROLLUPS_ALL if r.since <= 6)]
    dump = {t: sorted(map(repr, execute(ledger_url, f"SELECT * FROM {t}"))) for t in tables}
    open_sink(ledger_url).close()
    assert {t: sorted(map(repr, execute(ledger_url, f"SELECT * FROM {t}"))) for t in tables} == dump
    assert len(dump["costcap_events"]) == len(EVENTS)


def test_a_migrated_ledger_records_alerts(ledger_url: str) -> None:
    make_older(ledger_url, 6, EVENTS[:10])
    write_alerts(ledger_url)
    assert fetch(ledger_url, COUNT) == [(len(HISTORY),)]
