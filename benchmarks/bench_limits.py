"""The per-call cost of rate-limit checks, per store.

    .venv/bin/python benchmarks/bench_limits.py [--calls N] [--repeat R] [--stores ...]

* hit — ``Guard.hit`` + ``Guard.finish`` with one "N/minute" rule: a request limit alone, as the
  FastAPI decorator does it (one atomic admit, one settle); the same with one "N/second" rule
  (its sliding window sums 41 counters: 20 buckets of 50 ms, and the next second's 20 ahead);
* added — what two rules ("N/minute" and "N tokens/hour" per user) add to a full
  ``Guard.admit`` + ``settle`` over the same call without them (both in the same atomic step).

Medians of ``--repeat`` runs, in microseconds per call, single thread.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench_guard import BUDGETS, MESSAGES, USAGE, drop, url_for

from costcap.guard import Guard
from costcap.limits import RateLimit

RULES = [RateLimit("1000000000/minute"), RateLimit("1000000000000 tokens/hour")]


def per_call_us(seconds: float, calls: int) -> float:
    return seconds / calls * 1e6


def bench_hit(url: str, calls: int, per: str = "minute") -> float:
    guard = Guard(url, notifiers=[])
    rule = [RateLimit(f"1000000000/{per}")]
    started = time.perf_counter()
    for i in range(calls):
        guard.finish(guard.hit(rule, user_id=f"u{i % 50}", endpoint="/api"))
    elapsed = time.perf_counter() - started
    guard.close()
    return per_call_us(elapsed, calls)


def bench_admit(url: str, calls: int, *, with_limits: bool) -> float:
    guard = Guard(url, budgets=BUDGETS, limits=RULES if with_limits else (), notifiers=[])
    started = time.perf_counter()
    for i in range(calls):
        ticket = guard.admit(
            model="gpt-4o-mini", messages=MESSAGES, max_tokens=400, user_id=f"u{i % 50}"
        )
        guard.settle(ticket, USAGE)
    elapsed = time.perf_counter() - started
    guard.close()
    return per_call_us(elapsed, calls)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stores", default="memory,sqlite,redis,postgres")
    args = parser.parse_args()
    columns = ["hit + finish µs", "hit, N/second rule", "admit+settle µs, budgets only",
               "with 2 limit rules", "added µs"]  # fmt: skip
    print("| store | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    with tempfile.TemporaryDirectory() as tmp:
        for store in args.stores.split(","):
            urls: list[str] = []

            def fresh(store: str = store, urls: list[str] = urls) -> str:
                urls.append(url_for(store, Path(tmp)))
                return urls[-1]

            try:
                hit = statistics.median(bench_hit(fresh(), args.calls) for _ in range(args.repeat))
                second = statistics.median(
                    bench_hit(fresh(), args.calls, "second") for _ in range(args.repeat)
                )
                plain = statistics.median(
                    bench_admit(fresh(), args.calls, with_limits=False) for _ in range(args.repeat)
                )
                limited = statistics.median(
                    bench_admit(fresh(), args.calls, with_limits=True) for _ in range(args.repeat)
                )
            except Exception as exc:  # noqa: BLE001 - report a store that is down and go on
                print(f"| {store} | unavailable: {exc} | | | | |")
                continue
            finally:
                for url in urls:
                    drop(store, url)
            cells = [f"{v:,.0f}" for v in (hit, second, plain, limited, limited - plain)]
            print(f"| {store} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
