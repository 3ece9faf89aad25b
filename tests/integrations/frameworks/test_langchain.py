"""LangChain's ChatOpenAI and ChatAnthropic through costcap: wrapped clients and the guarded
HTTP client, against the fake provider.

The recipes (docs/integrations.md, "Frameworks")::

    ChatOpenAI(model=…, root_client=client, client=client.chat.completions)  # client = wrap(…)
    ChatOpenAI(model=…, http_client=costcap.http_client(guard))
    chat = ChatAnthropic(model=…); chat._client = costcap.wrap(chat._client, guard=guard)
    chat._client = chat._client.with_options(http_client=costcap.http_client(guard))
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from contextlib import ExitStack
from functools import reduce
from typing import Any, Protocol

import anthropic
import openai
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.tools import BaseTool, tool
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

import costcap
from costcap import BudgetExceeded, Guard
from costcap.testing import FakeProviderServer
from tests.integrations.frameworks.conftest import (
    CALL,
    CLAUDE,
    GPT,
    SLOW,
    Recorder,
    assert_billed,
    assert_left,
    assert_left_in_call,
    assert_refused,
    assert_tool_run,
)

PROVIDERS = ("openai", "anthropic")
KEY = SecretStr("sk-test")


def chat_openai(
    fp: FakeProviderServer, guard: Guard, way: str, closing: ExitStack, **headers: str
) -> ChatOpenAI:
    if way == "wrap":
        client = closing.enter_context(costcap.wrap(
            openai.OpenAI(base_url=fp.openai_base_url, api_key="sk-test", max_retries=0,
                          default_headers=headers),
            guard=guard,
        ))  # fmt: skip
        # (its async client is built from api_key; pass root_async_client/async_client too
        # for ainvoke/astream)
        return ChatOpenAI(model=GPT, api_key=KEY, root_client=client,
                          client=client.chat.completions)  # fmt: skip
    return ChatOpenAI(
        model=GPT, base_url=fp.openai_base_url, api_key=KEY, max_retries=0,
        default_headers=headers,
        http_client=closing.enter_context(costcap.http_client(guard)),
    )  # fmt: skip


def chat_anthropic(
    fp: FakeProviderServer, guard: Guard, way: str, closing: ExitStack, **headers: str
) -> ChatAnthropic:
    chat = ChatAnthropic(  # type: ignore[call-arg]
        model=CLAUDE, base_url=fp.anthropic_base_url, api_key=KEY, max_retries=0,
        default_headers=headers,
    )  # fmt: skip
    # ChatAnthropic takes no client: its cached one is replaced.
    if way == "wrap":
        chat._client = costcap.wrap(chat._client, guard=guard)
    else:
        http = closing.enter_context(costcap.http_client(guard))
        chat._client = chat._client.with_options(http_client=http)
    return chat


@pytest.fixture
def closing() -> Iterator[ExitStack]:
    """Closes the HTTP clients a test built."""
    with ExitStack() as stack:
        yield stack


class Build(Protocol):
    def __call__(self, guard: Guard, **headers: str) -> BaseChatModel: ...


@pytest.fixture
def build(provider: str, fp: FakeProviderServer, way: str, closing: ExitStack) -> Build:
    """Builds the provider's chat model on a guard, sending extra headers to the provider."""

    def chat(guard: Guard, **headers: str) -> BaseChatModel:
        return chat_model(provider, fp, guard, way, closing, **headers)

    return chat


@pytest.fixture
def chat(build: Build, guard: Guard) -> BaseChatModel:
    """The provider's chat model on a well-funded guard."""
    return build(guard)


def chat_model(
    provider: str, fp: FakeProviderServer, guard: Guard, way: str, closing: ExitStack,
    **headers: str,
) -> BaseChatModel:  # fmt: skip
    if provider == "openai":
        return chat_openai(fp, guard, way, closing, **headers)
    return chat_anthropic(fp, guard, way, closing, **headers)


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_invoke_is_settled_at_the_billed_price(
    fp: FakeProviderServer, chat: BaseChatModel, recorder: Recorder
) -> None:
    """A plain invoke() is one ok event costing what the provider billed."""
    answer = chat.invoke("Say hello.")
    assert "hello" in str(answer.content)
    assert_billed(fp, recorder)


def test_stream_read_to_its_end_is_settled_at_the_billed_price(
    fp: FakeProviderServer, chat: BaseChatModel, recorder: Recorder
) -> None:
    """A stream() read to its end is one ok streamed event costing what was billed."""
    text = "".join(str(c.content) for c in chat.stream("Hi"))
    assert "hello" in text
    assert_billed(fp, recorder)
    assert recorder.events[0].stream


def test_stream_left_early_is_cut_at_the_billed_price(
    fp: FakeProviderServer, guard: Guard, recorder: Recorder, build: Build
) -> None:
    """Leaving stream() after its first words closes the upstream: one cut event costing what
    the provider billed for the part it sent."""
    chunks = build(guard, **SLOW).stream("Hi")
    for chunk in chunks:
        if "hello" in str(chunk.content):
            break
    chunks.close()  # type: ignore[attr-defined]
    assert_left(fp, recorder)


def test_budget_refusal_surfaces_before_anything_is_sent(
    fp: FakeProviderServer, poor_guard: Guard, recorder: Recorder, build: Build,
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    """A call no budget covers is refused, nothing sent. The user sees costcap's
    BudgetExceeded through a wrapped client (LangChain passes it on untouched) and the SDK's
    402 error through the guarded HTTP client (openai.APIStatusError,
    anthropic.APIStatusError — PaymentRequiredError on the releases that have it), with
    costcap's message."""
    expected: dict[tuple[str, str], Any] = {
        ("wrap", "openai"): BudgetExceeded,
        ("wrap", "anthropic"): BudgetExceeded,
        ("wire", "openai"): openai.APIStatusError,
        ("wire", "anthropic"): anthropic.APIStatusError,
    }
    way, provider = request.getfixturevalue("way"), request.getfixturevalue("provider")
    with pytest.raises(expected[way, provider], match="budget") as refused:
        build(poor_guard).invoke("Say hello.")
    if way == "wire":
        assert refused.value.status_code == 402
    assert_refused(fp, recorder)


def test_attribute_block_names_who_pays(chat: BaseChatModel, recorder: Recorder) -> None:
    """A costcap.attribute block around invoke() lands on the recorded event."""
    with costcap.attribute(user_id="alice", feature="summaries"):
        chat.invoke("Say hello.")
    [event] = recorder.events
    assert (event.user_id, event.feature) == ("alice", "summaries")


# -- an agent loop with a tool call ---------------------------------------------------------


def weather_tool(ran: list[str]) -> BaseTool:
    """The tool the model is given; it notes each city it is asked about."""

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        ran.append(city)
        return "Sunny."

    return get_weather


def _calls(message: AIMessage) -> list[tuple[str, dict[str, Any]]]:
    return [(call["name"], call["args"]) for call in message.tool_calls]


def _carries_arguments(chunk: AIMessage) -> bool:
    """A streamed chunk carries a piece of a tool call's arguments."""
    assert isinstance(chunk, AIMessageChunk)
    return any(piece.get("args") for piece in chunk.tool_call_chunks)


def test_invoke_with_a_tool_call_is_settled_at_the_billed_price(
    fp: FakeProviderServer, guard: Guard, recorder: Recorder, build: Build
) -> None:
    """bind_tools, invoke → a tool call; run the tool; invoke with its ToolMessage → text:
    two ok events costing what the provider billed."""
    ran: list[str] = []
    weather = weather_tool(ran)
    chat = build(guard, **CALL).bind_tools([weather])
    messages: list[BaseMessage] = [HumanMessage("Weather in Paris?")]
    asked = chat.invoke(messages)
    assert _calls(asked) == [("get_weather", {"city": "hello"})]
    messages += [asked, *(weather.invoke(call) for call in asked.tool_calls)]
    answer = chat.invoke(messages)
    assert answer.tool_calls == []
    assert set(answer.text.split()) == {"hello"}
    assert_tool_run(fp, recorder, ran)


def test_stream_with_a_tool_call_is_settled_at_the_billed_price(
    fp: FakeProviderServer, guard: Guard, recorder: Recorder, build: Build
) -> None:
    """stream() read to its end: the tool_call_chunks add up to the call; run the tool,
    stream the text: two ok streamed events costing what was billed."""
    ran: list[str] = []
    weather = weather_tool(ran)
    chat = build(guard, **CALL).bind_tools([weather])
    messages: list[BaseMessage] = [HumanMessage("Weather in Paris?")]
    chunks = list(chat.stream(messages))
    asked = reduce(operator.add, chunks)
    assert isinstance(asked, AIMessageChunk)
    assert len([chunk for chunk in chunks if _carries_arguments(chunk)]) > 1
    assert _calls(asked) == [("get_weather", {"city": "hello"})]
    messages += [asked, *(weather.invoke(call) for call in asked.tool_calls)]
    text = reduce(operator.add, chat.stream(messages)).text
    assert set(text.split()) == {"hello"}
    assert_tool_run(fp, recorder, ran)
    assert [e.stream for e in recorder.events] == [True, True]


def test_stream_left_during_the_tool_call_is_cut_at_the_billed_price(
    fp: FakeProviderServer, guard: Guard, recorder: Recorder, build: Build
) -> None:
    """Leaving stream() at the first piece of the tool call's arguments closes the upstream:
    one cut event for what the provider sent."""
    chat = build(guard, **CALL, **SLOW).bind_tools([weather_tool([])])
    chunks = chat.stream("Weather in Paris?")
    for chunk in chunks:
        if _carries_arguments(chunk):
            break
    chunks.close()  # type: ignore[attr-defined]
    assert_left_in_call(fp, recorder)
