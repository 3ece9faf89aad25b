"""pydantic-ai agents on OpenAI and Anthropic models through costcap: wrapped clients and the
guarded HTTP client, against the fake provider.

The recipes (docs/integrations.md, "Frameworks")::

    OpenAIChatModel(…, provider=OpenAIProvider(openai_client=costcap.wrap(AsyncOpenAI(), guard=g)))
    OpenAIChatModel(…, provider=OpenAIProvider(http_client=costcap.async_http_client(g)))
    AnthropicModel(…,
        provider=AnthropicProvider(anthropic_client=costcap.wrap(AsyncAnthropic(), guard=g)))
    AnthropicModel(…, provider=AnthropicProvider(http_client=costcap.async_http_client(g)))
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Protocol

import anthropic
import openai
import pytest
from pydantic_ai import Agent
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import PartDeltaEvent, ToolCallPartDelta
from pydantic_ai.models import Model
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.anthropic import AnthropicProvider
from pydantic_ai.providers.openai import OpenAIProvider

import costcap
from costcap import AsyncGuard, BudgetExceeded
from costcap.testing import FakeProviderServer
from tests.integrations.frameworks.conftest import (
    CALL,
    CLAUDE,
    GPT,
    SLOW,
    Recorder,
    assert_billed,
    assert_refused,
    assert_tool_run,
    left,
    left_in_call,
)

MODELS = ("openai-chat", "openai-responses", "anthropic")


class Build(Protocol):
    def __call__(self, guard: AsyncGuard) -> Model: ...


@pytest.fixture(params=MODELS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def closing() -> AsyncIterator[AsyncExitStack]:
    """Closes the HTTP clients a test built."""
    async with AsyncExitStack() as stack:
        yield stack


@pytest.fixture
def build(kind: str, way: str, fp: FakeProviderServer, closing: AsyncExitStack) -> Build:
    """Builds the model on a guard, the documented way."""

    def model(guard: AsyncGuard) -> Model:
        if kind == "anthropic":
            if way == "wrap":
                client = anthropic.AsyncAnthropic(
                    base_url=fp.anthropic_base_url, api_key="sk-test", max_retries=0
                )
                closing.push_async_callback(client.close)
                provider = AnthropicProvider(anthropic_client=costcap.wrap(client, guard=guard))
            else:
                http = costcap.async_http_client(guard)
                closing.push_async_callback(http.aclose)
                provider = AnthropicProvider(
                    base_url=fp.anthropic_base_url, api_key="sk-test", http_client=http
                )
            return AnthropicModel(CLAUDE, provider=provider)
        if way == "wrap":
            oclient = openai.AsyncOpenAI(
                base_url=fp.openai_base_url, api_key="sk-test", max_retries=0
            )
            closing.push_async_callback(oclient.close)
            oprovider = OpenAIProvider(openai_client=costcap.wrap(oclient, guard=guard))
        else:
            http = costcap.async_http_client(guard)
            closing.push_async_callback(http.aclose)
            oprovider = OpenAIProvider(
                base_url=fp.openai_base_url, api_key="sk-test", http_client=http
            )
        if kind == "openai-chat":
            return OpenAIChatModel(GPT, provider=oprovider)
        return OpenAIResponsesModel(GPT, provider=oprovider)

    return model


@pytest.fixture
def agent(build: Build, aguard: AsyncGuard) -> Agent[None, str]:
    return Agent(build(aguard))


async def test_run_is_settled_at_the_billed_price(
    fp: FakeProviderServer, agent: Agent[None, str], recorder: Recorder
) -> None:
    """A plain run() is one ok event costing what the provider billed. (pydantic-ai's Anthropic
    model first tries a non-streamed call that the SDK itself refuses, unsent, for its large
    default max_tokens; through a wrapped client that attempt is an error event at $0.)"""
    result = await agent.run("Say hello.")
    assert "hello" in result.output
    assert_billed(fp, recorder)


async def test_stream_read_to_its_end_is_settled_at_the_billed_price(
    fp: FakeProviderServer, agent: Agent[None, str], recorder: Recorder
) -> None:
    """run_stream() read to its end is one ok streamed event costing what was billed."""
    async with agent.run_stream("Hi") as result:
        text = "".join([delta async for delta in result.stream_text(delta=True)])
    assert "hello" in text
    assert_billed(fp, recorder)
    assert [e.stream for e in recorder.events if e.status == "ok"] == [True]


async def test_stream_left_early_is_cut_at_the_billed_price(
    fp: FakeProviderServer, build: Build, aguard: AsyncGuard, recorder: Recorder
) -> None:
    """Leaving run_stream() after its first words closes the upstream: one cut event costing
    what the provider billed for the part it sent."""
    agent = Agent(build(aguard), model_settings={"extra_headers": SLOW})
    async with agent.run_stream("Hi") as result:
        async for delta in result.stream_text(delta=True):
            if "hello" in delta:
                break
    recorder.events[:] = [e for e in recorder.events if e.status != "error"]
    await left(fp, recorder)


async def test_budget_refusal_surfaces_before_anything_is_sent(
    fp: FakeProviderServer, build: Build, poor_aguard: AsyncGuard, recorder: Recorder, way: str
) -> None:
    """A run no budget covers is refused, nothing sent. The user sees costcap's BudgetExceeded
    through a wrapped client (pydantic-ai passes it on) and pydantic-ai's ModelHTTPError with
    status 402 and costcap's message through the guarded HTTP client."""
    agent = Agent(build(poor_aguard))
    expected = BudgetExceeded if way == "wrap" else ModelHTTPError
    with pytest.raises(expected, match="budget") as refused:
        await agent.run("Say hello.")
    if isinstance(refused.value, ModelHTTPError):
        assert refused.value.status_code == 402
    assert_refused(fp, recorder)


async def test_attribute_block_names_who_pays(agent: Agent[None, str], recorder: Recorder) -> None:
    """A costcap.attribute block around run() lands on the recorded event."""
    with costcap.attribute(user_id="alice", feature="triage"):
        await agent.run("Say hello.")
    [event] = [e for e in recorder.events if e.status == "ok"]
    assert (event.user_id, event.feature) == ("alice", "triage")


# -- an agent run with a tool call ----------------------------------------------------------


def weather_agent(model: Model, ran: list[str], **headers: str) -> Agent[None, str]:
    """An agent with one tool, asked by the fake provider to call it once."""
    agent = Agent(model, model_settings={"extra_headers": {**CALL, **headers}})

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """The weather in a city."""
        ran.append(city)
        return "Sunny."

    return agent


async def test_run_with_a_tool_call_is_settled_at_the_billed_price(
    fp: FakeProviderServer, build: Build, aguard: AsyncGuard, recorder: Recorder
) -> None:
    """run() calls the tool, then answers with text: two ok events costing what the provider
    billed for the call and for the answer."""
    ran: list[str] = []
    result = await weather_agent(build(aguard), ran).run("Weather in Paris?")
    assert set(result.output.split()) == {"hello"}
    assert_tool_run(fp, recorder, ran)


async def test_stream_with_a_tool_call_is_settled_at_the_billed_price(
    fp: FakeProviderServer, build: Build, aguard: AsyncGuard, recorder: Recorder
) -> None:
    """run_stream() streams the tool call, runs the tool, then streams the text: two ok
    streamed events costing what was billed."""
    ran: list[str] = []
    async with weather_agent(build(aguard), ran).run_stream("Weather in Paris?") as result:
        text = "".join([delta async for delta in result.stream_text(delta=True)])
    assert set(text.split()) == {"hello"}
    assert_tool_run(fp, recorder, ran)
    assert [e.stream for e in recorder.events if e.status == "ok"] == [True, True]


async def test_stream_left_during_the_tool_call_is_cut_at_the_billed_price(
    fp: FakeProviderServer, build: Build, aguard: AsyncGuard, recorder: Recorder
) -> None:
    """Leaving the model's event stream (agent.iter, node.stream) at the first piece of the
    tool call's arguments closes the upstream: one cut event for what the provider sent."""
    ran: list[str] = []
    agent = weather_agent(build(aguard), ran, **SLOW)
    async with agent.iter("Weather in Paris?") as run:
        async for node in run:
            if Agent.is_model_request_node(node):
                async with node.stream(run.ctx) as events:
                    async for event in events:
                        if isinstance(event, PartDeltaEvent) and _arguments(event.delta):
                            break
                break
    assert ran == []
    await left_in_call(fp, recorder)


def _arguments(delta: object) -> bool:
    return isinstance(delta, ToolCallPartDelta) and bool(delta.args_delta)
