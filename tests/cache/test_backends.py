"""The cache backend protocol, the same on memory, SQLite and Redis (``cache_url``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from costcap.cache import CacheBackend, CacheUnavailable, open_cache_backend
from costcap.cache.backends.memory import MemoryCacheBackend
from costcap.cache.backends.sqlite import SQLiteCacheBackend
from costcap.errors import ConfigError
from tests.waiting import wait_for


class ManualClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def backend(cache_url: str) -> Iterator[CacheBackend]:
    opened = open_cache_backend(cache_url)
    yield opened
    opened.close()


def test_a_value_put_is_got_back(backend: CacheBackend) -> None:
    assert backend.put("k", b"\x00answer\xff", 60)
    assert backend.get("k") == b"\x00answer\xff"


def test_an_absent_key_is_none(backend: CacheBackend) -> None:
    assert backend.get("nothing-here") is None


def test_put_replaces(backend: CacheBackend) -> None:
    backend.put("k", b"one", 60)
    backend.put("k", b"two", 60)
    assert backend.get("k") == b"two"


def test_delete_removes(backend: CacheBackend) -> None:
    backend.put("k", b"one", 60)
    backend.delete("k")
    assert backend.get("k") is None


def test_a_value_past_its_time_to_live_is_gone(backend: CacheBackend) -> None:
    """Each backend's own clock: a value stored for 50 ms is gone once that has passed."""
    backend.put("short", b"x", 0.05)
    backend.put("long", b"y", 600)
    wait_for(lambda: backend.get("short") is None)
    assert backend.get("long") == b"y"


def test_one_owner_holds_a_lease_at_a_time(backend: CacheBackend) -> None:
    assert backend.lease("k", "a", 60)
    assert not backend.lease("k", "b", 60)
    assert backend.lease("k", "a", 60)  # renewed by its owner


def test_a_released_lease_can_be_taken(backend: CacheBackend) -> None:
    backend.lease("k", "a", 60)
    backend.release("k", "a")
    assert backend.lease("k", "b", 60)


def test_only_the_owner_releases_a_lease(backend: CacheBackend) -> None:
    backend.lease("k", "a", 60)
    backend.release("k", "b")
    assert not backend.lease("k", "b", 60)


def test_a_lease_ends_when_its_time_runs_out(backend: CacheBackend) -> None:
    backend.lease("k", "a", 0.05)
    wait_for(lambda: backend.lease("k", "b", 60))


def test_leases_and_values_are_apart(backend: CacheBackend) -> None:
    backend.lease("k", "a", 60)
    assert backend.get("k") is None
    backend.put("k", b"v", 60)
    assert not backend.lease("k", "b", 60)


# -- byte budgets (memory and SQLite; Redis's is its maxmemory) ------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=["memory", "sqlite"])
def small(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> Iterator[MemoryCacheBackend | SQLiteCacheBackend]:
    """A backend holding at most 100 bytes of values, on a clock the test moves."""
    opened: MemoryCacheBackend | SQLiteCacheBackend
    if request.param == "memory":
        opened = MemoryCacheBackend(max_bytes=100, clock=clock)
    else:
        opened = SQLiteCacheBackend(str(tmp_path / "small.db"), max_bytes=100, clock=clock)
    yield opened
    opened.close()


Small = MemoryCacheBackend | SQLiteCacheBackend


def test_past_the_byte_budget_the_least_recently_used_go(small: Small, clock: ManualClock) -> None:
    for name in ("a", "b", "c"):
        small.put(name, bytes(40), 6000)
        clock.now += 120  # SQLite updates a value's time of use at most once a minute
    # a (40) + b (40) fit; c (40) made 120 > 100: a, the least recently used, went
    assert small.get("a") is None
    assert small.get("b") == bytes(40)
    assert small.get("c") == bytes(40)


def test_using_a_value_keeps_it(small: Small, clock: ManualClock) -> None:
    small.put("a", bytes(40), 600)
    clock.now += 120
    small.put("b", bytes(40), 600)
    clock.now += 120
    assert small.get("a") is not None  # a is now the most recently used
    clock.now += 120
    small.put("c", bytes(40), 600)
    assert small.get("b") is None
    assert small.get("a") is not None


def test_a_value_larger_than_the_budget_is_not_kept(small: Small) -> None:
    small.put("a", bytes(40), 600)
    assert not small.put("big", bytes(101), 600)
    assert small.get("big") is None
    assert small.get("a") == bytes(40)


def test_the_budget_counts_replaced_and_deleted_values(small: Small) -> None:
    small.put("a", bytes(60), 600)
    small.put("a", bytes(10), 600)  # replaced: 10 bytes held, not 70
    small.put("b", bytes(80), 600)  # 90 <= 100: both kept
    assert small.get("a") == bytes(10)
    small.delete("b")
    small.put("c", bytes(90), 600)  # 100 <= 100
    assert small.get("a") == bytes(10)
    assert small.size_bytes == 100


def test_expired_values_stop_counting(small: Small, clock: ManualClock) -> None:
    small.put("old", bytes(60), 10)
    clock.now += 11
    small.put("new", bytes(60), 600)  # the expired 60 bytes make room
    assert small.get("new") == bytes(60)
    assert small.size_bytes == 60


# -- SQLite across instances and failures -----------------------------------------------------


def test_sqlite_values_outlive_the_backend(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kept.db'}"
    first = open_cache_backend(url)
    first.put("k", b"kept", 600)
    first.close()
    second = open_cache_backend(url)
    assert second.get("k") == b"kept"
    second.close()


def test_a_sqlite_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database file" * 100)
    with pytest.raises(CacheUnavailable):
        SQLiteCacheBackend(str(path))


def test_a_closed_sqlite_backend_is_unavailable(tmp_path: Path) -> None:
    opened = SQLiteCacheBackend(str(tmp_path / "c.db"))
    opened.close()
    with pytest.raises(CacheUnavailable):
        opened.get("k")


def test_a_redis_that_is_down_is_unavailable() -> None:
    down = open_cache_backend("redis://127.0.0.1:1/0")
    with pytest.raises(CacheUnavailable):
        down.get("k")
    with pytest.raises(CacheUnavailable):
        down.put("k", b"v", 1)


# -- URLs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("memcached://localhost", "unknown scheme"),
        ("memory://somewhere", "memory cache takes only"),
        ("memory://?max_bytes=lots", "max_bytes must be a whole number"),
        ("sqlite://host/cache.db", "use sqlite:///relative.db"),
        ("sqlite:///cache.db?size=1", "unknown options"),
        ("sqlite:///cache.db?max_bytes=0", "above 0"),
        ("redis://localhost:99999/0", "Port out of range"),
        ("redis://localhost/0?retry_on_timeout=true", "never retries"),
        ("http://[::1", "cache URL"),
    ],
)
def test_a_cache_url_that_cannot_work_is_a_config_error(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        open_cache_backend(url)


def test_a_memory_url_sets_the_byte_budget() -> None:
    opened = open_cache_backend("memory://?max_bytes=1234")
    assert isinstance(opened, MemoryCacheBackend)
    assert opened.max_bytes == 1234
