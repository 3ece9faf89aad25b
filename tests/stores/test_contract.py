"""The store contract, on every backend."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from costcap.stores import Charge, CounterState, Store, open_async_store, open_store
from costcap.stores.memory import MemoryStore
from costcap.stores.sqlite import SQLiteStore
from tests.stores.helpers import rid
from tests.waiting import lapse

LEASE = 60.0

Timed = tuple[Store, Callable[[float], None]]


class FakeClock:
    """A process clock the test moves forward by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def timed(store_url: str) -> Iterator[Timed]:
    """The store of ``store_url`` and a function that lets seconds pass on the clock its leases
    end by: a fake clock moved forward for memory and SQLite, the server's own clock waited on
    for Redis and PostgreSQL (their leases really expire there)."""
    scheme = store_url.partition(":")[0]
    if scheme in ("memory", "sqlite"):
        clock = FakeClock()
        if scheme == "memory":
            store: Store = MemoryStore(clock=clock)
        else:
            store = SQLiteStore.from_url(store_url, clock=clock)
        yield store, clock.advance
        store.close()
        return
    store = open_store(store_url)
    yield store, lambda seconds: lapse(store_url, seconds)
    store.close()


def one(key: str = "b:day", limit: int = 100, amount: int = 10, *, hard: bool = True) -> Charge:
    return Charge(key=key, window=(key,), limit=limit, amount=amount, hard=hard)


def test_admit_reserves_the_amount(store: Store) -> None:
    """An admitted charge shows as reserved, not spent."""
    result = store.admit(rid(), [one(amount=30)], LEASE)
    assert result.admitted
    assert store.read([("b:day",)]) == [CounterState(spent=0, reserved=30)]


def test_admit_reports_the_state_after_the_step(store: Store) -> None:
    """The admission carries each charge's window sums including its own reservation."""
    store.admit(rid(), [one(amount=30)], LEASE)
    result = store.admit(rid(), [one(amount=5)], LEASE)
    assert result.states == (CounterState(spent=0, reserved=35),)


def test_admit_up_to_the_limit_exactly(store: Store) -> None:
    """A charge that lands exactly on the limit is admitted; one unit more is not."""
    assert store.admit(rid(), [one(limit=100, amount=100)], LEASE).admitted
    refused = store.admit(rid(), [one(limit=100, amount=1)], LEASE)
    assert not refused.admitted
    assert refused.refused == 0


def test_refusal_reserves_nothing_on_any_charge(store: Store) -> None:
    """All or nothing: when the second charge does not fit, the first is not reserved either."""
    store.admit(rid(), [one("b", limit=50, amount=45)], LEASE)
    result = store.admit(
        rid(), [one("a", limit=100, amount=10), one("b", limit=50, amount=10)], LEASE
    )
    assert not result.admitted
    assert result.refused == 1
    assert store.read([("a",), ("b",)]) == [CounterState(0, 0), CounterState(0, 45)]


def test_soft_charge_never_refuses(store: Store) -> None:
    """A soft charge over its limit is still admitted and recorded."""
    result = store.admit(rid(), [one(limit=10, amount=50, hard=False)], LEASE)
    assert result.admitted
    assert store.read([("b:day",)]) == [CounterState(0, 50)]


def test_settle_replaces_the_reservation_with_the_actual(store: Store) -> None:
    """Settling moves the call from reserved to its actual amount spent."""
    r = rid()
    store.admit(r, [one(amount=40)], LEASE)
    assert store.settle(r, [12])
    assert store.read([("b:day",)]) == [CounterState(spent=12, reserved=0)]


def test_settle_frees_room_for_later_calls(store: Store) -> None:
    """Room the actual cost did not use is available again after settling (no false blocks)."""
    r = rid()
    store.admit(r, [one(limit=100, amount=100)], LEASE)
    store.settle(r, [20])
    assert store.admit(rid(), [one(limit=100, amount=80)], LEASE).admitted


def test_settle_twice_is_refused(store: Store) -> None:
    """A reservation settles once; the second settle reports an unknown id and changes nothing."""
    r = rid()
    store.admit(r, [one(amount=40)], LEASE)
    store.settle(r, [12])
    assert not store.settle(r, [12])
    assert store.read([("b:day",)]) == [CounterState(12, 0)]


def test_release_drops_the_reservation(store: Store) -> None:
    """A released call spends nothing."""
    r = rid()
    store.admit(r, [one(amount=40)], LEASE)
    assert store.release(r)
    assert store.read([("b:day",)]) == [CounterState(0, 0)]


def test_release_unknown_id_is_false(store: Store) -> None:
    """Releasing an id that was never admitted reports False."""
    assert not store.release(rid())


def test_window_sums_several_buckets(store: Store) -> None:
    """A charge's limit covers every bucket of its window, not only the one it charges."""
    r = rid()
    store.admit(r, [Charge("r1", ("r1",), 100, 60)], LEASE)
    store.settle(r, [60])
    refused = store.admit(rid(), [Charge("r2", ("r1", "r2"), 100, 50)], LEASE)
    assert not refused.admitted
    assert store.admit(rid(), [Charge("r2", ("r1", "r2"), 100, 40)], LEASE).admitted


def test_duplicate_reservation_id_is_an_error(store: Store) -> None:
    """Reusing a live reservation id raises instead of double counting."""
    r = rid()
    store.admit(r, [one(amount=1)], LEASE)
    with pytest.raises(ValueError, match="already"):
        store.admit(r, [one(amount=1)], LEASE)


def test_expired_lease_is_charged_in_full(timed: Timed) -> None:
    """A reservation whose holder never came back is spent in full, no longer reserved."""
    store, lapse = timed
    store.admit(rid(), [one(amount=40)], 0.2)
    lapse(0.3)
    assert store.expire() == 1
    assert store.read([("b:day",)]) == [CounterState(spent=40, reserved=0)]


def test_admit_expires_stale_leases_first(timed: Timed) -> None:
    """Admission charges expired reservations itself; no sweeper is needed."""
    store, lapse = timed
    store.admit(rid(), [one(amount=40)], 0.2)
    lapse(0.3)
    result = store.admit(rid(), [one(amount=1)], LEASE)
    assert result.states == (CounterState(spent=40, reserved=1),)


def test_settle_after_expiry_corrects_to_actual(timed: Timed) -> None:
    """A slow holder that settles after its lease ran out replaces the full charge by the actual."""
    store, lapse = timed
    r = rid()
    store.admit(r, [one(amount=40)], 0.2)
    lapse(0.3)
    store.expire()
    assert store.settle(r, [15])
    assert store.read([("b:day",)]) == [CounterState(spent=15, reserved=0)]


def test_release_after_expiry_undoes_the_charge(timed: Timed) -> None:
    """A call that failed unbilled after its lease ran out gives the full charge back."""
    store, lapse = timed
    r = rid()
    store.admit(r, [one(amount=40)], 0.2)
    lapse(0.3)
    store.expire()
    assert store.release(r)
    assert store.read([("b:day",)]) == [CounterState(0, 0)]


def test_extend_keeps_the_lease_alive(timed: Timed) -> None:
    """An extended lease is not charged at its first expiry time."""
    store, lapse = timed
    r = rid()
    store.admit(r, [one(amount=40)], 0.5)
    assert store.extend(r, LEASE)
    lapse(0.7)  # past the first lease's end
    assert store.expire() == 0
    assert store.read([("b:day",)]) == [CounterState(0, 40)]


def test_mark_once_is_true_only_the_first_time(store: Store) -> None:
    """An alert marker is granted once."""
    assert store.mark_once("alert:b:80", 3600)
    assert not store.mark_once("alert:b:80", 3600)
    assert store.mark_once("alert:b:100", 3600)


def _admit_many(
    store: Store, attempts: int, admitted: list[int], barrier: threading.Barrier
) -> None:
    barrier.wait()
    for _ in range(attempts):
        if store.admit(rid(), [one("hot", limit=100 * 7, amount=7)], LEASE).admitted:
            admitted.append(1)


def test_concurrent_threads_admit_exactly_the_limit(store_url: str) -> None:
    """1,000 admissions from 20 threads against room for exactly 100: exactly 100 pass."""
    store = open_store(store_url)
    admitted: list[int] = []
    barrier = threading.Barrier(20)
    threads = [
        threading.Thread(target=_admit_many, args=(store, 50, admitted, barrier)) for _ in range(20)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == 100
    assert store.read([("hot",)]) == [CounterState(0, 700)]
    store.close()


async def test_concurrent_tasks_admit_exactly_the_limit(store_url: str) -> None:
    """1,000 concurrent asyncio admissions against room for exactly 100: exactly 100 pass."""
    store = open_async_store(store_url)

    async def attempt() -> bool:
        result = await store.admit(rid(), [one("hot", limit=700, amount=7)], LEASE)
        return result.admitted

    results = await asyncio.gather(*(attempt() for _ in range(1000)))
    assert sum(results) == 100
    await store.close()


def _process_worker(url: str, attempts: int, queue: multiprocessing.Queue[int]) -> None:
    store = open_store(url)
    n = sum(
        store.admit(rid(), [one("hot", limit=700, amount=7)], LEASE).admitted
        for _ in range(attempts)
    )
    store.close()
    queue.put(n)


def test_concurrent_processes_admit_exactly_the_limit(shared_store_url: str) -> None:
    """1,000 admissions from 4 processes sharing one store: exactly 100 pass."""
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[int] = ctx.Queue()
    procs = [
        ctx.Process(target=_process_worker, args=(shared_store_url, 250, queue)) for _ in range(4)
    ]
    for p in procs:
        p.start()
    total = sum(queue.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    assert total == 100


def slot(limit: int = 2) -> Charge:
    return Charge(key="conc", window=("conc",), limit=limit, amount=1, on_expiry="release")


def test_release_on_expiry_frees_a_slot_without_spending(timed: Timed) -> None:
    """A concurrency slot whose holder died is freed at lease expiry, while the money is spent."""
    store, lapse = timed
    store.admit(rid(), [slot(), one(amount=40)], 0.2)
    lapse(0.3)
    assert store.expire() == 1
    assert store.read([("conc",), ("b:day",)]) == [CounterState(0, 0), CounterState(40, 0)]


def test_settle_after_expiry_of_a_slot_charges_only_the_actual(timed: Timed) -> None:
    """A late settle adds its actual to a released-on-expiry charge (expiry charged it nothing)."""
    store, lapse = timed
    r = rid()
    store.admit(r, [slot(), one(amount=40)], 0.2)
    lapse(0.3)
    store.expire()
    assert store.settle(r, [0, 15])
    assert store.read([("conc",), ("b:day",)]) == [CounterState(0, 0), CounterState(15, 0)]


def test_release_after_expiry_of_a_slot_gives_back_only_what_was_spent(timed: Timed) -> None:
    """A late release undoes the money charged at expiry and leaves the freed slot alone."""
    store, lapse = timed
    r = rid()
    store.admit(r, [slot(), one(amount=40)], 0.2)
    lapse(0.3)
    store.expire()
    assert store.release(r)
    assert store.read([("conc",), ("b:day",)]) == [CounterState(0, 0), CounterState(0, 0)]


def test_slots_limit_concurrent_holders(store: Store) -> None:
    """With two slots, a third concurrent holder is refused until one settles (actual 0)."""
    first, second = rid(), rid()
    store.admit(first, [slot()], LEASE)
    store.admit(second, [slot()], LEASE)
    assert not store.admit(rid(), [slot()], LEASE).admitted
    store.settle(first, [0])
    assert store.admit(rid(), [slot()], LEASE).admitted
