"""The transport under plain clients: ``costcap.http_client`` used directly, ``httpx`` (not only
the SDKs' ``httpx2``), mounts, encoded answers, failures in flight."""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
import httpx2
import pytest

import costcap
from costcap import AsyncGuard, Guard
from costcap.testing import FakeProviderServer
from tests.wire.conftest import GPT, HELLO, Recorder, billed_pico, make_guard, recorded, served

CHAT = {"model": GPT, "messages": HELLO}


def chat_url(fp: FakeProviderServer) -> str:
    return f"{fp.openai_base_url}/chat/completions"


def test_a_plain_post_is_guarded(fp: FakeProviderServer, recorder: Recorder, guard: Guard) -> None:
    """``costcap.http_client(guard).post(...)``: admitted, bounded, settled as billed."""
    with costcap.http_client(guard) as client:
        response = client.post(chat_url(fp), json=CHAT)
    assert response.json()["usage"]["completion_tokens"] == 20
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


@pytest.mark.parametrize(
    ("content", "says"),
    [(b"model=gpt-4o-mini", "is not JSON"),
     (json.dumps({"model": GPT, "messages": 5}).encode(), "could not read this request"),
     (json.dumps({"model": GPT, "messages": "hi"}).encode(), "a message must be a mapping")],
)  # fmt: skip
def test_a_body_costcap_cannot_read_is_answered_400_and_never_sent(
    fp: FakeProviderServer, guard: Guard, content: bytes, says: str
) -> None:
    """Not JSON, or not what the API reads: a 400 saying why; the provider sees nothing."""
    with costcap.http_client(guard) as client:
        response = client.post(chat_url(fp), content=content)
    assert response.status_code == 400
    assert says in response.json()["error"]["message"]
    assert fp.requests == ()


def test_an_httpx_client_is_guarded_too(
    fp: FakeProviderServer, recorder: Recorder, guard: Guard
) -> None:
    """``httpx.Client(transport=GuardedTransport(guard, inner=httpx.HTTPTransport()))``: a call
    and a stream read line by line, each settled as billed."""
    transport = costcap.GuardedTransport(guard, inner=httpx.HTTPTransport())
    with httpx.Client(transport=transport) as client:  # type: ignore[arg-type]
        assert client.post(chat_url(fp), json=CHAT).status_code == 200
        with client.stream("POST", chat_url(fp), json={**CHAT, "stream": True}) as stream:
            lines = list(stream.iter_lines())
    assert lines[-2:] == ["data: [DONE]", ""]
    assert not any('"usage":{' in line for line in lines)
    served(fp, 2)
    assert recorder.statuses() == ["ok", "ok"]
    assert recorder.cost_pico == billed_pico(fp)


async def test_an_httpx_async_client_is_guarded_too(
    fp: FakeProviderServer, recorder: Recorder, aguard: AsyncGuard
) -> None:
    transport = costcap.AsyncGuardedTransport(aguard, inner=httpx.AsyncHTTPTransport())
    async with (
        httpx.AsyncClient(transport=transport) as client,  # type: ignore[arg-type]
        client.stream("POST", chat_url(fp), json={**CHAT, "stream": True}) as stream,
    ):
        chunks = [chunk async for chunk in stream.aiter_bytes()]
    assert b"".join(chunks).endswith(b"data: [DONE]\n\n")
    served(fp)
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp)


def test_mounted_transports_are_guarded(
    fp: FakeProviderServer, recorder: Recorder, guard: Guard
) -> None:
    """A transport mounted for a route is guarded like the default one."""
    mounts: dict[str, Any] = {"http://127.0.0.1": httpx2.HTTPTransport()}
    with costcap.http_client(guard, mounts=mounts) as client:
        client.post(chat_url(fp), json=CHAT)
    assert recorder.statuses() == ["ok"]


def test_a_guard_of_the_wrong_kind_is_refused(guard: Guard) -> None:
    """A sync transport needs a Guard, an async one an AsyncGuard: said at construction."""
    with pytest.raises(TypeError, match=r"AsyncGuardedTransport needs a costcap\.AsyncGuard"):
        costcap.AsyncGuardedTransport(guard)  # type: ignore[arg-type]
    aguard = AsyncGuard("memory://", notifiers=[])
    with pytest.raises(TypeError, match=r"use costcap\.AsyncGuardedTransport"):
        costcap.GuardedTransport(aguard)  # type: ignore[arg-type]


def test_an_encoded_answer_is_settled_and_handed_back_decoded(recorder: Recorder) -> None:
    """A gzip answer is read to settle it; the caller gets the same JSON, decoded."""
    plain = recorded("chat.json")

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=gzip.compress(plain),
                               headers={"content-encoding": "gzip",
                                        "content-type": "application/json"})  # fmt: skip

    guard = make_guard(recorder)
    with costcap.http_client(guard, transport=httpx2.MockTransport(answer)) as client:
        response = client.post("https://api.openai.com/v1/chat/completions", json=CHAT)
    assert response.content == plain
    assert (recorder.events[0].input_tokens, recorder.events[0].output_tokens) == (10, 3)


def test_a_connection_failure_releases_the_reservation(recorder: Recorder) -> None:
    """No answer at all: the connection error goes on, the reservation is given back."""

    def fail(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused", request=request)

    guard = make_guard(recorder)
    with (
        costcap.http_client(guard, transport=httpx2.MockTransport(fail)) as client,
        pytest.raises(httpx2.ConnectError),
    ):
        client.post("https://api.openai.com/v1/chat/completions", json=CHAT)
    assert recorder.statuses() == ["error"]
    assert sum(s["reserved_usd"] for s in guard.status()) == 0


def test_a_call_interrupted_in_flight_is_charged_its_worst_case(recorder: Recorder) -> None:
    """Interrupted while the provider works: it may still bill, so the call is settled
    ``cut`` at its prompt and ``max_tokens``."""

    def interrupt(request: httpx2.Request) -> httpx2.Response:
        raise KeyboardInterrupt

    guard = make_guard(recorder)
    with (
        costcap.http_client(guard, transport=httpx2.MockTransport(interrupt)) as client,
        pytest.raises(KeyboardInterrupt),
    ):
        client.post("https://api.openai.com/v1/chat/completions", json={**CHAT, "max_tokens": 33})
    event = recorder.events[0]
    assert (event.status, event.output_tokens) == ("cut", 33)
