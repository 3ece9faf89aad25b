"""The real ``anthropic`` SDK, wrapped by costcap, against the fake provider over HTTP.

One fake provider for the session (reset before each test); a Guard on ``memory://`` with one
global budget (so reservations show in ``guard.status()``) and a :class:`Recorder` observer.
Every scenario compares what the fake provider BILLED (its own record, priced) with what
costcap RECORDED (the CostEvents), to the picodollar.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.types import MessageParam

from costcap import AsyncGuard, Budget, Guard, Policy
from costcap.cache import AsyncResponseCache, ResponseCache
from costcap.integrations.wrap import wrap
from costcap.ledger import CostEvent
from costcap.pricing import default_catalog
from costcap.testing import FakeProviderConfig, FakeProviderServer, run_fake_provider
from tests.services import redis_url
from tests.waiting import wait_for

MODEL = "claude-haiku-4-5"
MESSAGES: list[MessageParam] = [{"role": "user", "content": "Say hello."}]
POOR = Budget(scope="global", period="day", limit_usd="0.000001")  # covers no call
SLOW = {"x-fake-chunk-delay-ms": "50"}  # paced chunks: a disconnect lands between two of them
FULL = 20  # the fake provider's default output length, in tokens
HAIKU_IN_PICO, HAIKU_OUT_PICO = 1_000_000, 5_000_000  # claude-haiku-4-5: $1 / $5 per million


class Recorder:
    """An observer keeping every CostEvent the Guard emits."""

    def __init__(self) -> None:
        self.events: list[CostEvent] = []

    def on_event(self, event: CostEvent) -> None:
        self.events.append(event)

    @property
    def cost_pico(self) -> int:
        return sum(e.cost_pico for e in self.events)

    def statuses(self) -> list[str]:
        return [e.status for e in self.events]


def billed_pico(fp: FakeProviderServer) -> int:
    """What the fake provider billed, priced from its own record of every request."""
    catalog = default_catalog()
    return sum(
        catalog.cost(
            r.model or MODEL,
            {"input_tokens": r.input_tokens, "output_tokens": r.output_tokens,
             "cache_read_tokens": r.cached_tokens, "cache_write_tokens": r.cache_write_tokens},
        ).total_pico
        for r in fp.requests
        if r.billed
    )  # fmt: skip


def served(fp: FakeProviderServer, count: int = 1) -> None:
    """Wait until the fake provider has recorded ``count`` requests."""
    wait_for(lambda: len(fp.requests) >= count)


def assert_partial(fp: FakeProviderServer, recorder: Recorder) -> None:
    """The fake provider saw the client go away mid-stream and billed the partial output;
    costcap recorded one ``cut`` event of exactly that cost."""
    served(fp)
    [request] = fp.requests
    assert request.disconnect == "client"
    assert 0 < request.output_tokens < FULL
    [event] = recorder.events
    assert (event.status, event.stream) == ("cut", True)
    assert event.output_tokens == request.output_tokens
    assert event.cost_pico == billed_pico(fp) > 0


def assert_complete(fp: FakeProviderServer, recorder: Recorder) -> None:
    served(fp)
    assert fp.requests[0].disconnect is None
    [event] = recorder.events
    assert (event.status, event.stream, event.output_tokens) == ("ok", True, FULL)
    assert event.cost_pico == billed_pico(fp) > 0


def reserved_usd(guard: Guard) -> Any:
    return sum(s["reserved_usd"] for s in guard.status())


class Wire:
    """An HTTP transport hook that records each request's JSON body; ``max_tokens`` rewrites
    the body's, playing a provider that does not honour the ``max_tokens`` it was sent."""

    def __init__(self, *, max_tokens: int | None = None) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.max_tokens = max_tokens

    def rewrite(self, request: httpx2.Request) -> httpx2.Request:
        body = json.loads(request.content)
        self.bodies.append(dict(body))
        if self.max_tokens is None:
            return request
        body["max_tokens"] = self.max_tokens
        headers = [(k, v) for k, v in request.headers.items() if k.lower() != "content-length"]
        return httpx2.Request(
            request.method, request.url, headers=headers, content=json.dumps(body).encode()
        )


class SyncWire(httpx2.BaseTransport):
    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.inner = httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        return self.inner.handle_request(self.wire.rewrite(request))

    def close(self) -> None:
        self.inner.close()


class AsyncWire(httpx2.AsyncBaseTransport):
    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await self.inner.handle_async_request(self.wire.rewrite(request))

    async def aclose(self) -> None:
        await self.inner.aclose()


def sdk_client(
    fp: FakeProviderServer, *, wire: Wire | None = None, max_retries: int = 0
) -> anthropic.Anthropic:
    http = httpx2.Client(transport=SyncWire(wire)) if wire is not None else None
    return anthropic.Anthropic(
        base_url=fp.anthropic_base_url, api_key="sk-ant-test", max_retries=max_retries,
        http_client=http,
    )  # fmt: skip


def async_sdk_client(
    fp: FakeProviderServer, *, wire: Wire | None = None, max_retries: int = 0
) -> anthropic.AsyncAnthropic:
    http = httpx2.AsyncClient(transport=AsyncWire(wire)) if wire is not None else None
    return anthropic.AsyncAnthropic(
        base_url=fp.anthropic_base_url, api_key="sk-ant-test", max_retries=max_retries,
        http_client=http,
    )  # fmt: skip


def make_guard(recorder: Recorder, policy: Policy | None = None, **options: Any) -> Guard:
    return Guard(
        "memory://",
        budgets=[Budget(scope="global", period="day", limit_usd=100)],
        policy=policy,
        notifiers=[],
        observers=[recorder],
        **options,
    )


def make_async_guard(
    recorder: Recorder, policy: Policy | None = None, **options: Any
) -> AsyncGuard:
    return AsyncGuard(
        "memory://",
        budgets=[Budget(scope="global", period="day", limit_usd=100)],
        policy=policy,
        notifiers=[],
        observers=[recorder],
        **options,
    )


def poor_guard(recorder: Recorder) -> Guard:
    """A guard whose budget covers no call."""
    return Guard("memory://", budgets=[POOR], notifiers=[], observers=[recorder])


def poor_async_guard(recorder: Recorder) -> AsyncGuard:
    return AsyncGuard("memory://", budgets=[POOR], notifiers=[], observers=[recorder])


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeProviderServer]:
    """The fake provider on 127.0.0.1 (429s ask for a 20 ms wait so retry tests are quick)."""
    with run_fake_provider(FakeProviderConfig(retry_after_ms=20)) as server:
        yield server


@pytest.fixture
def fp(fake_server: FakeProviderServer) -> FakeProviderServer:
    fake_server.reset()
    return fake_server


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def guard(recorder: Recorder) -> Iterator[Guard]:
    guard = make_guard(recorder)
    yield guard
    guard.close()


@pytest.fixture
async def aguard(recorder: Recorder) -> AsyncIterator[AsyncGuard]:
    guard = make_async_guard(recorder)
    yield guard
    await guard.close()


@pytest.fixture
def client(fp: FakeProviderServer, guard: Guard) -> Iterator[anthropic.Anthropic]:
    """A wrapped sync client (no SDK retries)."""
    with wrap(sdk_client(fp), guard=guard) as wrapped:
        yield wrapped


@pytest.fixture
async def aclient(
    fp: FakeProviderServer, aguard: AsyncGuard
) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """A wrapped async client (no SDK retries)."""
    async with wrap(async_sdk_client(fp), guard=aguard) as wrapped:
        yield wrapped


@pytest.fixture
def bare(fp: FakeProviderServer) -> Iterator[anthropic.Anthropic]:
    """The plain SDK client, for comparison."""
    with sdk_client(fp) as plain:
        yield plain


@pytest.fixture
async def abare(fp: FakeProviderServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """The plain async SDK client, for comparison."""
    async with async_sdk_client(fp) as plain:
        yield plain


# -- the response cache -------------------------------------------------------------------------

TOOLS: list[dict[str, Any]] = [
    {
        "name": "get_weather",
        "description": "The weather in a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    }
]
TOOL_CALL = {"x-fake-tool-call": "auto"}
THINKING = {"type": "enabled", "budget_tokens": 1024}
THINK = {"x-fake-thinking-tokens": "12"}


def asked(**extra: Any) -> dict[str, Any]:
    """A cacheable call's keyword arguments: temperature 0 (the Anthropic SDK takes it in
    ``extra_body``) makes it deterministic, which the default policy caches."""
    kwargs: dict[str, Any] = {
        "model": MODEL, "max_tokens": 50, "messages": MESSAGES, "extra_body": {"temperature": 0},
    }  # fmt: skip
    kwargs.update(extra)
    return kwargs


def assert_hit_recorded(
    fp: FakeProviderServer, recorder: Recorder, *, stream: bool, hits: int = 1
) -> None:
    """One request reached the provider; the ledger holds its miss (billed, ``cache_miss``)
    and ``hits`` hits at $0, each saving exactly what the provider billed for it."""
    assert len(fp.requests) == 1
    miss, *answered = recorder.events
    assert (miss.status, miss.cache_miss, miss.cache_hit) == ("ok", True, False)
    assert miss.stream == stream
    assert miss.cost_pico == billed_pico(fp) > 0
    assert len(answered) == hits
    for hit in answered:
        assert (hit.status, hit.cache_hit, hit.cache_miss) == ("ok", True, False)
        assert (hit.cost_pico, hit.saved_pico) == (0, billed_pico(fp))
        assert (hit.stream, hit.model) == (stream, miss.model)


@pytest.fixture
def cache() -> Iterator[ResponseCache]:
    cache = ResponseCache("memory://")
    yield cache
    cache.close()


@pytest.fixture
async def acache() -> AsyncIterator[AsyncResponseCache]:
    cache = AsyncResponseCache("memory://")
    yield cache
    await cache.close()


@pytest.fixture
def cached(
    fp: FakeProviderServer, guard: Guard, cache: ResponseCache
) -> Iterator[anthropic.Anthropic]:
    """A wrapped sync client answering from ``cache`` (no SDK retries)."""
    with wrap(sdk_client(fp), guard=guard, cache=cache) as wrapped:
        yield wrapped


@pytest.fixture
async def acached(
    fp: FakeProviderServer, aguard: AsyncGuard, acache: AsyncResponseCache
) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """A wrapped async client answering from ``acache``."""
    async with wrap(async_sdk_client(fp), guard=aguard, cache=acache) as wrapped:
        yield wrapped


def drop_cache_keys(url: str) -> None:
    """Delete every key a test's Redis cache wrote under its prefix."""
    import redis

    base, _, prefix = url.partition("?prefix=")
    client = redis.Redis.from_url(base)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:cache:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(params=["sqlite", "redis"])
def shared_cache_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A cache backend several processes can share: SQLite in the test's directory, or Redis
    under a prefix of the test's own (its keys deleted after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cache.db'}"
        return
    url = redis_url()
    yield url
    drop_cache_keys(url)
