"""Three ``costcap serve`` processes on one Redis (budgets, limits) and one PostgreSQL (ledger,
keys) enforce budgets and limits exactly as one: 2,000 concurrent requests from 50 virtual keys
— 20 limited to 5 requests a minute, 20 to $0.00008 a day, 10 free, all under one global
budget that runs out — pass no budget by a micro-dollar and no limit by a request, and the
ledger equals what the fake provider billed, to the picodollar."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from costcap.gateway.keys import open_key_store, parse_key_spec
from costcap.testing import FakeProviderServer, run_fake_provider
from tests.services import drop_postgres_schema, drop_redis_prefix, postgres_url, redis_url
from tests.waiting import wait_for

PROCESSES = 3
KEYS = 50
REQUESTS = 2000
LIMITED_KEYS, BUDGET_KEYS = range(0, 20), range(20, 40)  # keys 40-49 have neither
LIMITED = 5  # requests a minute
KEY_BUDGET_MICROS = 80  # $0.00008 a day: 5 calls reserving 14 µ$ (13.2 µ$ billed) each
GLOBAL_MICROS = 5_000  # $0.005 a day: ~357 calls, fewer than the keys ask for
MINI_IN, MINI_OUT = 150_000, 600_000  # gpt-4o-mini, picodollars per token
BODY = {"model": "gpt-4o-mini", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def shared() -> Iterator[tuple[str, str]]:
    """A Redis prefix and a PostgreSQL schema of this test's own."""
    redis, postgres = redis_url(), postgres_url()
    yield redis, postgres
    drop_redis_prefix(redis)
    drop_postgres_schema(postgres)


def _config(tmp: Path, fp: FakeProviderServer, redis: str, postgres: str) -> Path:
    config = tmp / "costcap.toml"
    config.write_text(f"""
[guard]
store = "{redis}"
[ledger]
url = "{postgres}"
[[budgets]]
scope = "global"
period = "day"
limit_usd = {GLOBAL_MICROS / 1_000_000}
[gateway]
keys = "{postgres}"
[gateway.upstreams.openai]
base_url = "{fp.openai_base_url}"
""")
    return config


def _serve(config: Path, port: int, spool: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OPENAI_API_KEY": "sk-upstream"}
    return subprocess.Popen(
        [sys.executable, "-m", "costcap", "serve", "--config", str(config), "--port", str(port)],
        env=env, cwd=spool, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def _up(server: subprocess.Popen[bytes], port: int) -> bool:
    assert server.poll() is None, "a gateway process exited at start"
    return _ready(port)


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


async def _storm(ports: list[int], secrets: list[str]) -> list[tuple[int, int]]:
    """Every request at once: (key index, status) for each."""
    limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        start = asyncio.Event()

        async def one(index: int) -> tuple[int, int]:
            key = index % KEYS
            port = ports[index % len(ports)]
            await start.wait()
            answer = await client.post(
                f"http://127.0.0.1:{port}/v1/chat/completions", json=BODY,
                headers={"authorization": f"Bearer {secrets[key]}"},
            )  # fmt: skip
            return key, answer.status_code

        tasks = [asyncio.create_task(one(i)) for i in range(REQUESTS)]
        await asyncio.sleep(0)
        start.set()
        return await asyncio.gather(*tasks)


def test_three_gateways_on_redis_and_postgres_hold_every_budget_and_limit_exactly(
    tmp_path: Path, shared: tuple[str, str]
) -> None:
    redis, postgres = shared
    with run_fake_provider() as fp:
        config = _config(tmp_path, fp, redis, postgres)
        store = open_key_store(postgres)
        made = []
        for index in range(KEYS):
            spec = parse_key_spec(
                user=f"user{index}", feature="storm",
                limits=(f"{LIMITED}/minute",) if index in LIMITED_KEYS else (),
                budgets=(f"${KEY_BUDGET_MICROS / 1_000_000}/day",) if index in BUDGET_KEYS else (),
            )  # fmt: skip
            made.append(store.create(spec))
        store.close()
        ports = [_free_port() for _ in range(PROCESSES)]
        servers = [_serve(config, port, tmp_path) for port in ports]
        try:
            for server, port in zip(servers, ports, strict=True):
                wait_for(functools.partial(_up, server, port), timeout=60)
            results = asyncio.run(_storm(ports, [secret for _, secret in made]))
        finally:
            for server in servers:
                server.send_signal(signal.SIGTERM)  # drains each ledger before exiting
            for server in servers:
                _, err = server.communicate(timeout=60)
                # uvicorn shuts down gracefully, then re-raises the signal it caught
                assert server.returncode in (0, -signal.SIGTERM), err.decode()[-2000:]
        statuses = Counter(status for _, status in results)
        assert set(statuses) <= {200, 402, 429}, statuses
        served = [r for r in fp.requests if r.billed]
    ok_by_key = Counter(key for key, status in results if status == 200)
    ids = [key.id for key, _ in made]
    with psycopg.connect(postgres.partition("?schema=")[0]) as conn:
        schema = postgres.partition("?schema=")[2]
        rows = conn.execute(
            f'SELECT api_key_id, status, input_tokens, output_tokens, cost_pico '
            f'FROM "{schema}".costcap_events WHERE status = %s', ["ok"]
        ).fetchall()  # fmt: skip
    # every answered call is in the ledger, at exactly what the provider billed
    assert len(rows) == statuses[200] == len(served)
    billed = sum(r.input_tokens * MINI_IN + r.output_tokens * MINI_OUT for r in served)
    assert sum(row[4] for row in rows) == billed
    spent: Counter[str] = Counter()
    for key_id, _, _, _, cost in rows:
        spent[key_id] += cost
    # the global budget bit, and held to the micro-dollar
    assert statuses[402] > 0
    assert billed <= GLOBAL_MICROS * 10**6
    for index in LIMITED_KEYS:
        assert ok_by_key[index] <= LIMITED, (ids[index], ok_by_key[index])
    for index in BUDGET_KEYS:
        assert spent[ids[index]] <= KEY_BUDGET_MICROS * 10**6, (ids[index], spent[ids[index]])
    # each kind of rule was reached: a key limit, a key budget, the global budget
    assert statuses[429] > 0
    assert max(ok_by_key[i] for i in LIMITED_KEYS) == LIMITED
    assert max(spent[ids[i]] for i in BUDGET_KEYS) >= 5 * 13_200_000  # 5 calls fit in each
    assert billed > (GLOBAL_MICROS - 14 * 50) * 10**6
