"""Agent frameworks driven through costcap, against the fake provider over HTTP.

Each framework is given its model client the two documented ways — a client wrapped with
``costcap.wrap`` (``"wrap"``) and an SDK client built on ``costcap.http_client`` /
``async_http_client`` (``"wire"``) — and every test compares what the fake provider BILLED (its
own record, priced with the default catalog) with the CostEvents costcap RECORDED, to the
picodollar. Frameworks send no costcap keywords: attribution is a ``costcap.attribute`` block.
Nothing here reaches the network: tracing and telemetry are off.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from costcap import AsyncGuard, Budget, Guard
from costcap.testing import FakeProviderServer, run_fake_provider
from costcap.tokens import count_text
from tests.integrations.anthropic_sdk.conftest import Recorder, billed_pico
from tests.waiting import until, wait_for

__all__ = ["CALL", "GPT", "WAYS", "Recorder", "billed_pico"]

GPT = "gpt-4o-mini"
CLAUDE = "claude-haiku-4-5"
WAYS = ("wrap", "wire")
FULL = 20  # the fake provider's default answer length, in tokens
# Paced chunks: a stream the caller leaves ends between two of them, so the provider bills
# exactly the chunks that reached costcap. A framework takes its time to close a stream it
# was told to leave (tasks, generators, its own bookkeeping): the pace leaves it room.
SLOW = {"x-fake-chunk-delay-ms": "300"}
# The fake provider answers the first request of a run with a call of the first tool offered,
# and the request carrying the tool's result with text.
CALL = {"x-fake-tool-call": "auto"}
TOOL = "get_weather"  # the tool each framework's agent is given: get_weather(city: str) -> str
ARGUMENTS = '{"city":"hello"}'  # the arguments the fake provider makes for it
RICH = Budget(scope="global", period="day", limit_usd=100)
POOR = Budget(scope="global", period="day", limit_usd="0.000001")  # covers no call


@pytest.fixture(autouse=True)
def no_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    """LangSmith tracing and the OpenAI Agents SDK's trace export stay off."""
    monkeypatch.setenv("LANGSMITH_TRACING", "false")
    monkeypatch.setenv("LANGCHAIN_TRACING_V2", "false")
    monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeProviderServer]:
    with run_fake_provider() as server:
        yield server


@pytest.fixture
def fp(fake_server: FakeProviderServer) -> FakeProviderServer:
    fake_server.reset()
    return fake_server


@pytest.fixture(params=WAYS)
def way(request: pytest.FixtureRequest) -> str:
    """How the framework's client is guarded: ``"wrap"`` or ``"wire"``."""
    return str(request.param)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def guard(recorder: Recorder) -> Iterator[Guard]:
    guard = Guard("memory://", budgets=[RICH], notifiers=[], observers=[recorder])
    yield guard
    guard.close()


@pytest.fixture
def poor_guard(recorder: Recorder) -> Iterator[Guard]:
    guard = Guard("memory://", budgets=[POOR], notifiers=[], observers=[recorder])
    yield guard
    guard.close()


@pytest.fixture
async def aguard(recorder: Recorder) -> AsyncIterator[AsyncGuard]:
    guard = AsyncGuard("memory://", budgets=[RICH], notifiers=[], observers=[recorder])
    yield guard
    await guard.close()


@pytest.fixture
async def poor_aguard(recorder: Recorder) -> AsyncIterator[AsyncGuard]:
    guard = AsyncGuard("memory://", budgets=[POOR], notifiers=[], observers=[recorder])
    yield guard
    await guard.close()


def assert_billed(fp: FakeProviderServer, recorder: Recorder, *, calls: int = 1) -> None:
    """``calls`` answered calls, each one ``ok`` event; recorded == billed to the picodollar."""
    wait_for(lambda: len(fp.requests) >= calls and len(recorder.events) >= calls)
    assert [r.disconnect for r in fp.requests] == [None] * calls
    assert [e.status for e in recorder.events if e.status != "error"] == ["ok"] * calls
    assert recorder.cost_pico == billed_pico(fp) > 0


def assert_tool_run(fp: FakeProviderServer, recorder: Recorder, ran: list[str]) -> None:
    """An agent run with one tool call: the tool ran once with the arguments made from its
    schema; the provider answered a tool call, then (given the tool's result) text; two ``ok``
    events costing what the provider billed, to the picodollar."""
    assert ran == ["hello"]
    assert_billed(fp, recorder, calls=2)
    assert [r.tool_calls for r in fp.requests] == [(TOOL,), ()]
    assert fp.requests[0].output_text == ARGUMENTS


def assert_left_in_call(fp: FakeProviderServer, recorder: Recorder) -> None:
    """The caller left a stream while the tool call's arguments flowed: the provider billed
    the tool's name and the pieces of the arguments it sent; costcap recorded one ``cut``
    event of the same input and output, costing the same to the picodollar."""
    wait_for(lambda: len(fp.requests) >= 1 and len(recorder.events) >= 1)
    [request] = fp.requests
    assert (request.disconnect, request.tool_calls) == ("client", (TOOL,))
    assert ARGUMENTS.startswith(request.output_text)
    model = request.model or GPT
    name = count_text(TOOL, model)
    assert name < request.output_tokens < name + count_text(ARGUMENTS, model)
    [event] = [e for e in recorder.events if e.status != "error"]
    assert (event.status, event.stream) == ("cut", True)
    assert (event.input_tokens, event.output_tokens) == (
        request.input_tokens,
        request.output_tokens,
    )
    assert event.cost_pico == billed_pico(fp) > 0


async def left_in_call(fp: FakeProviderServer, recorder: Recorder) -> None:
    """``assert_left_in_call`` for async tests: the event loop runs while the stream settles."""
    await until(lambda: len(fp.requests) >= 1 and len(recorder.events) >= 1)
    assert_left_in_call(fp, recorder)


def assert_left(fp: FakeProviderServer, recorder: Recorder) -> None:
    """The caller left a stream early: the provider saw the client go and billed part of the
    answer; costcap recorded one ``cut`` event of exactly that cost."""
    wait_for(lambda: len(fp.requests) >= 1 and len(recorder.events) >= 1)
    [request] = fp.requests
    assert request.disconnect == "client"
    assert 0 < request.output_tokens < FULL
    [event] = recorder.events
    assert (event.status, event.stream) == ("cut", True)
    assert event.cost_pico == billed_pico(fp) > 0


async def left(fp: FakeProviderServer, recorder: Recorder) -> None:
    """``assert_left`` for async tests: the event loop runs while the stream settles."""
    await until(lambda: len(fp.requests) >= 1 and len(recorder.events) >= 1)
    assert_left(fp, recorder)


def assert_refused(fp: FakeProviderServer, recorder: Recorder) -> None:
    """Refused by the budget: nothing reached the provider; one ``refused`` event at $0."""
    assert fp.requests == ()
    [event] = recorder.events
    assert (event.status, event.cost_pico) == ("refused", 0)
