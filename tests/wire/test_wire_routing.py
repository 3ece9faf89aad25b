"""Routing at the wire: the real SDKs over ``costcap.http_client(guard)`` (and a gateway's
:class:`~costcap.wire.WireContext` over a plain ``httpx2`` client) naming a route — the body's
``model`` replaced by the router's choice before admission, the Ticket carrying the route, a
fallback along the chain when the provider fails.

The fake provider's record says which model each request was sent to and what it billed; the
money costcap recorded is compared with that bill.
"""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import openai
import pytest

import costcap
from costcap import Budget
from costcap.policy import PolicyViolation
from costcap.router import NoRoutes, UnknownTier
from costcap.testing import FakeProviderServer
from costcap.wire import CONTEXT_EXTENSION, WireContext, refusal
from tests.integrations.routing import (
    ANTHROPIC_TIERS,
    EASY,
    GLOBAL,
    HARD,
    OPENAI_TIERS,
    Side,
    fail_first,
    route_of,
    router,
)
from tests.integrations.routing import make_guard as routed_guard
from tests.wire.conftest import HELLO, Recorder, Sent, billed_pico, guarded

SIMPLE, COMPLEX, CRITICAL = OPENAI_TIERS.values()
CHAT = "chat.completions.create"


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def is_async(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def side(
    fp: FakeProviderServer, is_async: bool, recorder: Recorder, *, sdk: str = "openai",
    routes: Any = None, sent: Sent | None = None, **guard_options: Any,
) -> Side:  # fmt: skip
    """An SDK client on the fake provider whose http_client is guarded (feature ``chat``), its
    guard routed by ``routes`` (by default the OpenAI tiers; None: no router)."""
    tiers = ANTHROPIC_TIERS if sdk == "anthropic" else OPENAI_TIERS
    chosen = router(tiers) if routes is None else routes or None
    guard = routed_guard(is_async, recorder, chosen, **guard_options)
    kind: Any = {
        ("openai", False): openai.OpenAI, ("openai", True): openai.AsyncOpenAI,
        ("anthropic", False): anthropic.Anthropic, ("anthropic", True): anthropic.AsyncAnthropic,
    }[sdk, is_async]  # fmt: skip
    return Side(guard, guarded(kind, fp, guard, sent=sent, feature="chat"))


def sent_models(fp: FakeProviderServer) -> list[tuple[str | None, int]]:
    return [(r.model, r.status_code) for r in fp.requests]


async def test_a_route_name_is_sent_to_the_model_of_its_tier(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """``costcap:simple``: the provider is sent the simple tier's model; the event records the
    route name asked for, the model sent, the tier and the reason; money as billed."""
    s = side(fp, is_async, recorder)
    answer = await s.call(CHAT, model="costcap:simple", messages=HELLO)
    assert await s.reserved() == 0
    await s.close()
    assert answer.model == SIMPLE
    assert sent_models(fp) == [(SIMPLE, 200)]
    assert [route_of(e) for e in recorder.events] == [
        ("ok", "costcap:simple", SIMPLE, "simple", "explicit")
    ]
    assert recorder.cost_pico == billed_pico(fp) > 0


@pytest.mark.parametrize(
    "case",
    [("openai", "responses.create", {"input": "Say hello."}, OPENAI_TIERS["complex"]),
     ("anthropic", "messages.create", {"messages": HELLO, "max_tokens": 30},
      ANTHROPIC_TIERS["complex"])],
    ids=["responses", "messages"],
)  # fmt: skip
async def test_responses_and_messages_are_routed_too(
    fp: FakeProviderServer, recorder: Recorder, case: tuple[str, str, dict[str, Any], str]
) -> None:
    """The Responses API and Anthropic Messages route as chat does, each to its provider's
    model."""
    sdk, path, kwargs, model = case
    s = side(fp, False, recorder, sdk=sdk)
    await s.call(path, model="costcap:complex", **kwargs)
    await s.close()
    assert sent_models(fp) == [(model, 200)]
    assert route_of(recorder.events[0]) == ("ok", "costcap:complex", model, "complex", "explicit")
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_the_complexity_header_chooses_the_tier_of_costcap_auto(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``x-costcap-complexity: critical`` on ``costcap:auto``: the critical tier (reason
    ``explicit``); the header does not go upstream."""
    sent = Sent()
    s = side(fp, False, recorder, sent=sent)
    await s.call(CHAT, model="costcap:auto", messages=HELLO,
                 extra_headers={"x-costcap-complexity": "critical"})  # fmt: skip
    await s.close()
    assert sent.bodies[0]["model"] == CRITICAL
    assert "x-costcap-complexity" not in sent.headers[0]
    assert route_of(recorder.events[0])[2:] == (CRITICAL, "critical", "explicit")


@pytest.mark.parametrize(("prompt", "tier"), [(EASY, "simple"), (HARD, "critical")])
async def test_costcap_auto_classifies_the_request(
    fp: FakeProviderServer, recorder: Recorder, prompt: str, tier: str
) -> None:
    """``costcap:auto`` with no complexity: the heuristic reads the body's messages."""
    s = side(fp, False, recorder)
    await s.call(CHAT, model="costcap:auto", messages=[{"role": "user", "content": prompt}])
    await s.close()
    assert sent_models(fp) == [(OPENAI_TIERS[tier], 200)]
    assert route_of(recorder.events[0])[3:] == (tier, "auto")


async def test_a_routed_stream_is_metered_at_its_routed_model(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """A routed stream read to its end: settled ``ok`` at the routed model's price, as billed."""
    s = side(fp, is_async, recorder)
    stream = await s.call(CHAT, model="costcap:complex", messages=HELLO, stream=True)
    chunks = await s.drain(stream)
    await s.close()
    assert {c.model for c in chunks} == {COMPLEX}
    assert route_of(recorder.events[0]) == ("ok", "costcap:complex", COMPLEX, "complex",
                                            "explicit")  # fmt: skip
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_a_guard_without_a_router_refuses_a_route_name(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """No router: ``NoRoutes``, a 400 the SDK raises; recorded as refused, nothing sent."""
    s = side(fp, False, recorder, routes=False)
    with pytest.raises(openai.BadRequestError) as raised:
        await s.call(CHAT, model="costcap:auto", messages=HELLO)
    await s.close()
    assert isinstance(refusal(raised.value), NoRoutes)
    assert fp.requests == ()
    assert recorder.statuses() == ["refused"]


async def test_an_unknown_tier_is_refused(fp: FakeProviderServer, recorder: Recorder) -> None:
    """``costcap:huge`` names no tier: ``UnknownTier``, a 400; nothing sent."""
    s = side(fp, False, recorder)
    with pytest.raises(openai.BadRequestError) as raised:
        await s.call(CHAT, model="costcap:huge", messages=HELLO)
    await s.close()
    assert isinstance(refusal(raised.value), UnknownTier)
    assert fp.requests == ()


async def test_budget_pressure_routes_one_tier_down(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """The feature's budget 90 % spent, pressure at 0.8: ``costcap:complex`` goes to the simple
    tier (reason ``pressure``)."""
    feature = Budget(scope="feature:chat", period="day", limit_usd=1)
    routes = router(OPENAI_TIERS, pressure=0.8)
    s = side(fp, is_async, recorder, routes=routes, budgets=[GLOBAL, feature])
    await s.seed("0.90", feature="chat")
    await s.call(CHAT, model="costcap:complex", messages=HELLO)
    await s.close()
    assert sent_models(fp) == [(SIMPLE, 200)]
    assert route_of(recorder.events[-1])[2:] == (SIMPLE, "simple", "pressure")


# -- fallbacks ------------------------------------------------------------------------------


@pytest.mark.parametrize("error", ["500", "429", "503"])
async def test_a_provider_failure_falls_back_to_the_next_model(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool, error: str
) -> None:
    """The simple tier fails: its reservation is released (``error`` at $0) and the next model
    of the chain answers (reason ``fallback``), all in one request of the SDK's."""
    s = side(fp, is_async, recorder)
    answer = await s.call(CHAT, model="costcap:simple", messages=HELLO,
                          extra_headers=fail_first("wire", error))  # fmt: skip
    assert await s.reserved() == 0
    await s.close()
    assert answer.model == COMPLEX
    assert sent_models(fp) == [(SIMPLE, int(error)), (COMPLEX, 200)]
    assert [route_of(e) for e in recorder.events] == [
        ("error", "costcap:simple", SIMPLE, "simple", "explicit"),
        ("ok", "costcap:simple", COMPLEX, "complex", "fallback"),
    ]
    assert recorder.events[0].cost_pico == 0
    assert recorder.cost_pico == billed_pico(fp) > 0


class _Unreachable:
    """Fails to connect for ``model``'s requests; sends the others to the fake provider."""

    def __init__(self, model: str) -> None:
        self.model = model

    def fails(self, request: httpx2.Request) -> bool:
        return f'"model":"{self.model}"'.encode() in request.content


class SyncUnreachable(_Unreachable, httpx2.BaseTransport):
    def __init__(self, model: str) -> None:
        super().__init__(model)
        self.inner = httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if self.fails(request):
            raise httpx2.ConnectError("connection refused", request=request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class AsyncUnreachable(_Unreachable, httpx2.AsyncBaseTransport):
    def __init__(self, model: str) -> None:
        super().__init__(model)
        self.inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self.fails(request):
            raise httpx2.ConnectError("connection refused", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_connection_failure_falls_back_to_the_next_model(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """The simple tier's upstream cannot be reached: released, and the next model answers."""
    guard = routed_guard(is_async, recorder, router(OPENAI_TIERS))
    transport = AsyncUnreachable(SIMPLE) if is_async else SyncUnreachable(SIMPLE)
    kind: Any = openai.AsyncOpenAI if is_async else openai.OpenAI
    s = Side(guard, guarded(kind, fp, guard, feature="chat", transport=transport))
    answer = await s.call(CHAT, model="costcap:simple", messages=HELLO)
    assert await s.reserved() == 0
    await s.close()
    assert answer.model == COMPLEX
    assert sent_models(fp) == [(COMPLEX, 200)]
    assert [(e.status, e.model, e.route_reason) for e in recorder.events] == [
        ("error", SIMPLE, "explicit"), ("ok", COMPLEX, "fallback"),
    ]  # fmt: skip


async def test_the_chain_exhausted_hands_back_the_last_error(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """Every model fails: each is tried once (the tiers above, then below) and the last answer,
    a 500, is what the SDK raises; nothing stays reserved, nothing was billed."""
    s = side(fp, is_async, recorder)
    with pytest.raises(openai.InternalServerError):
        await s.call(CHAT, model="costcap:complex", messages=HELLO,
                     extra_headers={"x-fake-error": "500"})  # fmt: skip
    assert await s.reserved() == 0
    await s.close()
    assert sent_models(fp) == [(COMPLEX, 500), (CRITICAL, 500), (SIMPLE, 500)]
    assert recorder.statuses() == ["error", "error", "error"]
    assert recorder.cost_pico == billed_pico(fp) == 0


async def test_a_bad_request_does_not_fall_back(fp: FakeProviderServer, recorder: Recorder) -> None:
    """A 400 is the request's fault, not the model's: handed back at once."""
    s = side(fp, False, recorder)
    with pytest.raises(openai.BadRequestError):
        await s.call(CHAT, model="costcap:simple", messages=HELLO,
                     extra_headers={"x-fake-error": "400"})  # fmt: skip
    await s.close()
    assert sent_models(fp) == [(SIMPLE, 400)]


async def test_a_model_named_as_itself_never_falls_back(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A real model name is sent as asked: its failure is the caller's to see."""
    s = side(fp, False, recorder)
    with pytest.raises(openai.InternalServerError):
        await s.call(CHAT, model=SIMPLE, messages=HELLO, extra_headers=fail_first("plain"))
    await s.close()
    assert sent_models(fp) == [(SIMPLE, 500)]
    assert route_of(recorder.events[0]) == ("error", SIMPLE, SIMPLE, None, None)


# -- a gateway's key ----------------------------------------------------------------------------


def through_gateway(
    fp: FakeProviderServer, recorder: Recorder, context: WireContext, model: str,
    **headers: str,
) -> httpx2.Response:  # fmt: skip
    """One chat request sent as the gateway sends it: through the guarded transport with
    ``context`` (who pays: feature ``chat``)."""
    guard = routed_guard(False, recorder, router(OPENAI_TIERS))
    assert isinstance(guard, costcap.Guard)
    with costcap.http_client(guard, feature="chat") as client:
        response = client.post(
            f"{fp.openai_base_url}/chat/completions", headers=headers,
            json={"model": model, "messages": HELLO},
            extensions={CONTEXT_EXTENSION: context},
        )  # fmt: skip
    guard.close()
    return response


def test_the_context_learns_the_routed_ticket_and_model(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """The gateway reads the ticket (its route: the route name asked for, the tier, the
    reason) and the model the request went to."""
    context = WireContext()
    response = through_gateway(fp, recorder, context, "costcap:simple")
    assert response.status_code == 200
    assert context.model == SIMPLE
    ticket = context.ticket
    assert ticket is not None
    assert (ticket.model, ticket.requested_model, ticket.tier, ticket.route_reason) == (
        SIMPLE, "costcap:simple", "simple", "explicit",
    )  # fmt: skip


@pytest.mark.parametrize("allowed", ["costcap:simple", SIMPLE], ids=["route", "model"])
def test_a_key_may_use_a_route_it_is_allowed_or_the_model_it_routes_to(
    fp: FakeProviderServer, recorder: Recorder, allowed: str
) -> None:
    """A key allowed the route name, or the model the route picks, may send the route."""
    context = WireContext(models=frozenset({allowed}))
    response = through_gateway(fp, recorder, context, "costcap:simple")
    assert response.status_code == 200
    assert sent_models(fp) == [(SIMPLE, 200)]


def test_a_key_is_refused_a_route_to_a_model_it_may_not_use(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Allowed neither the route name nor the model it picks: 400, nothing sent."""
    context = WireContext(models=frozenset({COMPLEX}))
    response = through_gateway(fp, recorder, context, "costcap:simple")
    assert response.status_code == 400
    assert isinstance(refusal(response), PolicyViolation)
    assert "routed from 'costcap:simple'" in response.json()["error"]["message"]
    assert fp.requests == ()


def test_a_fallback_skips_the_models_a_key_may_not_use(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """The simple tier fails; the next model of the chain (complex) is not the key's: the
    fallback goes to the critical tier."""
    context = WireContext(models=frozenset({SIMPLE, CRITICAL}))
    response = through_gateway(fp, recorder, context, "costcap:simple", **fail_first("key"))
    assert response.status_code == 200
    assert sent_models(fp) == [(SIMPLE, 500), (CRITICAL, 200)]
    assert recorder.cost_pico == billed_pico(fp) > 0
