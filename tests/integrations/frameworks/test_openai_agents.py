"""The OpenAI Agents SDK, on its Responses model and its chat-completions model, through
costcap: a wrapped client and the guarded HTTP client, against the fake provider. Tracing is
off (nothing is exported).

The recipes (docs/integrations.md, "Frameworks")::

    OpenAIResponsesModel(model=…, openai_client=costcap.wrap(AsyncOpenAI(), guard=async_guard))
    OpenAIChatCompletionsModel(model=…,
        openai_client=AsyncOpenAI(http_client=costcap.async_http_client(async_guard)))
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack

import openai
import pytest
from agents import (
    Agent,
    Model,
    ModelSettings,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from openai.types.responses import ResponseFunctionCallArgumentsDeltaEvent, ResponseTextDeltaEvent

import costcap
from costcap import AsyncGuard, BudgetExceeded
from costcap.testing import FakeProviderServer
from tests.integrations.frameworks.conftest import (
    CALL,
    FULL,
    GPT,
    SLOW,
    Recorder,
    assert_billed,
    assert_refused,
    assert_tool_run,
    left,
    left_in_call,
)

MODELS = ("responses", "chat")


@pytest.fixture(autouse=True, scope="module")
def no_tracing() -> Iterator[None]:
    set_tracing_disabled(True)
    yield
    set_tracing_disabled(False)


@pytest.fixture(params=MODELS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def closing() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


class Build:
    """Builds the agent's model on a guard, the documented way."""

    def __init__(
        self, fp: FakeProviderServer, kind: str, way: str, closing: AsyncExitStack
    ) -> None:
        self.fp, self.kind, self.way, self.closing = fp, kind, way, closing

    def __call__(self, guard: AsyncGuard) -> Model:
        if self.way == "wrap":
            bare = openai.AsyncOpenAI(
                base_url=self.fp.openai_base_url, api_key="sk-test", max_retries=0
            )
            self.closing.push_async_callback(bare.close)
            client = costcap.wrap(bare, guard=guard)
        else:
            http = costcap.async_http_client(guard)
            self.closing.push_async_callback(http.aclose)
            client = openai.AsyncOpenAI(
                base_url=self.fp.openai_base_url, api_key="sk-test", max_retries=0,
                http_client=http,
            )  # fmt: skip
        if self.kind == "responses":
            return OpenAIResponsesModel(model=GPT, openai_client=client)
        return OpenAIChatCompletionsModel(model=GPT, openai_client=client)


@pytest.fixture
def build(fp: FakeProviderServer, kind: str, way: str, closing: AsyncExitStack) -> Build:
    return Build(fp, kind, way, closing)


@pytest.fixture
def agent(build: Build, aguard: AsyncGuard) -> Agent[None]:
    return Agent(name="greeter", instructions="Be brief.", model=build(aguard))


async def test_run_is_settled_at_the_billed_price(
    fp: FakeProviderServer, agent: Agent[None], recorder: Recorder
) -> None:
    """Runner.run is one ok event costing what the provider billed."""
    result = await Runner.run(agent, "Say hello.")
    assert "hello" in str(result.final_output)
    assert_billed(fp, recorder)


async def test_streamed_run_read_to_its_end_is_settled_at_the_billed_price(
    fp: FakeProviderServer, agent: Agent[None], recorder: Recorder
) -> None:
    """Runner.run_streamed read to its end is one ok streamed event costing what was billed."""
    result = Runner.run_streamed(agent, "Hi")
    async for _ in result.stream_events():
        pass
    assert "hello" in str(result.final_output)
    assert_billed(fp, recorder)
    assert recorder.events[0].stream


async def test_streamed_run_cancelled_early_is_cut_at_the_billed_price(
    fp: FakeProviderServer, build: Build, aguard: AsyncGuard, recorder: Recorder
) -> None:
    """Cancelling run_streamed after its first words closes the upstream: one cut event
    costing what the provider billed for the part it sent."""
    agent = Agent(
        name="greeter", model=build(aguard), model_settings=ModelSettings(extra_headers=SLOW)
    )
    result = Runner.run_streamed(agent, "Hi")
    async for event in result.stream_events():
        if isinstance(getattr(event, "data", None), ResponseTextDeltaEvent):
            result.cancel()
    await left(fp, recorder)


async def test_budget_refusal_surfaces_before_anything_is_sent(
    fp: FakeProviderServer, build: Build, poor_aguard: AsyncGuard, recorder: Recorder, way: str
) -> None:
    """A run no budget covers is refused, nothing sent. The user sees costcap's BudgetExceeded
    through a wrapped client and the SDK's openai.APIStatusError (402, costcap's message)
    through the guarded HTTP client; the Agents SDK passes either on."""
    agent = Agent(name="greeter", model=build(poor_aguard))
    expected = BudgetExceeded if way == "wrap" else openai.APIStatusError
    with pytest.raises(expected, match="budget") as refused:
        await Runner.run(agent, "Say hello.")
    if isinstance(refused.value, openai.APIStatusError):
        assert refused.value.status_code == 402
    assert_refused(fp, recorder)


async def test_attribute_block_names_who_pays(agent: Agent[None], recorder: Recorder) -> None:
    """A costcap.attribute block around Runner.run lands on the recorded event."""
    with costcap.attribute(user_id="alice", feature="agents"):
        await Runner.run(agent, "Say hello.")
    [event] = recorder.events
    assert (event.user_id, event.feature) == ("alice", "agents")


# -- an agent run with a tool call ----------------------------------------------------------


def weather_agent(model: Model, ran: list[str], **headers: str) -> Agent[None]:
    """An agent with one tool, asked by the fake provider to call it once."""

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        ran.append(city)
        return "Sunny."

    settings = ModelSettings(extra_headers={**CALL, **headers})
    return Agent(name="weather", model=model, tools=[get_weather], model_settings=settings)


async def test_run_with_a_tool_call_is_settled_at_the_billed_price(
    fp: FakeProviderServer, build: Build, aguard: AsyncGuard, recorder: Recorder
) -> None:
    """Runner.run calls the tool, then answers with text: two ok events costing what the
    provider billed for the call and for the answer."""
    ran: list[str] = []
    result = await Runner.run(weather_agent(build(aguard), ran), "Weather in Paris?")
    assert result.final_output == " hello" * FULL
    assert_tool_run(fp, recorder, ran)


async def test_streamed_run_with_a_tool_call_is_settled_at_the_billed_price(
    fp: FakeProviderServer, build: Build, aguard: AsyncGuard, recorder: Recorder
) -> None:
    """Runner.run_streamed read to its end streams the call, runs the tool, streams the
    text: two ok streamed events costing what was billed."""
    ran: list[str] = []
    result = Runner.run_streamed(weather_agent(build(aguard), ran), "Weather in Paris?")
    async for _ in result.stream_events():
        pass
    assert result.final_output == " hello" * FULL
    assert_tool_run(fp, recorder, ran)
    assert [e.stream for e in recorder.events] == [True, True]


async def test_streamed_run_cancelled_during_the_tool_call_is_cut_at_the_billed_price(
    fp: FakeProviderServer, build: Build, aguard: AsyncGuard, recorder: Recorder
) -> None:
    """Cancelling run_streamed at the first piece of the tool call's arguments closes the
    upstream before the tool runs: one cut event for what the provider sent."""
    ran: list[str] = []
    result = Runner.run_streamed(weather_agent(build(aguard), ran, **SLOW), "Weather in Paris?")
    async for event in result.stream_events():
        if isinstance(getattr(event, "data", None), ResponseFunctionCallArgumentsDeltaEvent):
            result.cancel()
    assert ran == []
    await left_in_call(fp, recorder)
