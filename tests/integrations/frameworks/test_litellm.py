"""LiteLLM as a client (``completion``, ``acompletion``, ``responses``, ``aresponses``) on
``openai/…`` and ``anthropic/…`` models through costcap's guarded transport, against the fake
provider.

LiteLLM sends the two providers by different roads, so one hook does not guard every call:

- ``openai/…`` chat goes through an OpenAI SDK client LiteLLM builds on ``litellm.client_session``
  (sync) / ``litellm.aclient_session`` (async);
- ``anthropic/…`` and ``responses()`` go through LiteLLM's own ``HTTPHandler`` /
  ``AsyncHTTPHandler``: they never read those sessions, only the handler passed as ``client=``.

The recipe (docs/integrations.md, "Frameworks")::

    litellm.client_session = httpx.Client(
        transport=costcap.GuardedTransport(guard, inner=httpx.HTTPTransport()))
    litellm.aclient_session = httpx.AsyncClient(
        transport=costcap.AsyncGuardedTransport(async_guard, inner=httpx.AsyncHTTPTransport()))
    http = HTTPHandler(client=litellm.client_session)        # client=http: anthropic/…, responses()
    ahttp = AsyncHTTPHandler(transport=costcap.AsyncGuardedTransport(async_guard,
                             inner=httpx.AsyncHTTPTransport()))  # client=ahttp: the async ones

A wrapped SDK client (``costcap.wrap``) is no way in: LiteLLM sends OpenAI chat with the SDK's
low-level ``post()``, which a wrapped client refuses, and takes no SDK client for the
other two. LiteLLM is imported offline (its model-cost map and Anthropic beta-header lists are
its bundled copies), and every host it looks up or connects to is recorded.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, ExitStack
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

import costcap
from costcap import AsyncGuard, Guard
from costcap.testing import FakeProviderServer
from tests.integrations.frameworks.conftest import (
    CLAUDE,
    GPT,
    SLOW,
    Recorder,
    assert_billed,
    assert_left,
    assert_refused,
    left,
)

# pydantic's remark on LiteLLM's own types, made when LiteLLM first validates a streamed chunk.
pytestmark = pytest.mark.filterwarnings("ignore:Item .* `ReadOnly` qualifier:UserWarning")

PROVIDERS = ("openai", "anthropic")
HELLO = [{"role": "user", "content": "Say hello."}]
# What keeps LiteLLM off the network: set before it is imported (the cost map is fetched at
# import), and kept while it runs (the beta-header list is fetched on first use).
OFFLINE = {
    "LITELLM_OFFLINE_MODE": "true",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
}
REACHED: list[str] = []  # every host looked up or connected to since LiteLLM's import


@pytest.fixture(scope="module")
def litellm() -> Iterator[ModuleType]:
    """LiteLLM, imported offline, with every host it reaches recorded in ``REACHED``."""
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def recorded_connect(sock: socket.socket, address: Any) -> None:
        REACHED.append(str(address[0]) if isinstance(address, tuple) else str(address))
        connect(sock, address)

    def recorded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        REACHED.append(str(host))
        return getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        for name, value in OFFLINE.items():
            patch.setenv(name, value)
        patch.delenv("TIKTOKEN_CACHE_DIR", raising=False)  # LiteLLM sets it: undone after
        patch.setattr(socket.socket, "connect", recorded_connect)
        patch.setattr(socket, "getaddrinfo", recorded_getaddrinfo)
        import litellm

        patch.setattr(litellm, "suppress_debug_info", True)
        yield litellm


def call_kwargs(
    provider: str, fp: FakeProviderServer, handler: Any = None, **headers: str
) -> dict[str, Any]:
    """The model, endpoint and key of a chat call to the fake provider, with extra headers;
    ``handler`` goes as ``client=`` where LiteLLM reads one (Anthropic: OpenAI chat goes
    through the session, and fails given a handler)."""
    if provider == "openai":
        return {"model": f"openai/{GPT}", "api_base": fp.openai_base_url, "api_key": "sk-test",
                "extra_headers": headers}  # fmt: skip
    return {"model": f"anthropic/{CLAUDE}", "api_base": fp.anthropic_base_url,
            "api_key": "sk-test", "extra_headers": headers, "client": handler}  # fmt: skip


def responses_kwargs(fp: FakeProviderServer, handler: Any) -> dict[str, Any]:
    """A responses() call to the fake provider's OpenAI endpoint, on ``handler``."""
    return {"model": f"openai/{GPT}", "api_base": fp.openai_base_url, "api_key": "sk-test",
            "client": handler}  # fmt: skip


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def guarded(
    litellm: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[Guard], Any]]:
    """Puts LiteLLM's sync calls on a guard, the recipe's way: ``litellm.client_session`` for
    OpenAI chat; the returned ``HTTPHandler`` is the ``client=`` of the other calls. (A sync
    call runs LiteLLM's service hooks on the thread's event loop, creating one if there is
    none and leaving it open: the test's is one it closes.)"""
    from litellm.llms.custom_httpx.http_handler import HTTPHandler

    with ExitStack() as closing:
        loop = asyncio.new_event_loop()
        closing.callback(loop.close)
        asyncio.set_event_loop(loop)
        closing.callback(asyncio.set_event_loop, None)

        def on(guard: Guard) -> HTTPHandler:
            transport = costcap.GuardedTransport(guard, inner=httpx.HTTPTransport())
            session = closing.enter_context(httpx.Client(transport=transport))  # type: ignore[arg-type]
            monkeypatch.setattr(litellm, "client_session", session)
            # LiteLLM caches the OpenAI client it built on a session, keyed without the session.
            litellm.in_memory_llm_clients_cache.flush_cache()
            return HTTPHandler(client=session)

        yield on
        litellm.in_memory_llm_clients_cache.flush_cache()


@pytest.fixture
async def aguarded(
    litellm: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[[AsyncGuard], Any]]:
    """``guarded`` for the async calls: ``litellm.aclient_session`` and an
    ``AsyncHTTPHandler``. (LiteLLM logs async calls from a worker task it starts on the
    test's event loop: it is stopped before the loop closes.)"""
    from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

    async with AsyncExitStack() as closing:

        def on(guard: AsyncGuard) -> AsyncHTTPHandler:
            transport = costcap.AsyncGuardedTransport(guard, inner=httpx.AsyncHTTPTransport())
            session = httpx.AsyncClient(transport=transport)  # type: ignore[arg-type]
            closing.push_async_callback(session.aclose)
            monkeypatch.setattr(litellm, "aclient_session", session)
            litellm.in_memory_llm_clients_cache.flush_cache()
            handler = AsyncHTTPHandler(
                transport=costcap.AsyncGuardedTransport(  # type: ignore[arg-type]
                    guard, inner=httpx.AsyncHTTPTransport()
                )
            )
            closing.push_async_callback(handler.close)
            return handler

        yield on
        litellm.in_memory_llm_clients_cache.flush_cache()
        await GLOBAL_LOGGING_WORKER.flush()
        await GLOBAL_LOGGING_WORKER.stop(discard_pending=True)


@pytest.fixture
def http(guarded: Callable[[Guard], Any], guard: Guard) -> Any:
    """LiteLLM's sync calls on a well-funded guard; the handler for ``client=``."""
    return guarded(guard)


@pytest.fixture
def ahttp(aguarded: Callable[[AsyncGuard], Any], aguard: AsyncGuard) -> Any:
    """LiteLLM's async calls on a well-funded guard; the handler for ``client=``."""
    return aguarded(aguard)


@pytest.fixture
def poor_http(guarded: Callable[[Guard], Any], poor_guard: Guard) -> Any:
    """LiteLLM's sync calls on a guard no call fits."""
    return guarded(poor_guard)


@pytest.fixture
def poor_ahttp(aguarded: Callable[[AsyncGuard], Any], poor_aguard: AsyncGuard) -> Any:
    """LiteLLM's async calls on a guard no call fits."""
    return aguarded(poor_aguard)


def text_of(response: Any) -> str:
    return str(response.choices[0].message.content)


def delta_of(chunk: Any) -> str:
    return str(chunk.choices[0].delta.content or "")


def test_completion_is_settled_at_the_billed_price(
    litellm: ModuleType, fp: FakeProviderServer, http: Any, recorder: Recorder, provider: str
) -> None:
    """A plain completion() is one ok event costing what the provider billed."""
    response = litellm.completion(messages=HELLO, **call_kwargs(provider, fp, http))
    assert "hello" in text_of(response)
    assert_billed(fp, recorder)


async def test_acompletion_is_settled_at_the_billed_price(
    litellm: ModuleType, fp: FakeProviderServer, ahttp: Any, recorder: Recorder, provider: str
) -> None:
    """A plain acompletion() is one ok event costing what the provider billed."""
    response = await litellm.acompletion(messages=HELLO, **call_kwargs(provider, fp, ahttp))
    assert "hello" in text_of(response)
    assert_billed(fp, recorder)


def test_stream_read_to_its_end_is_settled_at_the_billed_price(
    litellm: ModuleType, fp: FakeProviderServer, http: Any, recorder: Recorder, provider: str
) -> None:
    """A completion(stream=True) read to its end is one ok streamed event costing what was
    billed (LiteLLM's stream_options and extra headers pass the guard)."""
    chunks = litellm.completion(messages=HELLO, stream=True, **call_kwargs(provider, fp, http))
    assert "hello" in "".join(delta_of(chunk) for chunk in chunks)
    assert_billed(fp, recorder)
    assert recorder.events[0].stream


async def test_async_stream_read_to_its_end_is_settled_at_the_billed_price(
    litellm: ModuleType, fp: FakeProviderServer, ahttp: Any, recorder: Recorder, provider: str
) -> None:
    """An acompletion(stream=True) read to its end is one ok streamed event costing what was
    billed."""
    chunks = await litellm.acompletion(
        messages=HELLO, stream=True, **call_kwargs(provider, fp, ahttp)
    )
    assert "hello" in "".join([delta_of(chunk) async for chunk in chunks])
    assert_billed(fp, recorder)
    assert recorder.events[0].stream


def test_stream_left_early_is_cut_at_the_billed_price(
    litellm: ModuleType, fp: FakeProviderServer, http: Any, recorder: Recorder, provider: str
) -> None:
    """Leaving a streamed completion's ``with`` block after its first words closes the
    upstream: one cut event costing what the provider billed for the part it sent."""
    kwargs = call_kwargs(provider, fp, http, **SLOW)
    with litellm.completion(messages=HELLO, stream=True, **kwargs) as chunks:
        for chunk in chunks:
            if "hello" in delta_of(chunk):
                break
    assert_left(fp, recorder)


async def test_async_stream_left_early_is_cut_at_the_billed_price(
    litellm: ModuleType, fp: FakeProviderServer, ahttp: Any, recorder: Recorder, provider: str
) -> None:
    """Leaving a streamed acompletion's ``async with`` block after its first words closes the
    upstream: one cut event costing what the provider billed for the part it sent."""
    kwargs = call_kwargs(provider, fp, ahttp, **SLOW)
    chunks = await litellm.acompletion(messages=HELLO, stream=True, **kwargs)
    async with chunks:
        async for chunk in chunks:
            if "hello" in delta_of(chunk):
                break
    await left(fp, recorder)


def refusal_of(litellm: ModuleType, provider: str) -> type[Exception]:
    """What LiteLLM raises for costcap's 402: its PaymentRequiredError for Anthropic, its
    APIError for OpenAI (it maps no 402 from the OpenAI SDK)."""
    refusal: type[Exception] = (
        litellm.APIError if provider == "openai" else litellm.PaymentRequiredError
    )
    return refusal


def test_budget_refusal_surfaces_before_anything_is_sent(
    litellm: ModuleType, fp: FakeProviderServer, poor_http: Any, recorder: Recorder,
    provider: str,
) -> None:  # fmt: skip
    """A call no budget covers is refused, nothing sent: the user sees LiteLLM's exception
    with status 402 and costcap's message."""
    with pytest.raises(refusal_of(litellm, provider), match="costcap: budget") as refused:
        litellm.completion(messages=HELLO, **call_kwargs(provider, fp, poor_http))
    assert getattr(refused.value, "status_code", None) == 402
    assert_refused(fp, recorder)


async def test_async_budget_refusal_surfaces_before_anything_is_sent(
    litellm: ModuleType, fp: FakeProviderServer, poor_ahttp: Any, recorder: Recorder,
    provider: str,
) -> None:  # fmt: skip
    """The same refusal through acompletion(): LiteLLM's exception, status 402."""
    with pytest.raises(refusal_of(litellm, provider), match="costcap: budget") as refused:
        await litellm.acompletion(messages=HELLO, **call_kwargs(provider, fp, poor_ahttp))
    assert getattr(refused.value, "status_code", None) == 402
    assert_refused(fp, recorder)


def test_attribute_block_names_who_pays(
    litellm: ModuleType, fp: FakeProviderServer, http: Any, recorder: Recorder, provider: str
) -> None:
    """A costcap.attribute block around completion() lands on the recorded event."""
    with costcap.attribute(user_id="alice", feature="summaries"):
        litellm.completion(messages=HELLO, **call_kwargs(provider, fp, http))
    [event] = recorder.events
    assert (event.user_id, event.feature) == ("alice", "summaries")


async def test_attribute_block_names_who_pays_async(
    litellm: ModuleType, fp: FakeProviderServer, ahttp: Any, recorder: Recorder, provider: str
) -> None:
    """A costcap.attribute block around acompletion() lands on the recorded event."""
    with costcap.attribute(user_id="bob", feature="triage"):
        await litellm.acompletion(messages=HELLO, **call_kwargs(provider, fp, ahttp))
    [event] = recorder.events
    assert (event.user_id, event.feature) == ("bob", "triage")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_responses_is_settled_at_the_billed_price(
    litellm: ModuleType, fp: FakeProviderServer, http: Any, recorder: Recorder, stream: bool
) -> None:
    """responses() on an OpenAI model, plain or streamed to its end, given the handler as
    ``client=``: one ok event costing what the provider billed."""
    answer = litellm.responses(input="Say hello.", stream=stream, **responses_kwargs(fp, http))
    if stream:
        for _ in answer:
            pass
    assert_billed(fp, recorder)
    assert recorder.events[0].stream is stream


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
async def test_aresponses_is_settled_at_the_billed_price(
    litellm: ModuleType, fp: FakeProviderServer, ahttp: Any, recorder: Recorder, stream: bool
) -> None:
    """aresponses(), plain or streamed to its end, given the async handler as ``client=``."""
    answer = await litellm.aresponses(
        input="Say hello.", stream=stream, **responses_kwargs(fp, ahttp)
    )
    if stream:
        async for _ in answer:
            pass
    assert_billed(fp, recorder)
    assert recorder.events[0].stream is stream


def test_the_sessions_alone_leave_anthropic_and_responses_unguarded(
    litellm: ModuleType, fp: FakeProviderServer, http: Any, recorder: Recorder
) -> None:
    """Why the recipe passes ``client=``: with ``litellm.client_session`` guarded but no
    handler given, an Anthropic call and a responses() call reach the provider, unrecorded."""
    litellm.completion(messages=HELLO, **call_kwargs("anthropic", fp))
    litellm.responses(input="Say hello.", **responses_kwargs(fp, None))
    assert len(fp.requests) == 2
    assert recorder.events == []


def test_nothing_but_the_fake_provider_is_reached(
    litellm: ModuleType, fp: FakeProviderServer, http: Any, recorder: Recorder
) -> None:
    """From LiteLLM's import on, through calls to both providers, the only host looked up or
    connected to is the fake provider's."""
    for provider in PROVIDERS:
        litellm.completion(messages=HELLO, **call_kwargs(provider, fp, http))
    assert_billed(fp, recorder, calls=2)
    assert set(REACHED) == {urlsplit(fp.openai_base_url).hostname}
