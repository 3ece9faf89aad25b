"""KeyRing: the gateway's cached lookup, on a SQLite store that counts (and can hold back) its
lookups. Time moves only when the test says (an injected clock, no sleeps)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from costcap.errors import ConfigError, StoreUnavailable
from costcap.gateway.keys import KeyRing, VirtualKey, parse_key_spec
from costcap.gateway.keys._sqlite import SQLiteKeyStore
from tests.clocks import Clock
from tests.gateway.keys.conftest import START


class CountingStore(SQLiteKeyStore):
    """A real SQLite key store whose lookups are counted; ``gate`` (when set) holds each lookup
    until it opens, ``fail`` makes them raise, ``fail_once`` the next one."""

    def __init__(self, path: Path, clock: Clock) -> None:
        super().__init__(path, clock=clock)
        self.asked = 0
        self.gate: threading.Event | None = None
        self.fail: Exception | None = None
        self.fail_once: BaseException | None = None

    def find_by_hash(self, secret_hash: str) -> VirtualKey | None:
        self.asked += 1
        if self.gate is not None:
            assert self.gate.wait(10)
        if self.fail is not None:
            raise self.fail
        if self.fail_once is not None:
            error, self.fail_once = self.fail_once, None
            raise error
        return super().find_by_hash(secret_hash)


@pytest.fixture
def counting(tmp_path: Path, clock: Clock) -> Iterator[CountingStore]:
    store = CountingStore(tmp_path / "keys.db", clock)
    yield store
    store.close()


@pytest.fixture
def made(counting: CountingStore) -> tuple[VirtualKey, str]:
    return counting.create(parse_key_spec(user="alice", expires="10s", now=START))


@pytest.fixture
def ring(counting: CountingStore, clock: Clock) -> KeyRing:
    return KeyRing(counting, ttl_s=1.0, clock=clock)


Tasks = list[asyncio.Task[VirtualKey | None]]


async def held(ring: KeyRing, secret: str, count: int) -> tuple[Tasks, threading.Event]:
    """``count`` requests for ``secret`` started one after the other while the store holds its
    lookups back until the gate returned opens: each is then waiting, on the store or on the
    lookup in flight."""
    store = ring.store
    assert isinstance(store, CountingStore)
    gate = store.gate = threading.Event()
    tasks = []
    for _ in range(count):
        tasks.append(asyncio.create_task(ring.find(secret)))
        await asyncio.sleep(0)
    return tasks, gate


async def test_a_secret_is_looked_up_once_per_ttl(
    ring: KeyRing, counting: CountingStore, made: tuple[VirtualKey, str], clock: Clock
) -> None:
    key, secret = made
    assert await ring.find(secret) == key
    clock.advance(0.999)
    assert await ring.find(secret) == key
    assert counting.asked == 1
    clock.advance(0.001)
    assert await ring.find(secret) == key
    assert counting.asked == ring.lookups == 2


async def test_a_revocation_reaches_the_ring_within_ttl(
    ring: KeyRing, counting: CountingStore, made: tuple[VirtualKey, str], clock: Clock
) -> None:
    key, secret = made
    assert await ring.find(secret) == key
    counting.revoke(key.id)
    clock.advance(0.5)
    assert await ring.find(secret) == key  # still cached: the documented latency
    clock.advance(0.5)
    assert await ring.find(secret) is None


async def test_expiry_is_exact_while_the_key_is_cached(
    counting: CountingStore, made: tuple[VirtualKey, str], clock: Clock
) -> None:
    """The key expires 10 s after START; a minute-long cache does not stretch that."""
    ring = KeyRing(counting, ttl_s=60.0, clock=clock)
    key, secret = made
    assert await ring.find(secret) == key
    clock.now = START + timedelta(seconds=10, microseconds=-1)
    assert await ring.find(secret) == key
    clock.now = START + timedelta(seconds=10)
    assert await ring.find(secret) is None
    assert counting.asked == 1


async def test_lookup_gives_a_key_that_is_not_usable_so_refusals_can_say_why(
    ring: KeyRing, counting: CountingStore, made: tuple[VirtualKey, str]
) -> None:
    key, secret = made
    counting.revoke(key.id)
    found = await ring.lookup(secret)
    assert found is not None
    assert found.id == key.id
    assert found.revoked_at == START
    assert await ring.find(secret) is None
    assert await ring.lookup("sk-proj-abc") is None
    assert counting.asked == 1


async def test_unknown_secrets_are_cached_too(ring: KeyRing, counting: CountingStore) -> None:
    unknown = "sk-cc-" + "x" * 43
    assert await ring.find(unknown) is None
    assert await ring.find(unknown) is None
    assert counting.asked == 1


@pytest.mark.parametrize("text", ["", "sk-proj-abc", "Bearer sk-cc-x", "sk-cc-" + "a" * 300,
                                  "sk-cc-é"])  # fmt: skip
async def test_text_that_is_no_secret_is_not_looked_up(
    ring: KeyRing, counting: CountingStore, text: str
) -> None:
    assert await ring.find(text) is None
    assert counting.asked == 0


async def test_concurrent_misses_share_one_lookup(
    ring: KeyRing, counting: CountingStore, made: tuple[VirtualKey, str]
) -> None:
    """20 requests with the same secret while its lookup is held back: one lookup for all."""
    key, secret = made
    tasks, gate = await held(ring, secret, 20)
    gate.set()
    assert await asyncio.gather(*tasks) == [key] * 20
    assert counting.asked == 1


async def test_a_failed_lookup_raises_for_every_waiter_and_is_not_cached(
    ring: KeyRing, counting: CountingStore, made: tuple[VirtualKey, str]
) -> None:
    key, secret = made
    counting.fail = StoreUnavailable("the database is down")
    tasks, gate = await held(ring, secret, 3)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert counting.asked == 1
    counting.fail = None
    assert await ring.find(secret) == key
    assert counting.asked == 2


async def test_a_cancelled_request_still_answers_its_waiters(
    ring: KeyRing, counting: CountingStore, made: tuple[VirtualKey, str]
) -> None:
    """The request that started a lookup is cancelled while the lookup runs: the lookup
    finishes in its thread and the waiting request gets the key from it."""
    key, secret = made
    (first, second), gate = await held(ring, secret, 2)
    first.cancel()
    gate.set()
    assert await second == key
    with pytest.raises(asyncio.CancelledError):
        await first
    assert counting.asked == 1


class Halt(BaseException):
    """Ends a lookup the way a cancellation can: not an Exception, nothing to hand on."""


async def test_a_lookup_ended_without_an_answer_leaves_its_waiters_to_look_again(
    ring: KeyRing, counting: CountingStore, made: tuple[VirtualKey, str]
) -> None:
    key, secret = made
    counting.fail_once = Halt()
    (first, second), gate = await held(ring, secret, 2)
    gate.set()
    with pytest.raises(Halt):
        await first
    assert await second == key
    assert counting.asked == 2


async def test_the_cache_is_bounded(counting: CountingStore, clock: Clock) -> None:
    """max_entries=2: a third secret pushes out the least recently used one."""
    ring = KeyRing(counting, max_entries=2, clock=clock)
    secrets = [counting.create(parse_key_spec(user=u))[1] for u in "abc"]
    for secret in secrets:
        await ring.find(secret)
    assert len(ring) == 2
    await ring.find(secrets[2])
    await ring.find(secrets[1])
    assert counting.asked == 3
    await ring.find(secrets[0])  # pushed out: asked again
    assert counting.asked == 4


async def test_forget_drops_cached_answers(
    ring: KeyRing, counting: CountingStore, made: tuple[VirtualKey, str]
) -> None:
    key, secret = made
    await ring.find(secret)
    counting.revoke(key.id)
    ring.forget(secret)
    assert await ring.find(secret) is None
    ring.forget()
    assert len(ring) == 0


@pytest.mark.parametrize(("options", "message"), [
    ({"ttl_s": -1}, "ttl_s must be a number of seconds >= 0"),
    ({"ttl_s": float("inf")}, "ttl_s"), ({"ttl_s": True}, "ttl_s"),
    ({"max_entries": 0}, "max_entries must be 1 or more"),
])  # fmt: skip
def test_bad_settings_are_config_errors(
    counting: CountingStore, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        KeyRing(counting, **options)  # type: ignore[arg-type]
