"""What only the Redis store promises: one round trip a step, server time, TTLs, clear failures."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
import redis.asyncio
from hypothesis import given, settings
from hypothesis import strategies as st

import costcap.stores.redis as redis_module
from costcap.errors import ConfigError, StoreUnavailable, UsageError
from costcap.stores import MAX_AMOUNT, Charge, CounterState, open_async_store, open_store
from costcap.stores.memory import TOMBSTONE_S, MemoryStore
from costcap.stores.redis import EXPIRE_BATCH, AsyncRedisStore, RedisStore
from tests.services import redis_url
from tests.stores.helpers import rid
from tests.waiting import lapse

LEASE = 60.0


def one(key: str = "b", limit: int = 100, amount: int = 10, *, ttl_s: int = 86400) -> Charge:
    return Charge(key=key, window=(key,), limit=limit, amount=amount, ttl_s=ttl_s)


def prefix_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["prefix"][0]


def base_of(url: str) -> str:
    return url.partition("?")[0]


@pytest.fixture
def url() -> Iterator[str]:
    """A fresh prefix; every key under it is deleted afterwards."""
    fresh = redis_url()
    yield fresh
    with redis.Redis.from_url(base_of(fresh)) as client:
        keys = list(client.scan_iter(match=f"{{{prefix_of(fresh)}}}:*", count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture
def raw(url: str) -> Iterator[redis.Redis]:
    """A plain client on the test database, to look at the keys the store wrote."""
    with redis.Redis.from_url(base_of(url)) as client:
        yield client


@pytest.fixture
def store(url: str) -> Iterator[RedisStore]:
    s = RedisStore.from_url(url)
    yield s
    s.close()


def key(url: str, kind: str, name: str = "") -> str:
    return f"{{{prefix_of(url)}}}:{kind}{name}"


def due_leases(store: RedisStore, url: str, count: int, amount: int) -> None:
    """``count`` reservations of ``amount`` on "b" whose leases have ended: admitted on a long
    lease (none can expire while the rest are admitted, however slow), then each cut to 10 ms
    and the server's clock waited past that."""
    ids = [rid() for _ in range(count)]
    for r in ids:
        store.admit(r, [one(limit=10**6, amount=amount)], LEASE)
    assert store.read([("b",)]) == [CounterState(0, count * amount)]  # none expired yet
    for r in ids:
        assert store.extend(r, 0.01)
    lapse(url, 0.05)


class CountingRedis(redis.Redis):
    """A client that records every command it sends (each is one round trip)."""

    def __init__(self, url: str) -> None:
        super().__init__(connection_pool=redis.ConnectionPool.from_url(url))
        self.auto_close_connection_pool = True
        self.sent: list[str] = []

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(str(args[0]))
        return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


class AsyncCountingRedis(redis.asyncio.Redis):
    def __init__(self, url: str) -> None:
        super().__init__(connection_pool=redis.asyncio.ConnectionPool.from_url(url))
        self.auto_close_connection_pool = True
        self.sent: list[str] = []

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(str(args[0]))
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_each_step_is_one_round_trip(url: str) -> None:
    """admit, settle, release, extend, expire, read and mark_once each send exactly one command."""
    client = CountingRedis(base_of(url))
    store = RedisStore(client, prefix=prefix_of(url))
    r1, r2 = rid(), rid()
    store.admit(r1, [one()], LEASE)  # warm up: loads the scripts on a server that lacks them
    store.settle(r1, [1])
    store.release(r1)
    store.extend(r1, LEASE)
    store.expire()
    store.read([("b",)])
    steps: list[Callable[[], object]] = [
        lambda: store.admit(r2, [one("a"), one("b")], LEASE),
        lambda: store.extend(r2, LEASE),
        lambda: store.read([("a", "b"), ("b",)]),
        store.expire,
        lambda: store.settle(r2, [3, 4]),
        lambda: store.release(r2),
        lambda: store.mark_once("m", 60),
    ]
    for step in steps:
        client.sent.clear()
        step()
        assert len(client.sent) == 1, client.sent
    store.close()


async def test_each_async_step_is_one_round_trip(url: str) -> None:
    """The asyncio store also sends one command per step."""
    client = AsyncCountingRedis(base_of(url))
    store = AsyncRedisStore(client, prefix=prefix_of(url))
    r = rid()
    await store.admit(rid(), [one()], LEASE)  # warm up the admit script
    await store.read([("b",)])
    client.sent.clear()
    assert (await store.admit(r, [one()], LEASE)).admitted
    assert await store.settle(r, [5])
    assert await store.read([("b",)]) == [CounterState(5, 10)]
    assert client.sent == ["EVALSHA"] * 3
    await store.close()


def test_scripts_are_reloaded_after_the_server_forgets_them(
    store: RedisStore, raw: redis.Redis
) -> None:
    """After SCRIPT FLUSH (a restart, a failover to a fresh server) every step still works."""
    r = rid()
    store.admit(rid(), [one()], LEASE)
    raw.script_flush("SYNC")
    assert store.admit(r, [one()], LEASE).admitted
    assert store.settle(r, [4])
    assert store.read([("b",)]) == [CounterState(4, 10)]


def test_unreachable_server_raises_store_unavailable() -> None:
    """A refused connection is a StoreUnavailable naming host:port, not a raw redis error."""
    port = free_port()
    store = open_store(f"redis://127.0.0.1:{port}/0?prefix=x")
    with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}") as caught:
        store.admit(rid(), [one()], LEASE)
    assert not isinstance(caught.value, redis.RedisError)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    store.close()


async def test_unreachable_server_raises_store_unavailable_async() -> None:
    """The asyncio store fails the same way."""
    port = free_port()
    store = open_async_store(f"redis://127.0.0.1:{port}/0?prefix=x")
    with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}"):
        await store.read([("b",)])
    with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}"):
        await store.mark_once("m", 60)
    await store.close()


def test_a_server_that_never_answers_times_out_as_store_unavailable() -> None:
    """A peer that accepts but never replies raises StoreUnavailable after socket_timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        store = open_store(f"redis://127.0.0.1:{port}/0?prefix=x&socket_timeout=0.3")
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}.*[Tt]imeout"):
            store.admit(rid(), [one()], LEASE)
        assert time.monotonic() - started < 3
        store.close()


def test_a_peer_that_is_not_redis_is_store_unavailable() -> None:
    """Something other than Redis on the port (here an HTTP-ish reply) is StoreUnavailable."""
    with socket.socket() as http:
        http.bind(("127.0.0.1", 0))
        http.listen()
        port = http.getsockname()[1]
        store = open_store(f"redis://127.0.0.1:{port}/0?prefix=x&socket_timeout=2")

        def answer() -> None:
            conn, _ = http.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

        server = threading.Thread(target=answer)
        server.start()
        with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}"):
            store.read([("b",)])
        server.join()
        store.close()


def test_counters_carry_the_charge_ttl(store: RedisStore, raw: redis.Redis, url: str) -> None:
    """A counter written by a charge expires ttl_s after the write."""
    store.admit(rid(), [one(ttl_s=1000)], LEASE)
    assert 990_000 < raw.pttl(key(url, "c:", "b")) <= 1_000_000


def test_a_shorter_ttl_never_shortens_a_counter(
    store: RedisStore, raw: redis.Redis, url: str
) -> None:
    """A later charge with a shorter ttl_s leaves the counter's longer TTL alone."""
    store.admit(rid(), [one(ttl_s=1000)], LEASE)
    r = rid()
    store.admit(r, [one(ttl_s=10)], LEASE)
    store.settle(r, [1])
    assert raw.pttl(key(url, "c:", "b")) > 900_000


def test_live_reservations_never_expire_but_tombstones_do(
    store: RedisStore, raw: redis.Redis, url: str
) -> None:
    """A live reservation has no TTL (spend is never lost); a charged one lives TOMBSTONE_S."""
    live, dead = rid(), rid()
    store.admit(live, [one()], LEASE)
    store.admit(dead, [one()], 0.05)
    lapse(url, 0.1)
    assert store.expire() == 1
    assert raw.pttl(key(url, "r:", live)) == -1
    assert TOMBSTONE_S * 1000 - 10_000 < raw.pttl(key(url, "r:", dead)) <= TOMBSTONE_S * 1000


def test_markers_carry_their_ttl(store: RedisStore, raw: redis.Redis, url: str) -> None:
    """mark_once sets its marker with the given TTL."""
    assert store.mark_once("alert:80", 120)
    assert 110 < raw.ttl(key(url, "m:", "alert:80")) <= 120


def test_lease_end_is_server_time(store: RedisStore, raw: redis.Redis, url: str) -> None:
    """The stored lease end is the server's TIME plus the lease."""
    r = rid()
    seconds, micros = raw.time()
    store.admit(r, [one()], 30.0)
    lease_until = int(raw.hget(key(url, "r:", r), "u") or 0)
    assert abs(lease_until - (seconds * 1000 + micros // 1000 + 30_000)) < 1000


def test_a_skewed_local_clock_does_not_move_expiry(
    store: RedisStore, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store reads no local clock: with time.time an hour off, leases still end on time."""
    assert not {"time", "datetime"} & set(vars(redis_module))
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600)
    store.admit(rid(), [one(amount=40)], 1.0)
    assert store.expire() == 0
    monkeypatch.setattr(time, "time", lambda: real() - 3600)
    lapse(url, 1.0)
    assert store.expire() == 1
    assert store.read([("b",)]) == [CounterState(40, 0)]


_DOOMED = textwrap.dedent(
    """
    import os, signal, sys
    from costcap.stores import Charge, open_store
    store = open_store(sys.argv[1])
    assert store.admit("doomed", [Charge("b", ("b",), 100, 40)], 0.5).admitted
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_killed_holder_is_charged_in_full_at_lease_end(store: RedisStore, url: str) -> None:
    """A process SIGKILLed while holding a reservation is charged in full when its lease ends."""
    done = subprocess.run([sys.executable, "-c", _DOOMED, url], timeout=60, check=False)
    assert done.returncode == -9
    assert store.read([("b",)]) == [CounterState(0, 40)]
    lapse(url, 0.5)  # the dead holder's lease of 0.5 s ends
    assert store.admit(rid(), [one(amount=1)], LEASE).states == (CounterState(40, 1),)
    assert store.settle("doomed", [25])  # a late settle from a survivor still corrects it
    assert store.read([("b",)]) == [CounterState(25, 1)]


def test_amounts_near_2_53_stay_exact(store: RedisStore, url: str) -> None:
    """Large integers survive every path (admit, expiry, late settle) without float formatting:
    amounts up to MAX_AMOUNT, and sums above it up to 2**53."""
    big = MAX_AMOUNT - 1
    r = rid()
    result = store.admit(r, [one(limit=MAX_AMOUNT, amount=big)], 0.05)
    assert result.states == (CounterState(0, big),)
    lapse(url, 0.1)
    assert store.expire() == 1
    assert store.read([("b",)]) == [CounterState(big, 0)]
    assert store.settle(r, [big - 12_345])
    assert store.read([("b",)]) == [CounterState(big - 12_345, 0)]
    for _ in range(8):  # soft charges past the limit: 9 * 10**15 - 12_346, just under 2**53
        s = rid()
        store.admit(s, [Charge("b", ("b",), 0, MAX_AMOUNT, hard=False)], LEASE)
        assert store.settle(s, [MAX_AMOUNT])
    assert store.read([("b",)]) == [CounterState(9 * MAX_AMOUNT - 12_346, 0)]


def test_a_settle_script_called_directly_checks_its_actuals_before_writing(
    store: RedisStore,
) -> None:
    """The settle script itself refuses an actual out of range before its first write, so a
    caller that skips the Python check cannot drop a reservation halfway."""
    r = rid()
    store.admit(r, [one("a", amount=3), one("b")], LEASE)
    keys = store._codec.reservation(r)
    for actual in (str(10**19), str(MAX_AMOUNT + 1), "-1", "1e3", ""):
        with pytest.raises(redis.ResponseError, match="COSTCAP_RANGE actual"):
            store._scripts["settle"](keys=keys, args=[r, 1, actual])
    assert store.read([("a",), ("b",)]) == [CounterState(0, 3), CounterState(0, 10)]
    assert store.release(r)
    assert store.read([("a",), ("b",)]) == [CounterState(0, 0), CounterState(0, 0)]


def test_an_admit_script_called_directly_checks_its_amounts_before_writing(
    store: RedisStore,
) -> None:
    """The admit script refuses an amount out of range before its first write (as UsageError
    through the store's own runner); nothing is reserved and the id stays free."""
    r = rid()
    charges = [one("a", amount=3), Charge("b", ("b",), MAX_AMOUNT, MAX_AMOUNT + 1)]
    keys, args = store._codec.admit(r, charges, LEASE)
    with pytest.raises(UsageError, match="amount 1000000000000001 is not a whole number"):
        store._run("admit", keys, args)
    assert store.read([("a",), ("b",)]) == [CounterState(0, 0), CounterState(0, 0)]
    assert store.admit(r, [one("a", amount=3)], LEASE).admitted


def test_admit_charges_at_most_one_batch_of_expired_leases(store: RedisStore, url: str) -> None:
    """Admission's expiry work is bounded; the rest stays counted as reserved until charged."""
    due_leases(store, url, EXPIRE_BATCH + 50, amount=1)
    result = store.admit(rid(), [one(limit=10**6, amount=1)], LEASE)
    assert result.states == (CounterState(EXPIRE_BATCH, 51),)
    assert store.read([("b",)]) == [CounterState(EXPIRE_BATCH + 50, 1)]


def test_expire_charges_every_due_lease(store: RedisStore, url: str) -> None:
    """expire() loops over batches until no expired lease is left."""
    due_leases(store, url, 2 * EXPIRE_BATCH + 30, amount=2)
    assert store.expire() == 2 * EXPIRE_BATCH + 30
    assert store.expire() == 0


def test_reservation_entries_carry_the_on_expiry_flag(
    store: RedisStore, raw: redis.Redis, url: str
) -> None:
    """Each entry of ``d`` is [counter key, amount, ttl ms, 1 = spend / 0 = release]."""
    r = rid()
    slot = Charge("conc", ("conc",), 5, 1, on_expiry="release")
    store.admit(r, [one(amount=7, ttl_s=60), slot], LEASE)
    data = json.loads(raw.hget(key(url, "r:", r), "d") or b"")
    counter = key(url, "c:")
    assert data == [[f"{counter}b", "7", "60000", 1], [f"{counter}conc", "1", "2764800000", 0]]


def _write_old_format(raw: redis.Redis, url: str, r: str, entries: list[tuple[str, int]]) -> None:
    """A reservation as the previous version wrote it: 3-element entries, lease already over."""
    data = [[key(url, "c:", name), str(amount), "86400000"] for name, amount in entries]
    lease_until = 1_000  # long past on the server's clock
    for name, amount in entries:
        raw.hincrby(key(url, "c:", name), "r", amount)
    raw.hset(key(url, "r:", r), mapping={"d": json.dumps(data), "u": lease_until, "c": "0"})
    raw.zadd(key(url, "leases"), {r: lease_until})


def test_an_old_format_reservation_still_expires_as_spend(
    store: RedisStore, raw: redis.Redis, url: str
) -> None:
    """A reservation written before the flag existed (rolling upgrade) is charged in full."""
    r = rid()
    _write_old_format(raw, url, r, [("b", 40), ("conc", 1)])
    assert store.expire() == 1
    assert store.read([("b",), ("conc",)]) == [CounterState(40, 0), CounterState(1, 0)]
    assert store.settle(r, [25, 0])  # a late settle corrects from the full charge
    assert store.read([("b",), ("conc",)]) == [CounterState(25, 0), CounterState(0, 0)]


def test_an_old_format_tombstone_is_released_in_full(
    store: RedisStore, raw: redis.Redis, url: str
) -> None:
    """A late release of an old-format reservation gives back everything expiry charged."""
    r = rid()
    _write_old_format(raw, url, r, [("b", 40)])
    assert store.admit(rid(), [one(amount=1)], LEASE).states == (CounterState(40, 1),)
    assert store.release(r)
    assert store.read([("b",)]) == [CounterState(0, 1)]


def test_wrong_number_of_actuals_changes_nothing(store: RedisStore) -> None:
    """Settling with the wrong number of actuals raises and leaves the reservation as it was."""
    r = rid()
    store.admit(r, [one("a"), one("b")], LEASE)
    with pytest.raises(ValueError, match="1 actuals for 2 charges"):
        store.settle(r, [5])
    assert store.read([("a",), ("b",)]) == [CounterState(0, 10), CounterState(0, 10)]
    assert store.settle(r, [5, 6])


def test_prefix_namespaces_every_key(url: str, raw: redis.Redis) -> None:
    """Stores with different prefixes never see each other; all keys sit under the hash tag."""
    other = redis_url()
    mine, theirs = RedisStore.from_url(url), RedisStore.from_url(other)
    mine.admit(rid(), [one(amount=7)], LEASE)
    mine.mark_once("m", 60)
    assert theirs.read([("b",)]) == [CounterState(0, 0)]
    tag = f"{{{prefix_of(url)}}}:"
    assert {k.decode() for k in raw.scan_iter(match=f"{tag}*")} >= {f"{tag}c:b", f"{tag}m:m"}
    assert all(k.startswith(tag.encode()) for k in raw.scan_iter(match=f"*{prefix_of(url)}*"))
    mine.close()
    theirs.close()


def test_url_options_reach_the_pool_and_prefix_does_not(url: str) -> None:
    """Query parameters other than prefix configure redis-py; prefix is stripped from them."""
    store = RedisStore.from_url(f"{url}&socket_timeout=1.5")
    kwargs = store.client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 1.5
    assert kwargs["socket_connect_timeout"] == 2.0
    assert "prefix" not in kwargs
    store.close()


@pytest.mark.parametrize("bad", ["", "{x}", "a}b"])
def test_a_prefix_that_breaks_the_hash_tag_is_refused(bad: str) -> None:
    """An empty prefix or one with braces is a ConfigError."""
    with pytest.raises(ConfigError, match="prefix"):
        RedisStore.from_url(f"redis://127.0.0.1:6379/15?prefix={bad}")


_KEYS = ("a", "b", "c")
_IDS = ("r1", "r2", "r3")  # few ids, so calls often meet the same reservation
# A lease of 0 ends at once: the next admit, read or expire (in both stores) expires it, so the
# sequences exercise expiry, tombstones and late corrections without depending on timing.
_LEASES = st.sampled_from((LEASE, 0.0))
_charges = st.lists(
    st.builds(
        lambda key, extra, limit, amount, hard, on_expiry: Charge(
            key, (key, *extra), limit, amount, hard, on_expiry=on_expiry
        ),
        st.sampled_from(_KEYS),
        st.lists(st.sampled_from(_KEYS), max_size=2).map(tuple),
        st.integers(0, 400),
        st.integers(0, 60),
        st.booleans(),
        st.sampled_from(("spend", "release")),
    ),
    max_size=3,
)
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("admit"), st.sampled_from(_IDS), _charges, _LEASES),
        st.tuples(st.just("admit"), st.sampled_from(_IDS), _charges, _LEASES),
        st.tuples(
            st.just("settle"), st.sampled_from(_IDS), st.lists(st.integers(0, 80), max_size=3)
        ),
        st.tuples(st.just("release"), st.sampled_from(_IDS)),
        st.tuples(st.just("extend"), st.sampled_from(_IDS), _LEASES),
        st.tuples(st.just("expire")),
        st.tuples(st.just("read"), st.lists(st.lists(st.sampled_from(_KEYS)).map(tuple))),
        st.tuples(st.just("mark_once"), st.sampled_from(("m1", "m2")), st.just(60)),
    ),
    min_size=5,
    max_size=40,
)


def _apply(store: object, op: tuple[Any, ...]) -> object:
    try:
        return getattr(store, op[0])(*op[1:])
    except ValueError as exc:
        return ("ValueError", str(exc))


@settings(max_examples=150, deadline=None)
@given(ops=_ops)
def test_answers_exactly_as_the_memory_store(ops: list[tuple[Any, ...]]) -> None:
    """On any sequence of calls, ended leases included, every answer equals the memory store's."""
    fresh = redis_url()
    reference, store = MemoryStore(), RedisStore.from_url(fresh)
    for op in ops:
        assert _apply(store, op) == _apply(reference, op), op
    windows = [(k,) for k in _KEYS]
    assert store.read(windows) == reference.read(windows)
    keys = list(store.client.scan_iter(match=f"{{{prefix_of(fresh)}}}:*", count=1000))
    if keys:
        store.client.delete(*keys)
    store.close()
