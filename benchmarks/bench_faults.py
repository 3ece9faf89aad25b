"""Fault injection: wrapped calls under store kills, cancellations and process kills, reconciled.

    .venv/bin/python benchmarks/bench_faults.py [--seconds 90] [--workers 3] [--tasks 3]
        [--seed 1] [--backend redis|postgres] [--lease-s 4] [--limit-usd auto]
        [--write FILE] [--keep]

What runs, all on loopback:

* the fake provider (``costcap.testing.run_fake_provider``) in this process, every request
  slowed by ``x-fake-latency-ms`` (and streams by ``x-fake-chunk-delay-ms``, 0 for 15 % of them:
  a provider ahead of its reader) so faults land mid-call; its record of requests is the
  independent reference of what was billed;
* the store: ``--backend redis`` is a ``redis-server`` of this script's own on a free port
  (``--appendonly yes --appendfsync always`` in a temporary directory, so a ``kill -9`` and a
  restart keep its counters); ``--backend postgres`` is a fresh schema on the shared server at
  127.0.0.1:5432 (database ``test``), where a "store kill" is ``pg_terminate_backend`` of every
  connection of the run (the shared server is never stopped); the schema is dropped at the end;
* ``--workers`` processes (spawn), each with one thread of sync ``costcap.wrap(OpenAI())`` chat
  calls and ``--tasks`` asyncio tasks of ``costcap.wrap(AsyncOpenAI())`` calls: plain, streamed
  to the end, streamed and abandoned after a few chunks, some streams dropped by the provider
  (``x-fake-disconnect-after``), async calls under random ``asyncio.wait_for`` timeouts
  (cancellations). Every Guard shares one hard global budget (``--limit-usd``; by default about
  half what the run would spend without it, so it is reached mid-run) with a short lease
  (``--lease-s``); every process has a Ledger on one SQLite file (the default spool next to it,
  shared: a killed worker's segments are adopted by the next Ledger that opens it). A caller
  refused (budget, store down) pauses 0.2 s before its next call, as an app would;
* the chaos schedule (the main thread), drawn from ``--seed``: ``kill -9`` of the store
  (restarted after 0.3–3 s) or of its connections, and ``kill -9`` of a worker (a replacement
  starts at once);
* a sampler thread reading ``guard.status()`` every 100 ms: spent ≤ limit at all times.

Every Ledger has ``lease_grace_s`` = 2 s (``LEDGER_GRACE_S``): a call in flight in a killed
worker is recorded ``lost`` by a live worker's drain 2 s after its lease ended.

At the end: workers are stopped, the script waits past the lease and the grace, a last Ledger
adopts and drains every spool and records the calls still in flight as lost, the script calls
the store's ``expire()`` and checks reserved == 0. Each call carries a
unique id (as the costcap user and as ``x-fake-request-key``), and each worker journals its
calls (started, admitted under which reservation, ended how), so every call is followed through
the journal, the provider's record (priced with ``default_catalog()``), the ledger and the
store's reservations charged by their lease, and each difference is explained call by call.
``--write FILE`` appends the run's markdown section to FILE (``benchmarks/results/faults.md``).
Exit status 1 when a check fails. The schedule is seeded; what lands where is timing, not seed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import json
import logging
import multiprocessing
import os
import platform
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import openai
from openai.types.chat import ChatCompletionMessageParam

import costcap
from costcap import AsyncGuard, Budget, Guard, StoreUnavailable, Usage
from costcap.admission import BudgetStatus
from costcap.ledger import Ledger, open_sink
from costcap.stores import (
    Admission,
    AsyncStore,
    Charge,
    CounterState,
    Store,
    open_async_store,
    open_store,
)
from costcap.testing import FakeProviderConfig, ServedRequest, run_fake_provider

MODEL = "gpt-4o"
MAX_TOKENS = 256
LONGEST_PROMPT = 80  # tokens: 60 words and the chat framing, with room to spare
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
WORDS = ["budget", "ledger", "stream", "lease", "quarterly", "report", "summary", "invoice",
         "customer", "refund", "latency", "chart", "revenue", "forecast", "outage", "region",
         "cluster", "replica"]  # fmt: skip
# What one caller (a thread or a task) spends per second without a budget, measured here with
# no faults (3 workers x 4 callers spent ~$0.018/s). Only sizes the default --limit-usd.
USD_PER_CALLER_S = Decimal("0.0015")
BACKOFF_S = 0.2  # a caller's pause after a refusal (budget, store down), as an app would make
STORE_KILL_EVERY_S = 9.0  # mean gaps of the chaos schedule (exponential)
WORKER_KILL_EVERY_S = 6.0
SAMPLE_EVERY_S = 0.1
# Every Ledger's lease_grace_s: with the 4 s lease a killed worker's calls are recorded lost
# within seconds (the default 60 s would outlast most of a 90 s run).
LEDGER_GRACE_S = 2.0
HEX_ID = re.compile(r"\b(0x[0-9a-f]+|[0-9a-f]{32})\b")

# -- the worker side ---------------------------------------------------------------------------

CALL: contextvars.ContextVar[str] = contextvars.ContextVar("call", default="-")


class Journal:
    """One line per step of a call, appended with one ``write`` each (whole lines survive a
    ``kill -9``): ``S id kind t`` before the call, ``A id reservation micros`` once the store
    admitted it, ``E id outcome t`` after; ``X worker`` once the worker closed cleanly."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, *parts: str) -> None:
        os.write(self._fd, (" ".join(parts) + "\n").encode())

    def close(self) -> None:
        os.close(self._fd)


class JournaledStore:
    """A store that journals each reservation it admits, with the call it is for."""

    def __init__(self, inner: Store, journal: Journal) -> None:
        self._inner = inner
        self._journal = journal

    def admit(self, reservation_id: str, charges: Sequence[Charge], lease_s: float) -> Admission:
        result = self._inner.admit(reservation_id, charges, lease_s)
        if result.admitted:
            self._journal.write("A", CALL.get(), reservation_id, str(charges[0].amount))
        return result

    def settle(self, reservation_id: str, actuals: Sequence[int]) -> bool:
        return self._inner.settle(reservation_id, actuals)

    def release(self, reservation_id: str) -> bool:
        return self._inner.release(reservation_id)

    def extend(self, reservation_id: str, lease_s: float) -> bool:
        return self._inner.extend(reservation_id, lease_s)

    def expire(self) -> int:
        return self._inner.expire()

    def read(self, windows: Sequence[tuple[str, ...]]) -> list[CounterState]:
        return self._inner.read(windows)

    def mark_once(self, marker: str, ttl_s: int) -> bool:
        return self._inner.mark_once(marker, ttl_s)

    def close(self) -> None:
        self._inner.close()


class AsyncJournaledStore:
    """:class:`JournaledStore` for the AsyncGuard."""

    def __init__(self, inner: AsyncStore, journal: Journal) -> None:
        self._inner = inner
        self._journal = journal

    async def admit(
        self, reservation_id: str, charges: Sequence[Charge], lease_s: float
    ) -> Admission:
        result = await self._inner.admit(reservation_id, charges, lease_s)
        if result.admitted:
            self._journal.write("A", CALL.get(), reservation_id, str(charges[0].amount))
        return result

    async def settle(self, reservation_id: str, actuals: Sequence[int]) -> bool:
        return await self._inner.settle(reservation_id, actuals)

    async def release(self, reservation_id: str) -> bool:
        return await self._inner.release(reservation_id)

    async def extend(self, reservation_id: str, lease_s: float) -> bool:
        return await self._inner.extend(reservation_id, lease_s)

    async def expire(self) -> int:
        return await self._inner.expire()

    async def read(self, windows: Sequence[tuple[str, ...]]) -> list[CounterState]:
        return await self._inner.read(windows)

    async def mark_once(self, marker: str, ttl_s: int) -> bool:
        return await self._inner.mark_once(marker, ttl_s)

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True)
class WorkerConfig:
    slot: int
    generation: int
    seed: int
    store_url: str
    ledger_url: str
    base_url: str
    lease_s: float
    limit_usd: str
    tasks: int
    journal: str
    log: str
    stop_file: str

    @property
    def prefix(self) -> str:
        return f"w{self.slot}g{self.generation}"


@dataclass(frozen=True)
class Plan:
    """One call: its kind, the provider's knobs, and what the caller does to it."""

    kind: str  # plain | stream | abandon
    headers: dict[str, str]
    text: str
    abandon_after: int | None  # abandon: content chunks read before leaving the stream
    timeout_s: float | None  # async only: asyncio.wait_for timeout (a cancellation)

    @classmethod
    def draw(cls, rng: random.Random, call_id: str, *, is_async: bool) -> Plan:
        kind = rng.choices(("plain", "stream", "abandon"), (45, 30, 25))[0]
        headers = {
            "x-fake-request-key": call_id,
            "x-fake-latency-ms": str(rng.randint(30, 400)),
            "x-fake-output-tokens": str(rng.randint(10, 300)),  # above 256: capped
        }
        if kind != "plain":  # 0: a provider that sends faster than its client reads
            delay = 0 if rng.random() < 0.15 else rng.randint(3, 20)
            headers["x-fake-chunk-delay-ms"] = str(delay)
            if rng.random() < 0.06:  # the provider drops the connection mid-stream
                headers["x-fake-disconnect-after"] = str(rng.randint(1, 40))
        text = " ".join(rng.choices(WORDS, k=rng.randint(5, 60)))
        abandon = rng.randint(1, 40) if kind == "abandon" else None
        timeout = rng.uniform(0.02, 2.5) if is_async and rng.random() < 0.35 else None
        return cls(kind, headers, text, abandon, timeout)

    @property
    def messages(self) -> list[ChatCompletionMessageParam]:
        return [{"role": "user", "content": self.text}]


def outcome_of(exc: BaseException) -> str:
    if isinstance(exc, costcap.BudgetExceeded):
        return "refused_budget"
    if isinstance(exc, StoreUnavailable):
        return "store_unavailable"
    return f"error:{type(exc).__name__}"


class Worker:
    """One worker process: a thread of sync calls and ``tasks`` asyncio tasks of async calls
    until the stop file appears (or the parent dies), then everything closed and drained."""

    def __init__(self, cfg: WorkerConfig) -> None:
        self.cfg = cfg
        self.journal = Journal(cfg.journal)
        self.parent = os.getppid()
        budget = Budget(scope="global", period="day", limit_usd=cfg.limit_usd, name="hard-global")
        self.ledger = Ledger(cfg.ledger_url, lease_grace_s=LEDGER_GRACE_S)
        self.guard = Guard(
            JournaledStore(open_store(cfg.store_url), self.journal),
            budgets=[budget],
            lease_s=cfg.lease_s,
            notifiers=[],
            observers=[self.ledger],
        )
        self.aguard = AsyncGuard(
            AsyncJournaledStore(open_async_store(cfg.store_url), self.journal),
            budgets=[budget],
            lease_s=cfg.lease_s,
            notifiers=[],
            observers=[self.ledger],
        )
        self.client = costcap.wrap(
            openai.OpenAI(base_url=cfg.base_url, api_key="test", max_retries=0, timeout=30.0),
            guard=self.guard,
        )
        self.aclient = costcap.wrap(
            openai.AsyncOpenAI(base_url=cfg.base_url, api_key="test", max_retries=0, timeout=30.0),
            guard=self.aguard,
        )
        self.numbers = iter(range(10**9))

    def stopping(self) -> bool:
        return os.path.exists(self.cfg.stop_file) or os.getppid() != self.parent

    def next_call(self, rng: random.Random, *, is_async: bool) -> tuple[str, Plan]:
        call_id = f"{self.cfg.prefix}-{next(self.numbers)}"
        plan = Plan.draw(rng, call_id, is_async=is_async)
        mode = "async" if is_async else "sync"
        self.journal.write("S", call_id, f"{mode}-{plan.kind}", f"{time.time():.3f}")
        return call_id, plan

    def ended(self, call_id: str, outcome: str) -> None:
        self.journal.write("E", call_id, outcome, f"{time.time():.3f}")

    def sync_call(self, plan: Plan) -> str:
        create = self.client.chat.completions.create
        if plan.kind == "plain":
            create(model=MODEL, messages=plan.messages, max_tokens=MAX_TOKENS,
                   extra_headers=plan.headers)  # fmt: skip
            return "ok"
        stream = create(model=MODEL, messages=plan.messages, max_tokens=MAX_TOKENS, stream=True,
                        extra_headers=plan.headers)  # fmt: skip
        with stream:
            for chunks, _chunk in enumerate(stream, 1):
                if plan.abandon_after is not None and chunks >= plan.abandon_after:
                    return "abandoned"
        return "ok"

    def sync_loop(self) -> None:
        rng = random.Random(f"{self.cfg.seed}-{self.cfg.prefix}-sync")
        while not self.stopping():
            call_id, plan = self.next_call(rng, is_async=False)
            token = CALL.set(call_id)
            try:
                with costcap.attribute(user_id=call_id):
                    outcome = self.sync_call(plan)
            except Exception as exc:  # noqa: BLE001 - every outcome is journaled
                outcome = outcome_of(exc)
            finally:
                CALL.reset(token)
            self.ended(call_id, outcome)
            if outcome in ("store_unavailable", "refused_budget"):
                time.sleep(BACKOFF_S)

    async def async_call(self, plan: Plan) -> str:
        create = self.aclient.chat.completions.create
        if plan.kind == "plain":
            await create(model=MODEL, messages=plan.messages, max_tokens=MAX_TOKENS,
                         extra_headers=plan.headers)  # fmt: skip
            return "ok"
        stream = await create(model=MODEL, messages=plan.messages, max_tokens=MAX_TOKENS,
                              stream=True, extra_headers=plan.headers)  # fmt: skip
        async with stream:
            chunks = 0
            async for _chunk in stream:
                chunks += 1
                if plan.abandon_after is not None and chunks >= plan.abandon_after:
                    return "abandoned"
        return "ok"

    async def async_loop(self, index: int) -> None:
        rng = random.Random(f"{self.cfg.seed}-{self.cfg.prefix}-task{index}")
        while not self.stopping():
            call_id, plan = self.next_call(rng, is_async=True)
            token = CALL.set(call_id)
            try:
                with costcap.attribute(user_id=call_id):
                    outcome = await asyncio.wait_for(self.async_call(plan), plan.timeout_s)
            except TimeoutError:
                outcome = "cancelled"
            except Exception as exc:  # noqa: BLE001 - every outcome is journaled
                outcome = outcome_of(exc)
            finally:
                CALL.reset(token)
            self.ended(call_id, outcome)
            if outcome in ("store_unavailable", "refused_budget"):
                await asyncio.sleep(BACKOFF_S)

    async def async_main(self) -> None:
        await asyncio.gather(*(self.async_loop(i) for i in range(self.cfg.tasks)))
        await self.aclient.close()
        await self.aguard.close()

    def run(self) -> None:
        thread = threading.Thread(target=self.sync_loop, name="sync-calls")
        thread.start()
        try:
            asyncio.run(self.async_main())
        finally:
            thread.join()
            self.client.close()
            self.guard.close()
            self.ledger.close(timeout=60)
            self.journal.write("X", self.cfg.prefix, "closed", f"{time.time():.3f}")
            self.journal.close()


def worker_main(cfg: WorkerConfig) -> None:
    logging.basicConfig(
        filename=cfg.log,
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops us by the stop file
    Worker(cfg).run()


# -- the store under test ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A ``redis-server`` of this run's own, AOF fsynced at every write."""

    kill_kind = "kill -9 of redis-server, restarted after 0.3–3 s (AOF, appendfsync always)"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0?prefix=faults&require_durable=1"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "redis.log"
        self.lock = threading.Lock()
        self.stopped = False

    def start(self) -> None:
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.directory), "--appendonly", "yes", "--appendfsync", "always",
            "--save", "", "--maxmemory-policy", "noeviction", "--logfile", str(self.log),
            "--daemonize", "no",
        ]  # fmt: skip
        with self.lock:
            if self.stopped:
                return
            self.process = process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        while not self._ready():
            with self.lock:
                if self.process is not process:  # killed while starting: restarted by its timer
                    return
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start (see {self.log})")
            time.sleep(0.02)

    def _ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")  # "-LOADING" while reading the AOF
        except OSError:
            return False

    def kill(self) -> None:
        with self.lock:
            if self.process is not None and self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.process = None

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
        self.kill()

    def tombstones(self) -> tuple[dict[str, int], int]:
        """Reservations charged in full by their lease and never corrected (id → micros), and
        how many reservations are still live."""
        import redis

        client = redis.Redis(port=self.port)
        prefix = "{faults}:r:"
        try:
            charged: dict[str, int] = {}
            for key in client.scan_iter(match=prefix + "*", count=1000):
                data, flag = client.hmget(key, ["d", "c"])
                if flag == b"1" and data is not None:
                    charged[key.decode().removeprefix(prefix)] = int(json.loads(data)[0][1])
            return charged, int(client.zcard("{faults}:leases"))
        finally:
            client.close()


class PostgresSchema:
    """A fresh schema on the shared server; its connections are what a "kill" terminates."""

    kill_kind = "pg_terminate_backend of every connection of the run (the server stays up)"

    def __init__(self, run: str) -> None:
        self.schema = f"faults_{run}"
        self.app = f"costcap_faults_{run}"
        self.url = f"{POSTGRES}?schema={self.schema}&application_name={self.app}"

    def _execute(self, sql: str, *params: str) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(sql.encode(), params)
            return cursor.fetchall() if cursor.description else []

    def start(self) -> None:
        pass

    def kill(self) -> None:
        self._execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            self.app,
        )

    def stop(self) -> None:
        self._execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def tombstones(self) -> tuple[dict[str, int], int]:
        rows = self._execute(f'SELECT id, amounts[1], charged FROM "{self.schema}".reservations')
        charged = {str(rid): int(amount) for rid, amount, flag in rows if flag}
        return charged, sum(1 for _, _, flag in rows if not flag)


# -- the parent: workers, chaos, sampling ------------------------------------------------------


@dataclass
class Event:
    at: float  # seconds from the start
    kind: str  # store_kill | worker_kill
    down_s: float = 0.0  # store_kill: how long the store stays down (redis)
    slot: int = 0  # worker_kill: which worker


def schedule(seed: int, seconds: float, workers: int) -> list[Event]:
    """Store kills and worker kills at exponential gaps, none in the first 2 s or last 3 s."""
    rng = random.Random(seed)
    events: list[Event] = []
    for kind, mean in (("store_kill", STORE_KILL_EVERY_S), ("worker_kill", WORKER_KILL_EVERY_S)):
        at = 2.0
        while True:
            at += rng.expovariate(1 / mean)
            if at > seconds - 3:
                break
            events.append(
                Event(at, kind, down_s=rng.uniform(0.3, 3.0), slot=rng.randrange(workers))
            )
    return sorted(events, key=lambda e: e.at)


class Fleet:
    """The worker processes: start, kill -9 and replace, stop."""

    def __init__(self, args: argparse.Namespace, tmp: Path, store_url: str, base_url: str,
                 limit_usd: str) -> None:  # fmt: skip
        self.args = args
        self.store_url = store_url
        self.base_url = base_url
        self.limit_usd = limit_usd
        self.ledger_path = tmp / "ledger.db"
        self.ledger_url = f"sqlite:///{self.ledger_path}"
        self.stop_file = tmp / "stop"
        self.journals = tmp / "journals"
        self.journals.mkdir()
        self.context = multiprocessing.get_context("spawn")
        self.procs: dict[int, tuple[BaseProcess, str]] = {}
        self.generation: Counter[int] = Counter()
        self.killed: list[str] = []
        self.stragglers: list[str] = []
        self.lock = threading.Lock()

    def spawn(self, slot: int) -> None:
        generation = self.generation[slot]
        self.generation[slot] += 1
        prefix = f"w{slot}g{generation}"
        cfg = WorkerConfig(
            slot=slot, generation=generation, seed=self.args.seed, store_url=self.store_url,
            ledger_url=self.ledger_url, base_url=self.base_url, lease_s=self.args.lease_s,
            limit_usd=self.limit_usd, tasks=self.args.tasks,
            journal=str(self.journals / f"{prefix}.log"),
            log=str(self.journals / f"{prefix}.stderr"), stop_file=str(self.stop_file),
        )  # fmt: skip
        proc = self.context.Process(target=worker_main, args=(cfg,), name=prefix)
        proc.start()
        self.procs[slot] = (proc, prefix)

    def kill(self, slot: int) -> None:
        with self.lock:
            proc, prefix = self.procs[slot]
            if proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, signal.SIGKILL)
            proc.join()
            self.killed.append(prefix)
            self.spawn(slot)

    def stop(self, timeout: float) -> None:
        """Ask every worker to stop and wait; one still running after ``timeout`` is killed."""
        self.stop_file.touch()
        deadline = time.monotonic() + timeout
        with self.lock:
            for proc, prefix in self.procs.values():
                proc.join(max(0.1, deadline - time.monotonic()))
                if proc.is_alive():
                    self.stragglers.append(prefix)
                    if proc.pid is not None:
                        os.kill(proc.pid, signal.SIGKILL)
                    proc.join()

    def kill_all(self) -> None:
        with contextlib.suppress(OSError):
            self.stop_file.touch()
        for proc, _ in self.procs.values():
            if proc.is_alive() and proc.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
            proc.join(5)


@dataclass
class Sampler:
    """Reads the budget every 100 ms in a thread: spent ≤ limit at all times."""

    guard: Guard
    limit: Decimal
    worst: Decimal  # one call's worst case: less room than this and the budget is full
    started: float
    count: int = 0
    unavailable: int = 0
    max_spent: Decimal = Decimal(0)
    max_held: Decimal = Decimal(0)  # spent + reserved
    over_limit: int = 0  # samples with spent > limit
    held_over_limit: int = 0  # samples with spent + reserved > limit
    first_full_s: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def loop(self) -> None:
        while not self.stop.wait(SAMPLE_EVERY_S):
            try:
                (status,) = self.guard.status()
            except Exception:  # noqa: BLE001 - StoreUnavailable, a reset mid-read: counted
                self.unavailable += 1
                continue
            spent, held = status["spent_usd"], status["spent_usd"] + status["reserved_usd"]
            self.count += 1
            self.max_spent = max(self.max_spent, spent)
            self.max_held = max(self.max_held, held)
            self.over_limit += spent > self.limit
            self.held_over_limit += held > self.limit
            if self.first_full_s is None and self.limit - held < self.worst:
                self.first_full_s = time.monotonic() - self.started


# -- reconciliation ----------------------------------------------------------------------------


@dataclass
class CallTrace:
    call_id: str
    kind: str = ""
    reservation: str | None = None
    reserved_micros: int = 0
    outcome: str | None = None  # None: never ended (its worker was killed)


@dataclass
class LedgerRow:
    request_id: str
    status: str
    user_id: str
    cost_pico: int
    refused_by: str | None
    input_tokens: int
    output_tokens: int


def read_journals(directory: Path) -> tuple[dict[str, CallTrace], set[str]]:
    calls: dict[str, CallTrace] = {}
    closed: set[str] = set()
    for path in sorted(directory.glob("*.log")):
        for line in path.read_text().splitlines():
            parts = line.split(" ")
            if len(parts) != 4:
                continue
            step, name = parts[0], parts[1]
            if step == "S":
                calls[name] = CallTrace(name, parts[2])
            elif step == "A" and name in calls:
                calls[name].reservation = parts[2]
                calls[name].reserved_micros = int(parts[3])
            elif step == "E" and name in calls:
                calls[name].outcome = parts[2]
            elif step == "X":
                closed.add(name)
    return calls, closed


def read_ledger(path: Path) -> list[LedgerRow]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT request_id, status, user_id, cost_pico, refused_by, input_tokens,"
            " output_tokens FROM costcap_events"
        ).fetchall()
    finally:
        conn.close()
    return [LedgerRow(r[0], r[1], r[2] or "-", int(r[3]), r[4], r[5], r[6]) for r in rows]


def log_summary(directory: Path) -> Counter[str]:
    """Worker log records (WARNING and above) by level, logger and their first words."""
    found: Counter[str] = Counter()
    for path in directory.glob("*.stderr"):
        for line in path.read_text(errors="replace").splitlines():
            parts = line.split(" ", 5)
            if len(parts) == 6 and parts[2] in ("WARNING", "ERROR", "CRITICAL"):
                words = HEX_ID.sub("<id>", " ".join(parts[5].split()[:7]))
                found[f"{parts[2]} {parts[3]}: {words} …"] += 1
    return found


def usd(pico: int) -> str:
    return f"${Decimal(pico) / 10**12:.6f}"


def micros_usd(micros: int) -> str:
    return f"${Decimal(micros) / 10**6:.6f}"


@dataclass
class Outcome:
    """What the run left behind, for :class:`Reconciliation`."""

    args: argparse.Namespace
    fleet: Fleet
    store_kind: str
    requests: Sequence[ServedRequest]
    ledger: list[LedgerRow]
    tombstones: dict[str, int]  # reservations charged by their lease: id → micros
    live_reservations: int
    expired_at_end: int
    final: BudgetStatus
    sampler: Sampler
    store_kills: int
    limit: Decimal
    drained: bool
    meta: dict[str, str]


class Reconciliation:
    """Every call followed by its id through the journal, the provider and the ledger."""

    def __init__(self, out: Outcome) -> None:
        self.out = out
        catalog = costcap.default_catalog()
        self.price = catalog.resolve(MODEL)
        self.calls, self.closed = read_journals(out.fleet.journals)
        self.killed = set(out.fleet.killed) | set(out.fleet.stragglers)
        self.requests: dict[str, list[ServedRequest]] = defaultdict(list)
        self.unkeyed = 0
        for req in out.requests:
            if req.request_key is None:
                self.unkeyed += 1
            else:
                self.requests[req.request_key].append(req)
        self.rows: dict[str, list[LedgerRow]] = defaultdict(list)
        for row in out.ledger:
            self.rows[row.user_id].append(row)
        self.by_request = {row.request_id: row for row in out.ledger}
        self.cats: Counter[str] = Counter()
        self.cat_pico: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # provider, ledger
        self.killed_billed = [0, 0]  # calls, pico: billed, unrecorded, in flight at a kill
        self.killed_charged = [0, 0]  # calls, micros: … whose reservation the lease charged
        self.lost_billed = [0, 0, 0]  # calls, pico billed, pico recorded: billed, recorded lost
        self.lost_unbilled = [0, 0]  # calls, pico recorded: recorded lost, nothing billed
        self.lost_off = 0  # lost rows whose cost is not the lease's charge
        self.killed_unlinked = 0  # … killed before the journal linked call and reservation
        self.unsent = Counter[str]()  # admitted, never sent nor recorded: released / charged
        self.under: list[tuple[int, str]] = []  # (pico under, what)
        self.unexplained: list[str] = []
        self.failures: list[str] = []
        self.lines: list[str] = []
        self.billed_usd = Decimal(0)
        for call_id in sorted(set(self.calls) | set(self.requests) | set(self.rows) - {"-"}):
            self.classify(call_id)

    def pico(self, req: ServedRequest) -> int:
        if not req.billed:
            return 0
        usage = Usage(input_tokens=req.input_tokens, output_tokens=req.output_tokens)
        return self.price.cost(usage).total_pico

    def put(self, cat: str, provider: int, ledger: int) -> None:
        self.cats[cat] += 1
        self.cat_pico[cat][0] += provider
        self.cat_pico[cat][1] += ledger

    def classify(self, call_id: str) -> None:
        trace = self.calls.get(call_id)
        reqs = self.requests.get(call_id, [])
        rows = self.rows.get(call_id, [])
        billed = sum(self.pico(r) for r in reqs)
        recorded = sum(r.cost_pico for r in rows)
        why = trace.outcome if trace is not None and trace.outcome else "?"
        worker = call_id.partition("-")[0]
        in_flight_at_kill = worker in self.killed and (trace is None or trace.outcome is None)
        if rows and rows[0].status == "lost":
            self.lost_row(call_id, trace, rows[0], billed, in_flight_at_kill)
        elif rows and rows[0].status == "refused":
            if reqs:
                self.unexplained.append(f"{call_id}: refused in the ledger, yet sent")
            self.put("refused" + (", YET SENT" if reqs else " (nothing sent)"), billed, recorded)
        elif any(r.billed for r in reqs) and rows:
            if recorded == billed:
                self.put("billed and recorded: equal", billed, recorded)
            elif recorded > billed:
                self.put(f"billed and recorded: ledger above provider ({why})", billed, recorded)
            else:
                self.put(f"billed and recorded: ledger BELOW provider ({why})", billed, recorded)
                req = reqs[0]
                self.under.append((billed - recorded,
                    f"{call_id} ({trace.kind if trace else '?'}, {why}, {rows[0].status}): "
                    f"provider {req.input_tokens} in + {req.output_tokens} out "
                    f"(disconnect {req.disconnect}), ledger {rows[0].input_tokens} in + "
                    f"{rows[0].output_tokens} out, {usd(recorded)} vs {usd(billed)}"
                ))  # fmt: skip
        elif any(r.billed for r in reqs):
            self.billed_unrecorded(call_id, trace, billed, in_flight_at_kill)
        elif rows:
            cost = "with a cost" if recorded else "at $0"
            self.put(f"recorded {cost}, nothing billed ({rows[0].status}, {why})", 0, recorded)
        elif reqs:
            self.put(f"sent, nothing billed, not recorded ({why})", 0, 0)
        else:
            self.put(f"never sent, not recorded ({'killed' if in_flight_at_kill else why})", 0, 0)
            if trace is not None and trace.reservation is not None and not in_flight_at_kill:
                charged = trace.reservation in self.out.tombstones
                self.unsent["charged by the lease" if charged else "released"] += 1

    def lost_row(
        self,
        call_id: str,
        trace: CallTrace | None,
        row: LedgerRow,
        billed: int,
        in_flight_at_kill: bool,
    ) -> None:
        """A call the ledger recorded lost: in flight in a killed worker, charged what its
        reservation's lease charged the budget."""
        where = "in flight in a killed worker" if in_flight_at_kill else "ITS WORKER LIVED"
        what = "billed" if billed else "nothing billed"
        self.put(f"{what}, recorded lost: {where} (at the lease's charge)", billed, row.cost_pico)
        if not in_flight_at_kill:
            self.unexplained.append(f"{call_id}: recorded lost, yet its call had returned")
        if billed:
            self.lost_billed[0] += 1
            self.lost_billed[1] += billed
            self.lost_billed[2] += row.cost_pico
        else:
            self.lost_unbilled[0] += 1
            self.lost_unbilled[1] += row.cost_pico
        reservation = trace.reservation if trace is not None else None
        charged = self.out.tombstones.get(reservation) if reservation is not None else None
        if charged is None or charged * 10**6 != row.cost_pico:
            self.lost_off += 1

    def billed_unrecorded(
        self, call_id: str, trace: CallTrace | None, billed: int, in_flight_at_kill: bool
    ) -> None:
        if not in_flight_at_kill:
            killed = call_id.partition("-")[0] in self.killed
            where = "its worker killed later" if killed else "its worker closed cleanly"
            what = f"{trace.kind}, {trace.outcome}" if trace is not None else "?"
            self.put(f"billed, NOT recorded though the call had returned ({what}; {where})",
                     billed, 0)  # fmt: skip
            reservation = trace.reservation if trace is not None else None
            lease = "charged by the lease" if reservation in self.out.tombstones else "NOT charged"
            self.unexplained.append(
                f"{call_id} ({what}): billed {usd(billed)}, no ledger row though the call had "
                f"returned, {where}; its reservation {reservation} {lease}"
            )
            return
        self.put("billed, not recorded: in flight in a killed worker", billed, 0)
        self.killed_billed[0] += 1
        self.killed_billed[1] += billed
        if trace is None or trace.reservation is None:
            self.killed_unlinked += 1
        elif trace.reservation in self.out.tombstones:
            self.killed_charged[0] += 1
            self.killed_charged[1] += self.out.tombstones[trace.reservation]

    # -- the write-up

    def add(self, text: str = "") -> None:
        self.lines.append(text)

    def table(self, header: tuple[str, ...], rows: Sequence[Sequence[object]]) -> None:
        self.add("| " + " | ".join(header) + " |")
        self.add("|---|" + "---:|" * (len(header) - 1))
        for row in rows:
            self.add("| " + " | ".join(str(cell) for cell in row) + " |")
        self.add()

    def write(self) -> list[str]:
        out, args = self.out, self.out.args
        self.add(f"### seed {args.seed}, {args.backend}: {out.meta['when']}")
        self.add()
        self.add(f"Command: `{out.meta['command']}`  ")
        self.add(f"Code: {out.meta['code']}  ")
        self.add(
            f"{args.workers} workers × (1 sync thread + {args.tasks} asyncio tasks), "
            f"{args.seconds:g} s of calls, {MODEL}, max_tokens {MAX_TOKENS}, lease "
            f"{args.lease_s:g} s, hard global budget ${out.limit} (day). Store kill: "
            f"{out.store_kind}."
        )
        self.add()
        outcomes = Counter(c.outcome or "in flight at a kill" for c in self.calls.values())
        self.table(("fault", "count"), [
            (f"store kills ({args.backend})", out.store_kills),
            ("worker kills (kill -9, replaced at once)", len(out.fleet.killed)),
            ("cancellations (asyncio.wait_for timeouts that fired)", outcomes["cancelled"]),
            ("streams abandoned by the caller", outcomes["abandoned"]),
            ("workers that did not stop within 90 s (killed)", len(out.fleet.stragglers)),
        ])  # fmt: skip
        self.figures()
        self.add("Every call, followed by its id through the provider's record and the ledger:")
        self.add()
        self.table(("call", "calls", "provider $", "ledger $"), [
            (cat, f"{n:,}", usd(self.cat_pico[cat][0]), usd(self.cat_pico[cat][1]))
            for cat, n in self.cats.most_common()
        ])  # fmt: skip
        self.explain()
        self.budget()
        self.add(
            "Worker outcomes: " + ", ".join(f"{k} {v:,}" for k, v in outcomes.most_common()) + "."
        )
        kinds = Counter(c.kind for c in self.calls.values())
        self.add("Calls: " + ", ".join(f"{k} {v:,}" for k, v in sorted(kinds.items())) + ".")
        self.add(f"Workers closed cleanly: {len(self.closed)}; killed: {len(self.killed)}.")
        logs = log_summary(out.fleet.journals)
        if logs:
            self.add()
            self.add("Worker log records (WARNING and above), by logger and first words:")
            self.add()
            for text, n in logs.most_common(10):
                self.add(f"- {n:,} × {text}")
        self.checks()
        return self.lines

    def figures(self) -> None:
        out = self.out
        billed = [r for r in out.requests if r.billed]
        billed_pico = sum(self.pico(r) for r in billed)
        ledger_pico = sum(r.cost_pico for r in out.ledger)
        statuses = Counter(r.status for r in out.ledger)
        status_pico: Counter[str] = Counter()
        for row in out.ledger:
            status_pico[row.status] += row.cost_pico
        refusals = Counter(r.refused_by or "?" for r in out.ledger if r.status == "refused")
        spent = out.final["spent_usd"]
        admitted = sum(1 for c in self.calls.values() if c.reservation is not None)
        rows: list[tuple[object, ...]] = [
            ("calls started by workers", f"{len(self.calls):,}", ""),
            ("… admitted by the store", f"{admitted:,}", ""),
            ("requests the provider received", f"{len(out.requests):,}", ""),
            ("**billed by the provider**", f"**{len(billed):,}**", f"**{usd(billed_pico)}**"),
            ("**ledger rows**", f"**{len(out.ledger):,}**", f"**{usd(ledger_pico)}**"),
        ]
        rows += [(f"… {s}", f"{statuses[s]:,}", usd(status_pico[s]))
                 for s in ("ok", "cut", "error", "lost", "refused")]  # fmt: skip
        rows += [(f"… … refused by {k}", f"{n:,}", "") for k, n in sorted(refusals.items())]
        rows += [
            ("ledger − provider", "", usd(ledger_pico - billed_pico)),
            ("store spent at the end (after expiry)", "", f"${spent:.6f}"),
            ("… of which reservations charged in full by their lease",
             f"{len(out.tombstones):,}", micros_usd(sum(out.tombstones.values()))),
            ("store spent − provider billed", "", f"${spent - Decimal(billed_pico) / 10**12:.6f}"),
            ("store spent − ledger", "", f"${spent - Decimal(ledger_pico) / 10**12:.6f}"),
        ]  # fmt: skip
        self.billed_usd = Decimal(billed_pico) / 10**12
        self.table(("figure", "count", "$"), rows)
        if spent < Decimal(billed_pico) / 10**12:
            self.failures.append("the store counted less than the provider billed")

    def explain(self) -> None:
        out = self.out
        with_row = {
            rid: m
            for rid, m in out.tombstones.items()
            if rid in self.by_request and self.by_request[rid].status != "lost"
        }
        lost_rows = sum(1 for r in out.ledger if r.status == "lost")
        statuses = Counter(self.by_request[rid].status for rid in with_row)
        over = sum(m - -(-self.by_request[rid].cost_pico // 10**6) for rid, m in with_row.items())
        not_charged = self.killed_billed[0] - self.killed_charged[0] - self.killed_unlinked
        from_killed = sum(1 for r in out.ledger if r.user_id.partition("-")[0] in self.killed)
        self.add(
            f"- Billed while in flight in a worker killed with `kill -9` (between admission and "
            f"the call's event: before, during or after the provider's answer) and recorded "
            f"`lost` by a Ledger once the lease and the grace were over: "
            f"**{self.lost_billed[0]}** calls, {usd(self.lost_billed[1])} billed, recorded at "
            f"{usd(self.lost_billed[2])} — the reservations their leases charged the budget "
            f"({self.lost_off} lost rows differ from the lease's charge). Recorded lost though "
            f"the provider billed nothing (killed before the request was answered or counted): "
            f"{self.lost_unbilled[0]}, {usd(self.lost_unbilled[1])}."
        )
        self.add(
            f"- Billed but not recorded because their worker was killed with the call in flight: "
            f"**{self.killed_billed[0]}** calls, {usd(self.killed_billed[1])} billed. Their "
            f"reservation was charged in full by the lease for **{self.killed_charged[0]}** of "
            f"them ({micros_usd(self.killed_charged[1])}); {self.killed_unlinked} were killed "
            f"before the journal linked call and reservation; {not_charged} were not charged."
        )
        self.add(
            f"- Reservations charged by their lease: {len(out.tombstones) - len(with_row)} "
            f"without an event of their call ({lost_rows} of them recorded lost: calls of "
            f"killed workers), {len(with_row)} with one "
            f"({', '.join(f'{k} {v}' for k, v in sorted(statuses.items())) or 'none'}): the "
            f"settle did not reach the store (down at that moment) and costcap does not retry "
            f"it, so the full reservation stands — {micros_usd(over)} above what the ledger "
            f"recorded for those calls."
        )
        self.add(
            f"- Admitted but neither sent nor recorded outside killed workers (cancelled during "
            f"admission): {self.unsent['released']} released, "
            f"{self.unsent['charged by the lease']} charged by the lease."
        )
        self.add(
            f"- Ledger rows of workers later killed: {from_killed:,} (drained by the worker "
            f"itself, or adopted from its spool by the next Ledger on the file)."
        )
        self.add()
        if not_charged:
            self.failures.append(f"{not_charged} calls billed, unrecorded and not charged")
        if self.killed_billed[0]:
            self.failures.append(f"{self.killed_billed[0]} calls billed and not in the ledger")
        if self.lost_off:
            self.failures.append(f"{self.lost_off} lost rows not at their lease's charge")

    def budget(self) -> None:
        out, s = self.out, self.out.sampler
        limit = out.limit
        spent, reserved = out.final["spent_usd"], out.final["reserved_usd"]
        full = f"{s.first_full_s:.1f} s" if s.first_full_s is not None else "never"
        self.table(("budget check", "value"), [
            ("limit", f"${limit}"),
            ("samples of the store (every 100 ms)", f"{s.count:,}"),
            ("… the store unavailable", f"{s.unavailable:,}"),
            ("max spent seen", f"${s.max_spent} ({s.max_spent / limit:.1%})"),
            ("max spent + reserved seen", f"${s.max_held} ({s.max_held / limit:.1%})"),
            ("samples with spent > limit", s.over_limit),
            ("samples with spent + reserved > limit", s.held_over_limit),
            ("budget full (less room than one call's worst case) from", full),
            ("spent at the end", f"${spent} ({spent / limit:.1%})"),
            ("billed by the provider (the real spend)",
             f"${self.billed_usd:.6f} ({self.billed_usd / limit:.1%})"),
            ("reservations expired by `expire()` after waiting past the lease", out.expired_at_end),
            ("**reserved after the lease** (`guard.status()`)", f"**${reserved}**"),
            ("live reservations left in the store", out.live_reservations),
        ])  # fmt: skip
        if self.billed_usd > limit:
            self.failures.append(f"the provider billed ${self.billed_usd:.6f} > limit ${limit}")
        if s.over_limit or spent > limit:
            self.failures.append(f"spent passed the hard limit: max ${s.max_spent} > ${limit}")
        if reserved != 0 or out.live_reservations:
            self.failures.append(f"${reserved} still reserved after the lease")

    def checks(self) -> None:
        duplicated = sum(1 for reqs in self.requests.values() if len(reqs) > 1)
        doubled = sum(1 for rows in self.rows.values() if len(rows) > 1)
        if duplicated or doubled or self.unkeyed:
            self.failures.append(
                f"{duplicated} calls with several provider requests, {doubled} with several "
                f"ledger rows, {self.unkeyed} requests without a call id"
            )
        if self.unexplained:
            self.failures.append(f"{len(self.unexplained)} unexplained: {self.unexplained[:5]}")
        if self.under:
            lost = sum(p - led for cat, (p, led) in self.cat_pico.items() if "BELOW" in cat)
            worst = [text for _, text in sorted(self.under, reverse=True)[:3]]
            self.failures.append(
                f"{len(self.under)} recorded calls cost less in the ledger than the provider "
                f"billed ({usd(lost)} in all); the largest: " + "; ".join(worst)
            )
        if not self.out.drained:
            self.failures.append("the last Ledger could not drain every spool in 120 s")
        self.add()
        if self.failures:
            self.add("**Checks that failed:**")
            self.add()
            self.lines.extend(f"- {failure}" for failure in self.failures)
        else:
            self.add("**Every check passed.**")
        self.add()


# -- main --------------------------------------------------------------------------------------


def code_version() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "src"], capture_output=True,
                               text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    changed = len(dirty.splitlines())
    return f"commit {head}" + (f" + {changed} uncommitted file(s) in src/" if changed else "")


class Chaos:
    """Runs the schedule; every process and server it starts is stopped by :meth:`close`."""

    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.store: RedisServer | PostgresSchema = (
            RedisServer(tmp) if args.backend == "redis"
            else PostgresSchema(f"{os.getpid()}_{int(time.time())}")
        )  # fmt: skip
        self.store_kills = 0
        self.restarts: list[threading.Timer] = []
        self.stop = threading.Event()

    def run(self, fleet: Fleet, events: list[Event], started: float) -> None:
        down_until = 0.0
        for event in events:
            if self.stop.wait(max(0.0, started + event.at - time.monotonic())):
                return
            if event.kind == "worker_kill":
                fleet.kill(event.slot)
            elif isinstance(self.store, RedisServer):
                if time.monotonic() < down_until:
                    continue  # still down from the last kill
                self.store.kill()
                self.store_kills += 1
                down_until = time.monotonic() + event.down_s
                restart = threading.Timer(event.down_s, self.store.start)
                restart.start()
                self.restarts.append(restart)
            else:
                self.store.kill()
                self.store_kills += 1
        self.stop.wait(max(0.0, started + self.args.seconds - time.monotonic()))
        for restart in self.restarts:
            restart.join()

    def close(self) -> None:
        self.stop.set()
        for restart in self.restarts:
            restart.cancel()
            restart.join()
        self.store.stop()


def default_limit(args: argparse.Namespace) -> Decimal:
    if args.limit_usd != "auto":
        return Decimal(args.limit_usd)
    callers = int(args.workers) * (1 + int(args.tasks))
    return (USD_PER_CALLER_S * callers * Decimal(str(args.seconds)) / 2).quantize(Decimal("0.01"))


def run(args: argparse.Namespace, tmp: Path, chaos: Chaos) -> Outcome:
    limit = default_limit(args)
    worst = Decimal(costcap.default_catalog().resolve(MODEL).total_pico(
        LONGEST_PROMPT, MAX_TOKENS)) / 10**12  # fmt: skip
    budget = Budget(scope="global", period="day", limit_usd=str(limit), name="hard-global")
    store = chaos.store
    store.start()
    fleet: Fleet | None = None
    with run_fake_provider(FakeProviderConfig(models=(MODEL,))) as fp:
        # it drops some streams on purpose (x-fake-disconnect-after); uvicorn logs each one
        logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
        guard = Guard(store.url, budgets=[budget], lease_s=args.lease_s, notifiers=[])
        try:
            guard.status()  # creates the schema (postgres) before the workers race for it
            fleet = Fleet(args, tmp, store.url, fp.openai_base_url, str(limit))
            events = schedule(args.seed, args.seconds, args.workers)
            for slot in range(args.workers):
                fleet.spawn(slot)
            started = time.monotonic()
            sampler = Sampler(guard, limit, worst, started)
            sampling = threading.Thread(target=sampler.loop, daemon=True)
            sampling.start()
            print(f"# {args.seconds:g} s, {len(events)} faults scheduled, limit ${limit}",
                  flush=True)  # fmt: skip
            try:
                chaos.run(fleet, events, started)
                print("# stopping the workers", flush=True)
                fleet.stop(timeout=90)
            finally:
                fleet.kill_all()
            stopped = time.monotonic()
            # past the lease and the grace: the calls of killed workers are lost by now
            time.sleep(max(0.0, stopped + args.lease_s + LEDGER_GRACE_S + 1.0 - time.monotonic()))
            last = Ledger(fleet.ledger_url, lease_grace_s=LEDGER_GRACE_S)  # adopts every spool
            drained = last.flush(timeout=120)
            last.close(timeout=60)
            sweep = open_sink(fleet.ledger_url)  # and a last sweep, as its drain makes
            try:
                sweep.convert_lost(datetime.now(UTC) - timedelta(seconds=LEDGER_GRACE_S))
            finally:
                sweep.close()
            expired = guard.store.expire()
            sampler.stop.set()
            sampling.join()
            (final,) = guard.status()
            tombstones, live = store.tombstones()
            requests = fp.requests
        finally:
            guard.close()
    meta = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": ".venv/bin/python benchmarks/bench_faults.py " + " ".join(sys.argv[1:]),
        "code": f"{code_version()}; Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, redis-server on PATH, PostgreSQL at 127.0.0.1:5432",
    }
    return Outcome(
        args=args, fleet=fleet, store_kind=store.kill_kind, requests=requests,
        ledger=read_ledger(fleet.ledger_path), tombstones=tombstones, live_reservations=live,
        expired_at_end=expired, final=final, sampler=sampler, store_kills=chaos.store_kills,
        limit=limit, drained=drained, meta=meta,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fault injection: calls reconciled after chaos")
    parser.add_argument("--seconds", type=float, default=90.0, help="how long calls run")
    parser.add_argument("--workers", type=int, default=3, help="worker processes")
    parser.add_argument("--tasks", type=int, default=3, help="asyncio tasks per worker")
    parser.add_argument("--seed", type=int, default=1, help="the schedule's and calls' seed")
    parser.add_argument("--backend", choices=("redis", "postgres"), default="redis")
    parser.add_argument("--lease-s", type=float, default=4.0)
    parser.add_argument("--limit-usd", default="auto", help="the hard global budget")
    parser.add_argument("--write", help="append the run's markdown section to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.backend == "redis" and shutil.which("redis-server") is None:
        parser.error("redis-server is not on PATH")
    tmp = Path(tempfile.mkdtemp(prefix="costcap-faults-"))
    chaos = Chaos(args, tmp)
    try:
        reconciliation = Reconciliation(run(args, tmp, chaos))  # reads the journals in tmp
        text = "\n".join(reconciliation.write())
    finally:
        chaos.close()
        if args.keep:
            print(f"# kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(text)
    if args.write:
        with Path(args.write).open("a") as out:
            out.write("\n" + text)
        print(f"# appended to {args.write}")
    return 1 if reconciliation.failures else 0


if __name__ == "__main__":
    sys.exit(main())
