"""The real ``openai`` SDK, wrapped by costcap, against the fake provider over HTTP.

One fake provider for the session (reset before each test); a Guard on ``memory://`` with one
global budget (so reservations show in ``guard.status()``) and a :class:`Recorder` observer.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from costcap import AsyncGuard, Budget, Guard, Policy
from costcap.integrations.wrap import wrap
from costcap.ledger import CostEvent
from costcap.pricing import default_catalog
from costcap.testing import FakeProviderConfig, FakeProviderServer, run_fake_provider
from tests.waiting import wait_for

MODEL = "gpt-4o-mini"
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello."}]
# Paced chunks: a disconnect lands between two of them, so the provider bills exactly the chunks
# that reached costcap (the client keeps up; the SDK's models are built before any test runs).
POOR = Budget(scope="global", period="day", limit_usd="0.000001")  # covers no call
SLOW = {"x-fake-chunk-delay-ms": "60"}
CAPS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


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
             "cache_read_tokens": r.cached_tokens},
        ).total_pico
        for r in fp.requests
        if r.billed
    )  # fmt: skip


def served(fp: FakeProviderServer, count: int = 1) -> None:
    """Wait until the fake provider has recorded ``count`` requests (streams record at the end,
    from the server thread)."""
    wait_for(lambda: len(fp.requests) >= count)


def reserved_usd(statuses: list[Any]) -> Any:
    return sum(s["reserved_usd"] for s in statuses)


class Wire:
    """An HTTP transport that records the JSON body of every request; ``ignore_caps`` strips
    the output caps first, playing a provider that does not honour ``max_tokens``."""

    def __init__(self, *, ignore_caps: bool = False) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.ignore_caps = ignore_caps

    def rewrite(self, request: httpx2.Request) -> httpx2.Request:
        body = json.loads(request.content)
        self.bodies.append(dict(body))
        if not self.ignore_caps:
            return request
        for cap in CAPS:
            body.pop(cap, None)
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


def poor_guard(recorder: Recorder) -> Guard:
    """A guard whose budget covers no call."""
    return Guard("memory://", budgets=[POOR], notifiers=[], observers=[recorder])


def poor_async_guard(recorder: Recorder) -> AsyncGuard:
    return AsyncGuard("memory://", budgets=[POOR], notifiers=[], observers=[recorder])


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeProviderServer]:
    """The fake provider on 127.0.0.1 (429s ask for a 20 ms wait so retry tests are quick)."""
    with run_fake_provider(FakeProviderConfig(retry_after_ms=20)) as server:
        warm_up(server)
        yield server


def warm_up(server: FakeProviderServer) -> None:
    """One call of each shape, so that no test pays the SDK's first-use cost (building its
    pydantic models takes tens of milliseconds) while a paced stream runs ahead of it."""
    with sdk_client(server) as bare:
        bare.chat.completions.create(model=MODEL, messages=MESSAGES)
        bare.responses.create(model=MODEL, input="Hi")
        for stream in (
            bare.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                         stream_options={"include_usage": True}),
            bare.responses.create(model=MODEL, input="Hi", stream=True),
        ):  # fmt: skip
            with stream:
                for _ in stream:
                    pass


@pytest.fixture
def fp(fake_server: FakeProviderServer) -> FakeProviderServer:
    fake_server.reset()
    return fake_server


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


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


def sdk_client(
    fp: FakeProviderServer, *, wire: Wire | None = None, max_retries: int = 0
) -> openai.OpenAI:
    http = httpx2.Client(transport=SyncWire(wire)) if wire is not None else None
    return openai.OpenAI(
        base_url=fp.openai_base_url, api_key="sk-test", max_retries=max_retries, http_client=http
    )


def async_sdk_client(
    fp: FakeProviderServer, *, wire: Wire | None = None, max_retries: int = 0
) -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=AsyncWire(wire)) if wire is not None else None
    return openai.AsyncOpenAI(
        base_url=fp.openai_base_url, api_key="sk-test", max_retries=max_retries, http_client=http
    )


@pytest.fixture
def client(fp: FakeProviderServer, guard: Guard) -> Iterator[openai.OpenAI]:
    """A wrapped sync client (no SDK retries)."""
    with wrap(sdk_client(fp), guard=guard) as wrapped:
        yield wrapped


@pytest.fixture
async def aclient(fp: FakeProviderServer, aguard: AsyncGuard) -> AsyncIterator[openai.AsyncOpenAI]:
    """A wrapped async client (no SDK retries)."""
    async with wrap(async_sdk_client(fp), guard=aguard) as wrapped:
        yield wrapped
