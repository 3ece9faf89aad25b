"""``SQLiteStore.at_once``: a call runs on the caller's thread only when it need not wait; an
asyncio caller then skips the thread hop, and goes to a worker thread when it would wait."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from costcap.stores import Charge, CounterState
from costcap.stores._adapter import AsyncAdapter
from costcap.stores.sqlite import SQLiteStore

CHARGE = [Charge(key="budget:g:-:d1", window=("budget:g:-:d1",), limit=100, amount=10)]


def test_a_free_store_runs_the_call_at_once(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    done, admission = store.at_once(lambda: store.admit("r1", CHARGE, 60))
    assert done
    assert admission is not None
    assert admission.admitted
    assert store.read([CHARGE[0].window]) == [CounterState(spent=0, reserved=10)]


def test_a_write_lock_held_by_another_connection_is_not_waited_for(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        assert store.at_once(lambda: store.admit("r1", CHARGE, 60)) == (False, None)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.read([CHARGE[0].window]) == [CounterState(spent=0, reserved=0)]  # nothing done


def test_the_store_lock_held_by_another_thread_is_not_waited_for(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store._lock:
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(10)
    try:
        assert store.at_once(lambda: store.admit("r1", CHARGE, 60)) == (False, None)
    finally:
        release.set()
        thread.join()


def test_the_async_adapter_waits_in_a_thread_when_the_lock_is_taken(tmp_path: Path) -> None:
    """A busy database: the call goes to a worker thread, which waits for the lock and then
    admits — the same answer as at once, later."""
    store = SQLiteStore(tmp_path / "s.db")
    adapter = AsyncAdapter(store, offload=True)
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    async def main() -> bool:
        admitting = asyncio.ensure_future(adapter.admit("r1", CHARGE, 60))
        await asyncio.sleep(0.05)  # let it try at once and go to its thread
        assert not admitting.done()  # waiting for the other connection's lock
        other.execute("ROLLBACK")
        return (await admitting).admitted

    try:
        assert asyncio.run(main())
    finally:
        other.close()
    assert store.read([CHARGE[0].window]) == [CounterState(spent=0, reserved=10)]


def test_after_a_busy_attempt_the_store_waits_again_as_configured(tmp_path: Path) -> None:
    """at_once sets the busy timeout to 0 only for its own step: the next ordinary call still
    waits for a lock held briefly by another connection."""
    store = SQLiteStore(tmp_path / "s.db", busy_timeout_s=5)
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    assert store.at_once(lambda: store.admit("r1", CHARGE, 60)) == (False, None)
    timer = threading.Timer(0.2, lambda: other.execute("ROLLBACK"))
    timer.start()
    try:
        assert store.admit("r1", CHARGE, 60).admitted  # waited ~0.2 s, then admitted
    finally:
        timer.join()
        other.close()


def test_the_async_adapter_closes_the_store_promptly(tmp_path: Path) -> None:
    """close() takes the store's lock itself: it is never run at once (under that lock)."""
    adapter = AsyncAdapter(SQLiteStore(tmp_path / "s.db"), offload=True)

    async def main() -> None:
        await adapter.admit("r1", CHARGE, 60)
        await asyncio.wait_for(adapter.close(), timeout=5)

    asyncio.run(main())
