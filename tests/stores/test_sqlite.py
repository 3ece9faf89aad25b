"""What only the SQLite store does: its file, its schema, its connection, its recovery."""

from __future__ import annotations

import multiprocessing
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costcap.errors import ConfigError, StoreUnavailable
from costcap.stores import Charge, CounterState, open_store
from costcap.stores import memory as memory_module
from costcap.stores import sqlite as sqlite_module
from costcap.stores.memory import MemoryStore
from costcap.stores.sqlite import SCHEMA_VERSION, TOMBSTONE_S, SQLiteStore


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def one(key: str = "b", limit: int = 100, amount: int = 40, ttl_s: int = 86400) -> Charge:
    return Charge(key=key, window=(key,), limit=limit, amount=amount, ttl_s=ttl_s)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "costcap.db"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(db: Path, clock: FakeClock) -> Iterator[SQLiteStore]:
    s = SQLiteStore(db, clock=clock)
    yield s
    s.close()


def test_schema_version_is_recorded(db: Path) -> None:
    """A new file records the schema version it was created with in ``costcap_meta``."""
    open_store(f"sqlite:///{db}").close()
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT value FROM costcap_meta WHERE key = 'schema_version'").fetchone()
    assert row == (str(SCHEMA_VERSION),)


def test_newer_schema_version_is_refused(db: Path) -> None:
    """A file written by a newer costcap is refused with a ConfigError naming the versions."""
    open_store(f"sqlite:///{db}").close()
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE costcap_meta SET value = ? WHERE key = 'schema_version'", ("99",))
    conn.close()
    with pytest.raises(ConfigError, match=r"schema version 99.*newer costcap"):
        open_store(f"sqlite:///{db}")


_VERSION_1 = (  # the schema as version 1 wrote it, with one open reservation of 40 on "b"
    "CREATE TABLE costcap_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "INSERT INTO costcap_meta VALUES ('schema_version', '1')",
    "CREATE TABLE counters (key TEXT PRIMARY KEY, spent INTEGER NOT NULL,"
    " reserved INTEGER NOT NULL, expires_at REAL NOT NULL) WITHOUT ROWID",
    "INSERT INTO counters VALUES ('b', 5, 40, 9e9)",
    "CREATE TABLE reservations (id TEXT PRIMARY KEY, lease_until REAL NOT NULL,"
    " charged INTEGER NOT NULL, keys TEXT NOT NULL, amounts TEXT NOT NULL)",
    "CREATE INDEX reservations_by_lease ON reservations (lease_until)",
    "INSERT INTO reservations VALUES ('old', 1000030.0, 0, '[\"b\"]', '[40]')",
    "CREATE TABLE markers (marker TEXT PRIMARY KEY, until REAL NOT NULL) WITHOUT ROWID",
)


def test_version_1_file_is_migrated_and_its_reservations_expire_as_spend(
    db: Path, clock: FakeClock
) -> None:
    """Opening a version-1 file upgrades it to version 2 in place; a reservation it held still
    spends its full amount when its lease runs out, and can be corrected by a late settle."""
    with sqlite3.connect(db) as conn:
        for statement in _VERSION_1:
            conn.execute(statement)
    conn.close()
    store = SQLiteStore(db, clock=clock)
    with sqlite3.connect(db) as conn:
        version = conn.execute("SELECT value FROM costcap_meta WHERE key = 'schema_version'")
        assert version.fetchone() == ("2",)
        columns = [row[1] for row in conn.execute("PRAGMA table_info(reservations)")]
        assert columns[-1] == "on_expiry"
    conn.close()
    assert store.read([("b",)]) == [CounterState(spent=5, reserved=40)]
    clock.now += 60  # past the lease
    assert store.expire() == 1
    assert store.read([("b",)]) == [CounterState(spent=45, reserved=0)]
    assert store.settle("old", [10])
    assert store.read([("b",)]) == [CounterState(spent=15, reserved=0)]
    store.close()
    SQLiteStore(db, clock=clock).close()  # opening a migrated file again changes nothing


@pytest.mark.parametrize("where", ["missing directory", "a directory"])
def test_unopenable_path_is_store_unavailable(tmp_path: Path, where: str) -> None:
    """A path that cannot be opened raises StoreUnavailable naming the path, not sqlite3's error."""
    path = tmp_path / "no" / "such" / "dir" / "x.db" if where == "missing directory" else tmp_path
    with pytest.raises(StoreUnavailable, match=str(path)):
        open_store(f"sqlite:///{path}")


def test_data_survives_reopening_the_file(db: Path) -> None:
    """Spend, live reservations and markers are all there after the file is closed and reopened."""
    url = f"sqlite:///{db}"
    first = open_store(url)
    first.admit("settled", [one(amount=30)], 60.0)
    first.settle("settled", [12])
    first.admit("open", [one(amount=20)], 60.0)
    first.mark_once("alert:b:80", 3600)
    first.close()

    again = open_store(url)
    assert again.read([("b",)]) == [CounterState(spent=12, reserved=20)]
    assert not again.mark_once("alert:b:80", 3600)
    assert again.settle("open", [5])
    assert again.read([("b",)]) == [CounterState(spent=17, reserved=0)]
    again.close()


_DIE_HOLDING_A_RESERVATION = """
import os, signal, sys
from costcap.stores import Charge, open_store
store = open_store(sys.argv[1])
assert store.admit("doomed", [Charge("b", ("b",), 100, 40)], 30.0).admitted
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_reservation_of_a_killed_process_is_charged_after_its_lease(db: Path) -> None:
    """A holder killed with SIGKILL leaves its reservation; when the lease runs out it is charged
    in full and no longer counts as reserved."""
    url = f"sqlite:///{db}"
    died = subprocess.run([sys.executable, "-c", _DIE_HOLDING_A_RESERVATION, url], check=False)
    assert died.returncode == -signal.SIGKILL

    now = open_store(url)
    assert now.read([("b",)]) == [CounterState(spent=0, reserved=40)]  # lease still running
    now.close()
    later = SQLiteStore(db, clock=lambda: time.time() + 60)  # past the 30 s lease
    assert later.expire() == 1
    assert later.read([("b",)]) == [CounterState(spent=40, reserved=0)]
    assert not later.admit("next", [Charge("b", ("b",), 100, 61)], 30.0).admitted
    later.close()


def test_tombstone_is_dropped_after_its_correction_window(
    store: SQLiteStore, clock: FakeClock
) -> None:
    """An expired reservation can be corrected for TOMBSTONE_S; after that it is forgotten and
    the full charge stands."""
    store.admit("slow", [one(amount=40)], 1.0)
    clock.now += 2
    assert store.expire() == 1
    clock.now += TOMBSTONE_S + 1
    assert store.expire() == 0
    assert not store.settle("slow", [10])
    assert store.read([("b",)]) == [CounterState(spent=40, reserved=0)]


def test_stale_counters_and_markers_are_swept(
    store: SQLiteStore, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counters past their ttl with nothing reserved, and markers past theirs, are deleted."""
    monkeypatch.setattr(sqlite_module, "_SWEEP_EVERY", 2)
    store.admit("old", [one("stale", ttl_s=10)], 60.0)
    store.settle("old", [5])
    store.mark_once("alert", 10)
    clock.now += 11
    store.admit("new", [one("fresh")], 60.0)  # the second admit sweeps
    with sqlite3.connect(store.path) as conn:
        keys = [k for (k,) in conn.execute("SELECT key FROM counters")]
        markers = conn.execute("SELECT count(*) FROM markers").fetchone()
    assert keys == ["fresh"]
    assert markers == (0,)


def test_settle_with_wrong_number_of_actuals_changes_nothing(store: SQLiteStore) -> None:
    """A settle with one actual per charge missing raises and leaves the reservation in place."""
    store.admit("r", [one("a", amount=10), one("b", amount=20)], 60.0)
    with pytest.raises(ValueError, match="1 actuals for 2 charges"):
        store.settle("r", [5])
    assert store.read([("a",), ("b",)]) == [CounterState(0, 10), CounterState(0, 20)]
    assert store.settle("r", [5, 6])


def test_locked_database_is_store_unavailable(db: Path) -> None:
    """When another connection holds the write lock past the busy timeout, the call fails closed
    with StoreUnavailable instead of waiting forever or proceeding unchecked."""
    store = SQLiteStore(db, busy_timeout_s=0.2)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreUnavailable, match="locked"):
            store.admit("r", [one()], 60.0)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.admit("r", [one()], 60.0).admitted
    store.close()


def test_in_memory_url_is_one_database_per_instance() -> None:
    """``sqlite://`` is an in-memory database shared by every thread using the instance."""
    store = open_store("sqlite://")
    threads = [
        threading.Thread(target=store.admit, args=(f"r{i}", [one(amount=10)], 60.0))
        for i in range(5)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.read([("b",)]) == [CounterState(0, 50)]
    assert open_store("sqlite://").read([("b",)]) == [CounterState(0, 0)]
    store.close()


def test_three_slash_url_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sqlite:///name.db`` opens ``name.db`` in the current directory."""
    monkeypatch.chdir(tmp_path)
    open_store("sqlite:///relative.db").close()
    assert (tmp_path / "relative.db").is_file()


@pytest.mark.parametrize(
    "url", ["sqlite://host/x.db", "sqlite:///x.db?mode=ro", "sqlite:///x.db?timeout=soon"]
)
def test_malformed_url_is_config_error(url: str) -> None:
    """A host, an unknown option or a bad option value is a ConfigError, not silently ignored."""
    with pytest.raises(ConfigError, match="store URL"):
        SQLiteStore.from_url(url)


def _admit_in_child(store: SQLiteStore) -> None:
    assert store.admit("child", [one(amount=15)], 60.0).admitted
    store.close()


@pytest.mark.skipif(sys.platform == "win32", reason="needs fork")
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")  # 3.12+: threads at fork
def test_forked_child_uses_its_own_connection(db: Path) -> None:
    """A store inherited through fork opens a fresh connection in the child; both processes'
    writes land in the same file."""
    store = SQLiteStore(db)
    store.admit("parent", [one(amount=10)], 60.0)
    child = multiprocessing.get_context("fork").Process(target=_admit_in_child, args=(store,))
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0
    assert store.read([("b",)]) == [CounterState(0, 25)]
    store.close()


_KEYS = ("a", "b", "c")
_IDS = ("r1", "r2")  # few ids, so calls often meet the same reservation
_charges = st.lists(
    st.builds(
        lambda key, extra, limit, amount, hard, ttl, on_expiry: Charge(
            key, (key, *extra), limit, amount, hard, ttl, on_expiry
        ),
        st.sampled_from(_KEYS),
        st.lists(st.sampled_from(_KEYS), max_size=2).map(tuple),
        st.integers(0, 400),
        st.integers(0, 60),
        st.booleans(),
        st.sampled_from((1, 10, 60)),
        st.sampled_from(("spend", "release")),
    ),
    max_size=3,
)
_TIMES = (0.25, 1.0, 10.0, 60.0)  # leases, ttls and ticks from one set: boundaries get hit
_admit = st.tuples(st.just("admit"), st.sampled_from(_IDS), _charges, st.sampled_from(_TIMES))
_settle = st.tuples(
    st.just("settle"),
    st.sampled_from(_IDS),
    st.lists(st.integers(0, 80), min_size=3, max_size=3),
    st.sampled_from((None, None, None, 0, 1, 2, 3)),  # how many actuals; None: one per charge
)
_release = st.tuples(st.just("release"), st.sampled_from(_IDS))
_tick = st.tuples(st.just("tick"), st.sampled_from((*_TIMES, TOMBSTONE_S)))
_ops = st.lists(
    st.one_of(  # admit, settle and tick weighted up, so reservations often live, expire, settle
        *(_admit, _admit, _admit, _settle, _settle, _release, _tick, _tick),
        st.tuples(st.just("extend"), st.sampled_from(_IDS), st.sampled_from(_TIMES)),
        st.tuples(st.just("expire")),
        st.tuples(st.just("read"), st.lists(st.lists(st.sampled_from(_KEYS)).map(tuple))),
        st.tuples(st.just("mark_once"), st.sampled_from(("m1", "m2")), st.sampled_from((1, 10))),
    ),
    min_size=5,
    max_size=50,
)


def _apply(store: object, op: tuple[Any, ...]) -> object:
    try:
        return getattr(store, op[0])(*op[1:])
    except ValueError as exc:
        return ("ValueError", str(exc))


@settings(max_examples=500, deadline=None)
@given(ops=_ops)
def test_behaves_exactly_as_the_memory_store(ops: list[tuple[Any, ...]]) -> None:
    """On any sequence of calls and clock ticks, every answer equals the memory store's
    (sweeping every third admit, so the sweep is compared too)."""
    clock = FakeClock()
    reference, sqlite_store = MemoryStore(clock=clock), SQLiteStore(":memory:", clock=clock)
    with (
        patch.object(memory_module, "_SWEEP_EVERY", 3),
        patch.object(sqlite_module, "_SWEEP_EVERY", 3),
    ):
        _compare(ops, clock, reference, sqlite_store)
    sqlite_store.close()


def _compare(
    ops: list[tuple[Any, ...]], clock: FakeClock, reference: MemoryStore, sqlite_store: SQLiteStore
) -> None:
    sizes: dict[str, int] = {}  # charges per admitted id: most settles bring one actual each
    for drawn in ops:
        if drawn[0] == "tick":
            clock.now += drawn[1]
            continue
        op = drawn
        if drawn[0] == "settle":
            name, rid, actuals, count = drawn
            op = (name, rid, actuals[: sizes.get(rid, 3) if count is None else count])
        answer = _apply(reference, op)
        assert _apply(sqlite_store, op) == answer, op
        if op[0] == "admit" and getattr(answer, "admitted", False):
            sizes[op[1]] = len(op[2])
    windows = [(k,) for k in _KEYS]
    assert sqlite_store.read(windows) == reference.read(windows)
