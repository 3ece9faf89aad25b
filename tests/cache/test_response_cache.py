"""ResponseCache / AsyncResponseCache: hits, misses, bypasses, and one provider call for many
identical requests at once — across threads, tasks and processes."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from costcap.cache import (
    AsyncResponseCache,
    CachedAnswer,
    CachePolicy,
    CacheRequest,
    FeatureCache,
    Lookup,
    ResponseCache,
)
from costcap.cache.backends.memory import MemoryCacheBackend

BODY: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "What is 2 + 2?"}],
    "temperature": 0,
    "max_completion_tokens": 100,
}
ANSWER = CachedAnswer(shape="json", body=b'{"answer": 4}', model="gpt-4o-mini", cost_pico=7_000)


def ask(body: dict[str, Any] | None = None, **fields: Any) -> CacheRequest:
    where: dict[str, Any] = {"provider": "openai", "endpoint": "chat.completions",
                             "feature": "faq"} | fields  # fmt: skip
    return CacheRequest(body=BODY if body is None else body, **where)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- one request ---------------------------------------------------------------------------------


def test_a_stored_answer_is_a_hit(cache_url: str) -> None:
    cache = ResponseCache(cache_url)
    first = cache.lookup(ask())
    assert (first.status, first.owner is not None) == ("miss", True)
    assert cache.store(first, ANSWER)
    second = cache.lookup(ask())
    assert (second.status, second.answer) == ("hit", ANSWER)
    stats = cache.stats
    assert (stats.hits, stats.misses, stats.stored) == (1, 1, 1)
    cache.close()


def test_an_abandoned_miss_stores_nothing(cache_url: str) -> None:
    cache = ResponseCache(cache_url)
    first = cache.lookup(ask())
    cache.abandon(first)
    assert cache.lookup(ask()).status == "miss"
    cache.close()


def test_ending_a_lookup_twice_does_nothing(cache_url: str) -> None:
    cache = ResponseCache(cache_url)
    first = cache.lookup(ask())
    cache.abandon(first)
    assert not cache.store(first, ANSWER)
    cache.close()


@pytest.mark.parametrize(
    ("request_", "policy", "reason"),
    [
        (ask(), CachePolicy(enabled=False), "off"),
        (ask(), CachePolicy(features={"faq": FeatureCache(enabled=False)}), "off"),
        (ask({**BODY, "temperature": 0.7}), CachePolicy(), "not deterministic"),
        (ask({k: v for k, v in BODY.items() if k != "temperature"}), CachePolicy(),
         "not deterministic"),
        (ask(write=False, read=False), CachePolicy(), "no-store"),
        (ask({**BODY, "extra": object()}), CachePolicy(), "not canonical"),
    ],
    ids=["off", "off for the feature", "warm", "default temperature", "no-store", "odd value"],
)  # fmt: skip
def test_a_request_the_cache_may_not_answer_is_a_bypass(
    request_: CacheRequest, policy: CachePolicy, reason: str
) -> None:
    cache = ResponseCache("memory://", policy=policy)
    lookup = cache.lookup(request_)
    assert lookup.status == "bypass"
    assert (lookup.reason or "").startswith(reason)
    assert cache.stats.bypasses == 1


def test_always_caches_a_request_that_is_not_deterministic() -> None:
    cache = ResponseCache("memory://", policy=CachePolicy(mode="always"))
    warm = {**BODY, "temperature": 0.7}
    cache.store(cache.lookup(ask(warm)), ANSWER)
    assert cache.lookup(ask(warm)).status == "hit"


def test_no_cache_asks_the_provider_and_stores_its_answer() -> None:
    cache = ResponseCache("memory://")
    cache.store(cache.lookup(ask()), ANSWER)
    fresh = CachedAnswer(shape="json", body=b'{"answer": "four"}', model="gpt-4o-mini",
                         cost_pico=8_000)  # fmt: skip
    refresh = cache.lookup(ask(read=False))
    assert (refresh.status, refresh.reason) == ("bypass", "no-cache")
    assert cache.store(refresh, fresh)
    assert cache.lookup(ask()).answer == fresh


def test_an_answer_above_the_entry_size_is_not_stored() -> None:
    cache = ResponseCache("memory://", policy=CachePolicy(max_entry_bytes=64))
    big = CachedAnswer(shape="json", body=bytes(64), model="gpt-4o-mini", cost_pico=1)
    assert not cache.store(cache.lookup(ask()), big)
    assert cache.lookup(ask()).status == "miss"
    assert cache.stats.too_large == 1


def test_a_stream_and_a_json_answer_are_kept_apart() -> None:
    cache = ResponseCache("memory://")
    cache.store(cache.lookup(ask()), ANSWER)
    assert cache.lookup(ask(shape="sse")).status == "miss"


@pytest.mark.parametrize(
    ("namespace", "other", "shared"),
    [
        ("feature", {"feature": "chat"}, False),
        ("feature", {"user_id": "bob"}, True),
        ("user", {"user_id": "bob"}, False),
        ("user", {"api_key": "k2"}, True),
        ("api_key", {"api_key": "k2"}, False),
        ("shared", {"feature": "chat", "user_id": "bob"}, True),
    ],
)
def test_the_namespace_decides_who_shares_an_entry(
    namespace: str, other: dict[str, Any], shared: bool
) -> None:
    cache = ResponseCache("memory://", policy=CachePolicy(namespace=namespace))  # type: ignore[arg-type]
    cache.store(cache.lookup(ask(user_id="alice", api_key="k1")), ANSWER)
    asked = {"user_id": "alice", "api_key": "k1"} | other
    assert cache.lookup(ask(**asked)).hit is shared


def test_an_entry_expires_after_its_time_to_live() -> None:
    clock = Clock()
    cache = ResponseCache(MemoryCacheBackend(clock=clock), policy=CachePolicy(ttl_s=60))
    cache.store(cache.lookup(ask()), ANSWER)
    clock.now += 59
    assert cache.lookup(ask()).hit
    clock.now += 2
    assert cache.lookup(ask()).status == "miss"


def test_a_feature_ttl_applies_to_its_entries() -> None:
    clock = Clock()
    policy = CachePolicy(ttl_s=3600, features={"faq": FeatureCache(ttl_s=10)})
    cache = ResponseCache(MemoryCacheBackend(clock=clock), policy=policy)
    cache.store(cache.lookup(ask()), ANSWER)
    clock.now += 11
    assert cache.lookup(ask()).status == "miss"


def test_a_corrupt_entry_is_dropped_and_asked_again(cache_url: str) -> None:
    cache = ResponseCache(cache_url)
    lookup = cache.lookup(ask())
    assert lookup.key is not None
    cache.abandon(lookup)
    cache.backend.put(lookup.key, b"ccr1 but not really an entry", 60)
    again = cache.lookup(ask())
    assert again.status == "miss"
    assert cache.stats.corrupt == 1
    assert cache.backend.get(lookup.key) is None  # dropped
    cache.store(again, ANSWER)
    assert cache.lookup(ask()).answer == ANSWER
    cache.close()


def test_a_backend_that_is_down_never_fails_a_lookup() -> None:
    cache = ResponseCache("redis://127.0.0.1:1/0")
    lookup = cache.lookup(ask())
    assert (lookup.status, lookup.owner) == ("miss", None)
    assert not cache.store(lookup, ANSWER)
    errors = cache.stats.errors
    assert errors >= 1
    assert cache.lookup(ask()).status == "miss"  # stepped aside: not asked again at once
    assert cache.stats.errors == errors


# -- many identical requests at once -------------------------------------------------------------


def answer_all(cache: ResponseCache, callers: int, calls: list[int], hold_s: float) -> list[Lookup]:
    """``callers`` threads ask at once; a miss that leads "calls the provider" (counted in
    ``calls``), taking ``hold_s``, then stores its answer."""
    start = threading.Barrier(callers)
    results: list[Lookup] = []
    lock = threading.Lock()

    def caller() -> None:
        start.wait()
        lookup = cache.lookup(ask())
        if not lookup.hit:
            with lock:
                calls.append(1)
            time.sleep(hold_s)  # the provider's answer takes a while
            cache.store(lookup, ANSWER)
        with lock:
            results.append(lookup)

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_identical_misses_in_threads_make_one_provider_call(cache_url: str) -> None:
    cache = ResponseCache(cache_url)
    calls: list[int] = []
    results = answer_all(cache, 100, calls, hold_s=0.2)
    assert len(calls) == 1
    assert sum(r.hit for r in results) == 99
    assert all(r.answer == ANSWER for r in results if r.hit)
    assert cache.stats.waits >= 1
    cache.close()


def test_waiters_go_on_when_the_leader_gives_up(cache_url: str) -> None:
    """The leader's call fails: one waiter leads next, and its answer serves the rest."""
    cache = ResponseCache(cache_url)
    first = cache.lookup(ask())
    calls: list[int] = []
    done: list[list[Lookup]] = []
    thread = threading.Thread(target=lambda: done.append(answer_all(cache, 20, calls, 0.1)))
    thread.start()
    while cache.stats.waits == 0:  # the others are waiting on the leader
        time.sleep(0.001)
    cache.abandon(first)
    thread.join()
    assert len(calls) == 1
    assert sum(r.hit for r in done[0]) == 19
    cache.close()


def test_a_waiter_stops_waiting_after_wait_s() -> None:
    cache = ResponseCache("memory://", policy=CachePolicy(wait_s=0.05))
    leader = cache.lookup(ask())  # never ends
    assert leader.owner is not None
    waiter = cache.lookup(ask())
    assert (waiter.status, waiter.owner) == ("miss", None)
    assert cache.stats.wait_timeouts == 1


def test_identical_misses_in_tasks_make_one_provider_call(cache_url: str) -> None:
    async def run() -> tuple[int, list[Lookup]]:
        cache = AsyncResponseCache(cache_url)
        calls = 0

        async def caller() -> Lookup:
            nonlocal calls
            lookup = await cache.lookup(ask())
            if not lookup.hit:
                calls += 1
                await asyncio.sleep(0.2)  # the provider's answer takes a while
                await cache.store(lookup, ANSWER)
            return lookup

        results = await asyncio.gather(*(caller() for _ in range(100)))
        await cache.close()
        return calls, list(results)

    calls, results = asyncio.run(run())
    assert calls == 1
    assert sum(r.hit for r in results) == 99


def test_an_async_leader_cancelled_lets_the_waiters_go_on() -> None:
    async def run() -> Lookup:
        cache = AsyncResponseCache("memory://")
        first = await cache.lookup(ask())
        waiter = asyncio.create_task(cache.lookup(ask()))
        await asyncio.sleep(0)
        await cache.abandon(first)
        return await asyncio.wait_for(waiter, 5)

    lookup = asyncio.run(run())
    assert (lookup.status, lookup.owner is not None) == ("miss", True)


# -- processes -------------------------------------------------------------------------------------


def _process(url: str, calls_file: str, start_at: float, callers: int) -> None:
    """One process of the multi-process test: ``callers`` threads, a shared cache."""
    cache = ResponseCache(url)
    while time.time() < start_at:  # the processes start together
        time.sleep(0.001)
    calls: list[int] = []
    answer_all(cache, callers, calls, hold_s=0.5)
    if calls:
        with open(calls_file, "a") as out:
            out.write(f"{os.getpid()}\n" * len(calls))
    cache.close()


def test_identical_misses_in_three_processes_make_one_provider_call(
    shared_cache_url: str, tmp_path: Path
) -> None:
    calls_file = tmp_path / "calls.txt"
    calls_file.touch()
    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 3.0  # past the children's start-up
    children = [
        context.Process(target=_process, args=(shared_cache_url, str(calls_file), start_at, 20))
        for _ in range(3)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
    assert [child.exitcode for child in children] == [0, 0, 0]
    assert len(calls_file.read_text().split()) == 1
