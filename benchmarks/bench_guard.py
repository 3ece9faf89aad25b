"""Admit + settle throughput and latency, per store.

    .venv/bin/python benchmarks/bench_guard.py [--calls N] [--stores memory,sqlite,redis,postgres]

Three figures per store, each the median of ``--repeat`` runs:

* store — the raw atomic step (``store.admit`` then ``store.settle``), one thread;
* guard — ``Guard.admit`` + ``Guard.settle`` as a user calls them (token count, policy, worst
  case, two budgets: global and per-user), one thread, with p50/p99 latency of admit;
* concurrent — 8 threads sharing one Guard (sync), and 64 asyncio tasks on one AsyncGuard.

Redis and Postgres must be running (127.0.0.1:6379 and :5432); others are skipped when not.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from costcap.budgets import Budget
from costcap.guard import AsyncGuard, Guard
from costcap.stores import Charge, open_store

MESSAGES = [{"role": "user", "content": "Summarise the quarterly report in three bullet points."}]
USAGE = {"input_tokens": 20, "output_tokens": 120}
BUDGETS = [
    Budget(scope="global", period="day", limit_usd=10**9),
    Budget(scope="user:*", period="day", limit_usd=10**6),
]


def url_for(store: str, tmp: Path) -> str:
    run = uuid.uuid4().hex[:8]
    return {
        "memory": "memory://",
        "sqlite": f"sqlite:///{tmp / f'bench-{run}.db'}",
        "redis": f"redis://127.0.0.1:6379/14?prefix=bench{run}",
        "postgres": f"postgresql://postgres@127.0.0.1:5432/test?schema=bench_{run}",
    }[store]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_store(url: str, calls: int) -> float:
    store = open_store(url)
    charges = [Charge("g", ("g",), 10**15, 5), Charge("u", ("u",), 10**15, 5)]
    started = time.perf_counter()
    for _ in range(calls):
        rid = uuid.uuid4().hex
        store.admit(rid, charges, 600)
        store.settle(rid, [3, 3])
    elapsed = time.perf_counter() - started
    store.close()
    return calls / elapsed


def bench_guard(url: str, calls: int) -> tuple[float, float, float]:
    guard = Guard(url, budgets=BUDGETS, notifiers=[])
    latencies = []
    started = time.perf_counter()
    for i in range(calls):
        t0 = time.perf_counter()
        ticket = guard.admit(
            model="gpt-4o-mini", messages=MESSAGES, max_tokens=400, user_id=f"u{i % 50}"
        )
        latencies.append(time.perf_counter() - t0)
        guard.settle(ticket, USAGE)
    elapsed = time.perf_counter() - started
    guard.close()
    return calls / elapsed, pct(latencies, 0.5) * 1e6, pct(latencies, 0.99) * 1e6


def bench_threads(url: str, calls: int, threads: int = 8) -> float:
    guard = Guard(url, budgets=BUDGETS, notifiers=[])
    per = calls // threads

    def work(n: int) -> None:
        for i in range(per):
            ticket = guard.admit(
                model="gpt-4o-mini", messages=MESSAGES, max_tokens=400, user_id=f"u{n}-{i % 5}"
            )
            guard.settle(ticket, USAGE)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    started = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    guard.close()
    return per * threads / elapsed


def bench_asyncio(url: str, calls: int, tasks: int = 64) -> float:
    async def main() -> float:
        guard = AsyncGuard(url, budgets=BUDGETS, notifiers=[])
        per = calls // tasks

        async def work(n: int) -> None:
            for i in range(per):
                ticket = await guard.admit(
                    model="gpt-4o-mini", messages=MESSAGES, max_tokens=400, user_id=f"u{n}-{i % 5}"
                )
                await guard.settle(ticket, USAGE)

        started = time.perf_counter()
        await asyncio.gather(*(work(n) for n in range(tasks)))
        elapsed = time.perf_counter() - started
        await guard.close()
        return per * tasks / elapsed

    return asyncio.run(main())


def median_of(repeat: int, fn: Callable[[], float]) -> float:
    return statistics.median(fn() for _ in range(repeat))


def drop(store: str, url: str) -> None:
    if store == "postgres":
        import psycopg

        base, _, schema = url.partition("?schema=")
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    elif store == "redis":
        import redis

        prefix = url.rsplit("prefix=", 1)[1]
        client = redis.Redis.from_url(url.split("?", maxsplit=1)[0])
        for key in client.scan_iter(match=f"*{prefix}*", count=1000):
            client.delete(key)
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stores", default="memory,sqlite,redis,postgres")
    args = parser.parse_args()
    print(
        "| store | store admit+settle/s | guard admit+settle/s | admit p50 µs | admit p99 µs "
        "| 8 threads /s | 64 asyncio tasks /s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for store in args.stores.split(","):
            urls: list[str] = []

            def fresh(store: str = store, urls: list[str] = urls) -> str:
                urls.append(url_for(store, Path(tmp)))
                return urls[-1]

            try:
                raw = median_of(args.repeat, lambda: bench_store(fresh(), args.calls))
                runs = [bench_guard(fresh(), args.calls) for _ in range(args.repeat)]
                threads = median_of(args.repeat, lambda: bench_threads(fresh(), args.calls))
                tasks = median_of(args.repeat, lambda: bench_asyncio(fresh(), args.calls))
            except Exception as exc:  # noqa: BLE001 - report a store that is down and go on
                print(f"| {store} | unavailable: {exc} | | | | | |")
                continue
            finally:
                for url in urls:
                    drop(store, url)
            rate = statistics.median(r[0] for r in runs)
            p50 = statistics.median(r[1] for r in runs)
            p99 = statistics.median(r[2] for r in runs)
            cells = [f"{v:,.0f}" for v in (raw, rate, p50, p99, threads, tasks)]
            print(f"| {store} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
