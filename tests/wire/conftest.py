"""The real ``openai`` and ``anthropic`` SDKs over ``costcap.http_client``, against the fake
provider over HTTP.

One fake provider for the session (reset before each test); a Guard on ``memory://`` with one
global budget (so reservations show in ``guard.status()``) and a :class:`Recorder` observer.
Every scenario compares what the fake provider BILLED (its own record, priced with the default
catalog) with what costcap RECORDED (the CostEvents), to the picodollar.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anthropic
import httpx2
import openai
import pytest

import costcap
from costcap import AsyncGuard, Budget, Guard
from costcap.testing import FakeProviderConfig, FakeProviderServer, run_fake_provider
from costcap.ticket import Ticket
from tests.integrations.anthropic_sdk.conftest import Recorder, billed_pico
from tests.integrations.openai_sdk.conftest import AsyncWire, SyncWire, Wire
from tests.waiting import wait_for

__all__ = ["Recorder", "billed_pico"]

GPT = "gpt-4o-mini"
CLAUDE = "claude-haiku-4-5"
HELLO: list[Any] = [{"role": "user", "content": "Say hello."}]
# Paced chunks: a disconnect lands between two of them, so the provider bills exactly the chunks
# that reached costcap.
SLOW = {"x-fake-chunk-delay-ms": "50"}
# Streams closed by the garbage collector: a full collection in the test process takes 0.1-0.3 s.
GC_PACED = {"x-fake-chunk-delay-ms": "2000"}
CAPS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


def served(fp: FakeProviderServer, count: int = 1) -> None:
    """Wait until the fake provider has recorded ``count`` requests (a stream records at its
    end, from the server thread)."""
    wait_for(lambda: len(fp.requests) >= count)


def reserved_usd(guard: Guard) -> Any:
    return sum(s["reserved_usd"] for s in guard.status())


class Sent(Wire):
    """What left the guarded transport: each request's headers and JSON body. With
    ``caps_to`` every output cap is then raised to that, playing a provider that does not
    honour the ``max_tokens`` it was sent."""

    def __init__(self, *, caps_to: int | None = None) -> None:
        super().__init__()
        self.headers: list[dict[str, str]] = []
        self.caps_to = caps_to

    def rewrite(self, request: httpx2.Request) -> httpx2.Request:
        self.headers.append(dict(request.headers))
        if request.method != "POST":
            return request
        request = super().rewrite(request)
        if self.caps_to is None:
            return request
        body = json.loads(request.content)
        body.update({cap: self.caps_to for cap in CAPS if cap in body})
        headers = [(k, v) for k, v in request.headers.items() if k != "content-length"]
        return httpx2.Request(
            request.method, request.url, headers=headers, content=json.dumps(body).encode(),
            extensions=request.extensions,
        )  # fmt: skip


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeProviderServer]:
    """The fake provider on 127.0.0.1 (429s ask for a 20 ms wait so retry tests are quick)."""
    with run_fake_provider(FakeProviderConfig(retry_after_ms=20)) as server:
        warm_up(server)
        yield server


def warm_up(server: FakeProviderServer) -> None:
    """One call of each streamed shape, so that no test pays the SDK's first-use cost (building
    its pydantic models) while a paced stream runs ahead of it."""
    with openai.OpenAI(base_url=server.openai_base_url, api_key="sk-test") as bare:
        for stream in (
            bare.chat.completions.create(model=GPT, messages=HELLO, stream=True),
            bare.responses.create(model=GPT, input="Hi", stream=True),
        ):
            with stream:
                for _ in stream:
                    pass
    with (
        anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="sk-test") as plain,
        plain.messages.stream(model=CLAUDE, max_tokens=50, messages=HELLO) as events,
    ):
        for _ in events:
            pass


@pytest.fixture
def fp(fake_server: FakeProviderServer) -> FakeProviderServer:
    fake_server.reset()
    return fake_server


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def make_guard(recorder: Recorder, *, limit_usd: int = 100, **options: Any) -> Guard:
    return Guard(
        "memory://", budgets=[Budget(scope="global", period="day", limit_usd=limit_usd)],
        notifiers=[], observers=[recorder], **options,
    )  # fmt: skip


def make_async_guard(recorder: Recorder, *, limit_usd: int = 100, **options: Any) -> AsyncGuard:
    return AsyncGuard(
        "memory://", budgets=[Budget(scope="global", period="day", limit_usd=limit_usd)],
        notifiers=[], observers=[recorder], **options,
    )  # fmt: skip


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


C = TypeVar("C")


def guarded(
    sdk: type[C], fp: FakeProviderServer, guard: Any, *, sent: Sent | None = None,
    max_retries: int = 0, **options: Any,
) -> C:  # fmt: skip
    """An SDK client (``openai.OpenAI``, ``anthropic.AsyncAnthropic``…) on the fake provider
    whose ``http_client`` is ``costcap.http_client(guard, **options)`` (async: the async one),
    over ``sent``'s transport when given."""
    is_async = sdk.__name__.startswith("Async")
    if sent is not None:
        options["transport"] = AsyncWire(sent) if is_async else SyncWire(sent)
    make = costcap.async_http_client if is_async else costcap.http_client
    anthropic_sdk = sdk.__module__.startswith("anthropic")
    return sdk(  # type: ignore[call-arg]
        base_url=fp.anthropic_base_url if anthropic_sdk else fp.openai_base_url,
        api_key="sk-test", max_retries=max_retries, http_client=make(guard, **options),
    )  # fmt: skip


def settled_cut(fp: FakeProviderServer, recorder: Recorder, *, under: int) -> None:
    """The one call was settled ``cut`` at what the provider billed, which stopped generating
    before ``under`` output tokens."""
    assert recorder.statuses() == ["cut"]
    served(fp)
    assert fp.last.output_tokens < under
    assert recorder.cost_pico == billed_pico(fp)


RECORDED = Path(__file__).parent / "recorded"


def recorded(name: str) -> bytes:
    """Wire bytes from ``tests/wire/recorded`` (see its README)."""
    return (RECORDED / name).read_bytes()


def ticket_for(model: str, max_tokens: int = 50, **options: Any) -> Ticket:
    """A ticket admitted by a guard of its own (no budget)."""
    guard = Guard("memory://", notifiers=[], **options)
    return guard.admit(model=model, messages=HELLO, max_tokens=max_tokens)
