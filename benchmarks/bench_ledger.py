"""Sustained cost-ledger throughput: ``Ledger.record`` latency and events/s into the sink.

    .venv/bin/python benchmarks/bench_ledger.py [--events N] [--repeat R]
        [--sinks sqlite,postgres] [--batch-sizes 1000,5000] [--always-events M]
        [--threads 1,4] [--policies never,interval,always] [--prefill N]

Per sink and ``batch_size``, from 1 and from 4 threads: N pre-built events (500 users, 3
features, 1,000 prompt hashes) are recorded as fast as possible, then ``flush()`` waits until
every one is in the sink (events table + every rollup, committed).

* record p50 / p99 — the latency of one ``record`` call (JSON line appended to the spool);
* recorded/s — the rate of the recording loop alone (the call path);
* end-to-end/s — N / (time from the first record to the end of ``flush``): sustained ledger
  throughput, spool → drain thread → sink, everything committed and checkpointed.

A second table gives the cost of each ``fsync`` policy (SQLite; ``always`` with M events).
``--prefill N`` first puts N earlier events in each ledger (off the clock): how throughput holds
up as the ledger grows (every index gets bigger).
Medians of ``--repeat`` runs, each on a fresh database and spool. PostgreSQL must run at
127.0.0.1:5432 (database ``test``; a schema per run, dropped after).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from costcap.guard_core import new_id
from costcap.ledger import CostEvent, FsyncPolicy, Ledger, open_sink

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass
class Run:
    p50_us: float
    p99_us: float
    recorded_per_s: float
    end_to_end_per_s: float


def url_for(sink: str, tmp: Path, run: str) -> str:
    if sink == "sqlite":
        return f"sqlite:///{tmp / f'ledger-{run}.db'}"
    return f"{POSTGRES}?schema=bench_ledger_{run}"


def drop(url: str) -> None:
    if url.startswith("sqlite"):
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    if url.startswith("postgresql"):
        import psycopg

        schema = url.partition("?schema=")[2]
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def events(n: int) -> list[CostEvent]:
    now = datetime.now(UTC)
    return [
        CostEvent(
            request_id=new_id(),
            ts=now,
            status="ok",
            model="gpt-4o-mini",
            requested_model="gpt-4o-mini-2024-07-18",
            provider="openai",
            user_id=f"user-{i % 500}",
            feature=("chat", "search", "summarise")[i % 3],
            api_key_id="key-1",
            endpoint="/v1/chat/completions",
            input_tokens=420 + i % 100,
            output_tokens=120,
            cost_pico=135_000_000 + i,
            latency_ms=850.0,
            prompt_hash=f"{i % 1000:016x}",
        )
        for i in range(n)
    ]


def pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


def prefill(url: str, n: int) -> None:
    """Put ``n`` earlier events (fresh request ids, made as the Guard makes them) in the ledger,
    straight through the sink in batches of 5,000."""
    template = events(5000)
    sink = open_sink(url)
    try:
        for start in range(0, n, len(template)):
            rows = template[: n - start]
            sink.write([dataclasses.replace(e, request_id=new_id()) for e in rows])
    finally:
        sink.close()


def one_run(
    sink: str,
    tmp: Path,
    n: int,
    threads: int,
    fsync: FsyncPolicy,
    *,
    batch_size: int = 1000,
    prefilled: int = 0,
) -> Run:
    run = uuid.uuid4().hex[:8]
    url = url_for(sink, tmp, run)
    prefill(url, prefilled)
    batch = events(n)  # after the prefill: ids are time-ordered, as the Guard makes them
    ledger = Ledger(url, spool_dir=tmp / f"spool-{run}", fsync=fsync, batch_size=batch_size)
    try:
        ledger.record(events(1)[0])  # open the sink (and create the schema) outside the clock
        ledger.flush(None)
        latencies: list[list[int]] = [[] for _ in range(threads)]
        gate = threading.Barrier(threads + 1)

        def work(k: int) -> None:
            mine, clock, record = latencies[k], time.perf_counter_ns, ledger.record
            gate.wait()
            for event in batch[k::threads]:
                t0 = clock()
                record(event)
                mine.append(clock() - t0)

        workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
        for w in workers:
            w.start()
        gate.wait()
        started = time.perf_counter()
        for w in workers:
            w.join()
        recorded = time.perf_counter() - started
        assert ledger.flush(None)
        total = time.perf_counter() - started
    finally:
        ledger.close()
        drop(url)
    flat = [x for per_thread in latencies for x in per_thread]
    return Run(pct(flat, 0.5), pct(flat, 0.99), n / recorded, n / total)


def median_run(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.p50_us for r in runs),
        statistics.median(r.p99_us for r in runs),
        statistics.median(r.recorded_per_s for r in runs),
        statistics.median(r.end_to_end_per_s for r in runs),
    )


def row(label: str, r: Run) -> str:
    return (
        f"| {label} | {r.p50_us:.1f} | {r.p99_us:.1f} | {r.recorded_per_s:,.0f} "
        f"| {r.end_to_end_per_s:,.0f} |"
    )


HEADER = "| record p50 µs | record p99 µs | recorded/s | end-to-end/s |\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sinks", default="sqlite,postgres")
    parser.add_argument("--batch-sizes", default="1000,5000")
    parser.add_argument("--always-events", type=int, default=3000)
    parser.add_argument("--threads", default="1,4")
    parser.add_argument("--policies", default="never,interval,always", help="fsync table rows")
    parser.add_argument(
        "--prefill", type=int, default=0, help="events already in each ledger before the clock"
    )
    args = parser.parse_args()
    thread_counts = [int(t) for t in args.threads.split(",")]
    policies = [p for p in args.policies.split(",") if p]
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        into = f" into ledgers already holding {args.prefill:,}" if args.prefill else ""
        print(f"Sustained throughput, {args.events:,} events{into}, fsync=interval (default)\n")
        print("| sink | batch_size | threads " + HEADER + "|---|---:|---:|---:|---:|---:|---:|")
        for sink in args.sinks.split(","):
            for size in (int(b) for b in args.batch_sizes.split(",")):
                for threads in thread_counts:
                    runs = [
                        one_run(
                            sink,
                            tmp,
                            args.events,
                            threads,
                            "interval",
                            batch_size=size,
                            prefilled=args.prefill,
                        )
                        for _ in range(args.repeat)
                    ]
                    print(row(f"{sink} | {size:,} | {threads}", median_run(runs)), flush=True)
        if not policies:
            return
        print("\nfsync policies, SQLite sink\n")
        print("| fsync | events | threads " + HEADER + "|---|---:|---:|---:|---:|---:|---:|")
        for policy in policies:
            n = args.always_events if policy == "always" else args.events
            for threads in thread_counts:
                runs = [one_run("sqlite", tmp, n, threads, policy) for _ in range(args.repeat)]
                print(row(f"{policy} | {n:,} | {threads}", median_run(runs)), flush=True)


if __name__ == "__main__":
    main()
