"""The response cache: a lookup per backend, what the cache adds to a miss, what a hit costs
beside the bare SDK call it replaces, and the saving on a workload with a known repeat rate.

    .venv/bin/python benchmarks/bench_cache.py [--calls N] [--repeat R] [--skip-redis]

1. **lookups** — ``ResponseCache.lookup`` of a stored answer (a hit), and lookup + store of a new
   one (a miss, as a call leading it would), on ``memory://``, SQLite (a file in /tmp) and Redis
   (127.0.0.1:6379): p50 µs over ``--calls`` operations, median of ``--repeat`` rounds.
2. **in process** — OpenAI chat, sync, plain and streamed (20 tokens), answers from an
   ``httpx2.MockTransport`` with the fake provider's bodies (no socket: the differences are
   costcap's work). Clients take turns call by call (the order rotates): the bare SDK; ``wrap``
   without a cache; ``wrap`` with a memory cache that every call misses (each question new,
   temperature 0: the cache keys it, leads it, stores its answer); ``wrap`` with a cache every
   call hits (one question, temperature 0) on memory, SQLite and Redis. Each guard runs on
   ``memory://`` with a budget and a real SQLite ledger, as in ``bench_wrap.py``. "added" is
   the p50 of each turn's difference from its bare call; figures are medians over rounds.
3. **over HTTP** — the same, sync chat, against the fake provider in a separate process (its
   own core): the bare SDK call a hit replaces, beside a memory hit (which sends nothing).
4. **saving** — 2,000 calls through ``wrap`` with a memory cache, 600 of which repeat an earlier
   question (a seeded shuffle; every call has the same token counts, so each costs the same):
   the ledger's saved / (spent + saved) beside the repeat rate, 30 %.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx2
import openai
from bench_wire import median_round, rotate, sdk, summarize
from bench_wrap import LEDGERS, MODEL, SYSTEM, canned, guard, messages, mock_transport, p50_us
from bench_wrap import running_provider as provider_process

from costcap.cache import CachedAnswer, CacheRequest, ResponseCache
from costcap.integrations.wrap import wrap
from costcap.ledger import CostEvent

REDIS = "redis://127.0.0.1:6379/15?prefix=costcap-bench-cache"
ANSWER = CachedAnswer(shape="json", body=b'{"x": 1}' * 100, model=MODEL, cost_pico=1)


def backends(skip_redis: bool) -> dict[str, str]:
    folder = tempfile.mkdtemp(prefix="costcap-bench-cache-")
    urls = {"memory": "memory://", "sqlite": f"sqlite:///{folder}/cache.db"}
    if not skip_redis:
        urls["redis"] = REDIS
    return urls


def clear_redis() -> None:
    import redis

    client = redis.Redis.from_url("redis://127.0.0.1:6379/15")
    keys = list(client.scan_iter(match="costcap-bench-cache:cache:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


# -- 1. lookups --


def request(n: int) -> CacheRequest:
    body = {"model": MODEL, "messages": [SYSTEM, {"role": "user", "content": f"Question {n}"}],
            "temperature": 0, "max_completion_tokens": 400}  # fmt: skip
    return CacheRequest(provider="openai", endpoint="chat.completions", body=body, feature="faq")


def lookup_rows(urls: dict[str, str], calls: int, repeat: int) -> None:
    print("| backend | hit (lookup) p50 µs | miss (lookup + store) p50 µs |")
    print("|---|---:|---:|")
    fresh = iter(range(10**9))
    for name, url in urls.items():
        cache = ResponseCache(url)
        cache.store(cache.lookup(request(-1)), ANSWER)
        hits, misses = [], []
        for _ in range(repeat):
            clock = time.perf_counter
            hit_samples, miss_samples = [], []
            for _ in range(calls):
                started = clock()
                found = cache.lookup(request(-1))
                hit_samples.append(clock() - started)
                assert found.hit
                started = clock()
                lookup = cache.lookup(request(next(fresh)))
                cache.store(lookup, ANSWER)
                miss_samples.append(clock() - started)
            hits.append(p50_us(hit_samples))
            misses.append(p50_us(miss_samples))
        cache.close()
        print(f"| {name} | {statistics.median(hits):,.1f} | {statistics.median(misses):,.1f} |")


# -- 2. in process --


def same_question() -> list[Any]:
    return [SYSTEM, {"role": "user", "content": "What are your opening hours?"}]


def asking(ask: Callable[[], list[Any]]) -> Callable[[openai.OpenAI, bool], None]:
    def call(client: openai.OpenAI, stream: bool) -> None:
        if stream:
            with client.chat.completions.create(
                model=MODEL, messages=ask(), temperature=0, stream=True
            ) as chunks:
                for _ in chunks:
                    pass
        else:
            client.chat.completions.create(model=MODEL, messages=ask(), temperature=0)

    return call


def compare(
    clients: Sequence[tuple[openai.OpenAI, Callable[[openai.OpenAI, bool], None]]],
    stream: bool,
    calls: int,
    repeat: int,
) -> tuple[float, list[tuple[float, float]]]:
    for client, call in clients:  # warm-up (and the hit clients' first, stored, answer)
        for _ in range(max(20, calls // 10)):
            call(client, stream)
    clock = time.perf_counter
    rounds = []
    for _ in range(repeat):
        samples: list[list[float]] = [[] for _ in clients]
        for turn in range(calls):
            for index in rotate(turn, clients):
                client, call = clients[index]
                started = clock()
                call(client, stream)
                samples[index].append(clock() - started)
        rounds.append(summarize(samples))
    return median_round(rounds)


def in_process_rows(
    bodies: dict[str, bytes], urls: dict[str, str], calls: int, repeat: int
) -> None:
    def plain() -> httpx2.Client:
        return httpx2.Client(transport=mock_transport(bodies))

    new, same = asking(messages), asking(same_question)
    names = ["wrap, no cache", "wrap, cache misses (memory)"]
    names += [f"wrap, cache hits ({name})" for name in urls]
    print("| call | bare µs | " + " | ".join(f"{n} µs (added)" for n in names) + " |")
    print("|---|---:|" + "---:|" * len(names))
    for stream in (False, True):
        caches = [ResponseCache(url) for url in urls.values()]
        clients = [
            (sdk(plain()), new),
            (wrap(sdk(plain()), guard=guard()), new),
            (wrap(sdk(plain()), guard=guard(), cache=ResponseCache("memory://")), new),
            *((wrap(sdk(plain()), guard=guard(), cache=cache), same) for cache in caches),
        ]
        bare, rest = compare(clients, stream, calls, repeat)
        cells = " | ".join(f"{p50:,.0f} ({added:+,.0f})" for p50, added in rest)
        kind = "chat, streamed 20 tokens" if stream else "chat"
        print(f"| {kind} | {bare:,.0f} | {cells} |")
        wrapped, miss = rest[0][1], rest[1][1]
        print(f"\n{kind}: the cache adds {miss - wrapped:,.1f} µs to a miss = "
              f"{(miss - wrapped) / wrapped:.1%} of what wrap adds ({wrapped:,.1f} µs); "
              f"a memory hit takes {rest[2][0]:,.0f} µs vs the bare call's {bare:,.0f} µs "
              f"({rest[2][0] / bare:.2f}×)\n")  # fmt: skip
        for client, _ in clients:
            client.close()
        for cache in caches:
            cache.close()
        if "redis" in urls:
            clear_redis()


def http_rows(base_url: str, calls: int, repeat: int) -> None:
    new, same = asking(messages), asking(same_question)
    print("| call | bare µs | wrap, no cache µs (added) | wrap, cache hits (memory) µs (added) |")
    print("|---|---:|---:|---:|")
    for stream in (False, True):
        clients = [
            (sdk(base_url=base_url), new),
            (wrap(sdk(base_url=base_url), guard=guard()), new),
            (wrap(sdk(base_url=base_url), guard=guard(), cache=ResponseCache("memory://")), same),
        ]
        bare, rest = compare(clients, stream, calls, repeat)
        cells = " | ".join(f"{p50:,.0f} ({added:+,.0f})" for p50, added in rest)
        kind = "chat, streamed 20 tokens" if stream else "chat"
        print(f"| {kind} | {bare:,.0f} | {cells} |")
        for client, _ in clients:
            client.close()
    print()


# -- 4. saving --


class Events:
    def __init__(self) -> None:
        self.events: list[CostEvent] = []

    def on_event(self, event: CostEvent) -> None:
        self.events.append(event)


def saving_row(bodies: dict[str, bytes], calls: int = 2000, repeats: int = 600) -> None:
    from costcap import Budget, Guard

    rng = random.Random(20261205)
    distinct = calls - repeats
    # "Question 123-456": two numbers of three digits, one token each, so every prompt has the
    # same length and every call the same cost
    questions = [f"Question {100 + i // 900}-{100 + i % 900}" for i in range(distinct)]
    order: list[str] = []
    asked: list[str] = []
    pending = questions[:]
    rng.shuffle(pending)
    slots = [True] * distinct + [False] * repeats
    rng.shuffle(slots)
    slots[0] = True  # the first call is always a new question
    for new in slots:
        if new or not asked:
            asked.append(pending.pop())
            order.append(asked[-1])
        else:
            order.append(rng.choice(asked))
    repeated = calls - len(set(order))
    events = Events()
    guard_ = Guard("memory://", budgets=[Budget(scope="global", period="day", limit_usd=10**9)],
                   notifiers=[], observers=[events])  # fmt: skip
    client = wrap(sdk(httpx2.Client(transport=mock_transport(bodies))), guard=guard_,
                  cache=ResponseCache("memory://"), feature="faq")  # fmt: skip
    for question in order:
        client.chat.completions.create(
            model=MODEL, temperature=0, messages=[SYSTEM, {"role": "user", "content": question}]
        )
    spent = sum(e.cost_pico for e in events.events)
    saved = sum(e.saved_pico for e in events.events)
    hits = sum(e.cache_hit for e in events.events)
    share = saved / (spent + saved)
    rate = repeated / calls
    print("| calls | repeats | hits | spent $ | saved $ | saved share | repeat rate | difference |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {calls:,} | {repeated:,} | {hits:,} | {spent / 1e12:.6f} | {saved / 1e12:.6f} "
          f"| {share:.2%} | {rate:.2%} | {abs(share - rate) * 100:.2f} points |")  # fmt: skip
    client.close()
    guard_.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-redis", action="store_true")
    args = parser.parse_args()
    urls = backends(args.skip_redis)
    print(f"openai {openai.__version__}; {args.calls} operations × {args.repeat} rounds; "
          "medians of p50s\n")  # fmt: skip
    try:
        print("### Lookups\n")
        lookup_rows(urls, args.calls, args.repeat)
        with provider_process() as base_url:
            bodies = canned(base_url)
            print("\n### Over HTTP to a local fake provider (sync)\n")
            http_rows(base_url, args.calls, args.repeat)
        print("### In process (sync)\n")
        in_process_rows(bodies, urls, args.calls, args.repeat)
        print("### Saving on a workload with a known repeat rate\n")
        saving_row(bodies)
    finally:
        if "redis" in urls:
            clear_redis()
        LEDGERS.close()
        for url in urls.values():
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).parent.joinpath("cache.db").unlink(
                    missing_ok=True
                )


if __name__ == "__main__":
    main()
