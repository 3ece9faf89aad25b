"""The store dies between admission and settle: the caller still gets the answer it paid for,
and the ledger still records what the provider billed (the store's counters are left to the
lease). A redis-server process of the test's own is killed (SIGKILL) while the request is on
its way to the fake provider, through the real SDKs."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from costcap import AsyncGuard, Budget, Guard
from costcap.integrations.wrap import wrap
from costcap.ledger import Ledger
from costcap.pricing import default_catalog
from costcap.testing import FakeProviderServer, run_fake_provider
from tests.integrations.openai_sdk.conftest import MESSAGES, MODEL
from tests.services import OwnRedis

CLAUDE = "claude-haiku-4-5"


class KillOnSend(httpx2.BaseTransport):
    """Kills the store's Redis as the request leaves: after admission, before the answer."""

    def __init__(self, redis: OwnRedis) -> None:
        self.redis = redis
        self.inner = httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        self.redis.kill()
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class AsyncKillOnSend(httpx2.AsyncBaseTransport):
    def __init__(self, redis: OwnRedis) -> None:
        self.redis = redis
        self.inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.redis.kill()
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(str(tmp_path))
    yield server
    server.kill()


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeProviderServer]:
    with run_fake_provider() as server:
        yield server


@pytest.fixture
def fp(fake_server: FakeProviderServer) -> FakeProviderServer:
    fake_server.reset()
    return fake_server


def budgets() -> list[Budget]:
    return [Budget(scope="global", period="day", limit_usd=10)]


def billed_pico(fp: FakeProviderServer) -> int:
    """What the fake provider billed, priced from its own record (not from costcap's events)."""
    catalog = default_catalog()
    usage = [
        (r.model or MODEL, {"input_tokens": r.input_tokens, "output_tokens": r.output_tokens})
        for r in fp.requests
        if r.billed
    ]
    return sum(catalog.cost(model, counts).total_pico for model, counts in usage)


def ledger_rows(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT status, cost_pico FROM costcap_events").fetchall()


def test_a_chat_call_is_answered_and_recorded_when_redis_dies_mid_call(
    redis: OwnRedis, fp: FakeProviderServer, tmp_path: Path
) -> None:
    """Redis is killed after admission: the wrapped call returns the provider's answer (no
    StoreUnavailable), and the ledger holds one ok row at exactly what the provider billed."""
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", spool_dir=tmp_path / "spool")
    guard = Guard(redis.url, budgets=budgets(), observers=[ledger], notifiers=[])
    http = httpx2.Client(transport=KillOnSend(redis))
    bare = openai.OpenAI(base_url=fp.openai_base_url, api_key="sk-test", http_client=http)
    with wrap(bare, guard=guard) as client:
        answer = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert answer.choices[0].message.content
    ledger.close()
    assert ledger_rows(tmp_path / "ledger.db") == [("ok", billed_pico(fp))]
    assert billed_pico(fp) > 0


def test_a_stream_read_to_the_end_is_recorded_when_redis_dies_mid_call(
    redis: OwnRedis, fp: FakeProviderServer, tmp_path: Path
) -> None:
    """The same for a stream read to its end: every chunk reaches the caller, and its cost."""
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", spool_dir=tmp_path / "spool")
    guard = Guard(redis.url, budgets=budgets(), observers=[ledger], notifiers=[], fail_open=True)
    http = httpx2.Client(transport=KillOnSend(redis))
    bare = openai.OpenAI(base_url=fp.openai_base_url, api_key="sk-test", http_client=http)
    with wrap(bare, guard=guard) as client:
        stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == fp.last.output_text
    ledger.close()
    assert ledger_rows(tmp_path / "ledger.db") == [("ok", billed_pico(fp))]


async def test_an_async_anthropic_call_is_recorded_when_redis_dies_mid_call(
    redis: OwnRedis, fp: FakeProviderServer, tmp_path: Path
) -> None:
    """An AsyncAnthropic call through an AsyncGuard: answered, and recorded at its cost."""
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", spool_dir=tmp_path / "spool")
    guard = AsyncGuard(redis.url, budgets=budgets(), observers=[ledger], notifiers=[])
    http = httpx2.AsyncClient(transport=AsyncKillOnSend(redis))
    bare = anthropic.AsyncAnthropic(
        base_url=fp.anthropic_base_url, api_key="sk-ant-test", http_client=http
    )
    async with wrap(bare, guard=guard) as client:
        message = await client.messages.create(
            model=CLAUDE, max_tokens=50, messages=[{"role": "user", "content": "Say hello."}]
        )
    assert message.content
    await guard.close()
    ledger.close()
    catalog = default_catalog()
    [request] = fp.requests
    billed = catalog.cost(
        CLAUDE, {"input_tokens": request.input_tokens, "output_tokens": request.output_tokens}
    ).total_pico
    assert ledger_rows(tmp_path / "ledger.db") == [("ok", billed)]
