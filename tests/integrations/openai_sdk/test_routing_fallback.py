"""``costcap.wrap(openai.OpenAI())`` with routes, when the provider fails: after the SDK's retries,
a routed call that got a 429, a 5xx, a timeout or a connection error is admitted again for the
next model of its chain (sync and async).

The fake provider fails the first attempt of a request key (``x-fake-fail-times: 1``), the next
model's call is its second attempt and succeeds. Each failed call's reservation is released
before the next is admitted (an ``error`` event at $0); what costcap recorded equals what the
fake provider billed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import openai
import pytest

from costcap import Budget, Guard
from costcap.testing import FakeProviderServer
from tests.integrations.openai_sdk.conftest import MESSAGES, Recorder, billed_pico, served
from tests.integrations.routing import (
    OPENAI_TIERS,
    Side,
    fail_first,
    route_of,
    routed_side,
    router,
)

SIMPLE, COMPLEX, CRITICAL = OPENAI_TIERS.values()
CHAT, RESPONSES = "chat.completions.create", "responses.create"
ENDPOINTS: dict[str, dict[str, Any]] = {
    CHAT: {"messages": MESSAGES},
    RESPONSES: {"input": "Say hello."},
}


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def is_async(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def side(fp: FakeProviderServer, is_async: bool, recorder: Recorder, **options: Any) -> Side:
    routes = router(OPENAI_TIERS, chain=options.pop("chain", None))
    return routed_side("openai", fp, is_async, recorder, routes, **options)


def sent(fp: FakeProviderServer) -> list[tuple[str | None, int]]:
    return [(r.model, r.status_code) for r in fp.requests]


@pytest.mark.parametrize("error", ["500", "429", "503"])
@pytest.mark.parametrize("endpoint", [CHAT, RESPONSES])
async def test_a_failed_call_falls_back_to_the_next_model(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool, endpoint: str, error: str
) -> None:
    """The cheap tier fails: its reservation is released (``error``, $0), the next model of
    the chain (the tier above) is admitted and answers (reason ``fallback``)."""
    s = side(fp, is_async, recorder)
    answer = await s.call(endpoint, model="costcap:simple", extra_headers=fail_first("k", error),
                          **ENDPOINTS[endpoint])  # fmt: skip
    assert await s.reserved() == 0
    await s.close()
    assert answer.model == COMPLEX
    assert sent(fp) == [(SIMPLE, int(error)), (COMPLEX, 200)]
    assert [route_of(e) for e in recorder.events] == [
        ("error", "costcap:simple", SIMPLE, "simple", "explicit"),
        ("ok", "costcap:simple", COMPLEX, "complex", "fallback"),
    ]
    assert recorder.events[0].cost_pico == 0
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_the_chain_exhausted_raises_the_last_error(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """Every model fails: each is tried once — the tiers above the decided one, then those
    below — and the last error is raised; nothing stays reserved."""
    s = side(fp, is_async, recorder)
    with pytest.raises(openai.InternalServerError):
        await s.call(CHAT, model="costcap:complex", messages=MESSAGES,
                     extra_headers={"x-fake-error": "500"})  # fmt: skip
    assert await s.reserved() == 0
    await s.close()
    assert sent(fp) == [(COMPLEX, 500), (CRITICAL, 500), (SIMPLE, 500)]
    assert [(e.status, e.model, e.route_reason) for e in recorder.events] == [
        ("error", COMPLEX, "explicit"), ("error", CRITICAL, "fallback"),
        ("error", SIMPLE, "fallback"),
    ]  # fmt: skip
    assert recorder.cost_pico == billed_pico(fp) == 0


async def test_an_error_that_is_not_the_providers_failing_is_raised(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """A 400 (the request is wrong) is not a failure another model answers: raised at once."""
    s = side(fp, is_async, recorder)
    with pytest.raises(openai.BadRequestError):
        await s.call(CHAT, model="costcap:simple", messages=MESSAGES,
                     extra_headers={"x-fake-error": "400"})  # fmt: skip
    await s.close()
    assert sent(fp) == [(SIMPLE, 400)]
    assert recorder.statuses() == ["error"]


async def test_a_configured_chain_is_followed(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """With ``chain`` set, the fallback is its first model not tried yet."""
    s = side(fp, is_async, recorder, chain=[SIMPLE, "gpt-4o"])
    answer = await s.call(CHAT, model="costcap:complex", messages=MESSAGES,
                          extra_headers=fail_first("chain"))  # fmt: skip
    await s.close()
    assert answer.model == SIMPLE
    assert sent(fp) == [(COMPLEX, 500), (SIMPLE, 200)]
    assert recorder.cost_pico == billed_pico(fp)


async def test_the_sdk_retries_come_first(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """A failure the SDK's own retry gets past is no fallback: one call, one model."""
    s = side(fp, is_async, recorder, max_retries=1)
    answer = await s.call(CHAT, model="costcap:simple", messages=MESSAGES,
                          extra_headers=fail_first("retried", "429"))  # fmt: skip
    await s.close()
    assert answer.model == SIMPLE
    assert sent(fp) == [(SIMPLE, 429), (SIMPLE, 200)]
    assert [route_of(e) for e in recorder.events] == [
        ("ok", "costcap:simple", SIMPLE, "simple", "explicit")
    ]
    assert recorder.cost_pico == billed_pico(fp)


async def test_a_stream_falls_back_when_it_fails_before_its_first_chunk(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """A streamed call whose provider fails at once (the SDK raises at create) falls back;
    the caller reads the next model's stream. ``with_streaming_response`` (its body read as it
    comes) the same."""
    s = side(fp, is_async, recorder)
    stream = await s.call(CHAT, model="costcap:simple", messages=MESSAGES, stream=True,
                          extra_headers=fail_first("stream"))  # fmt: skip
    chunks = await s.drain(stream)
    manager = s.client.responses.with_streaming_response.create(
        model="costcap:simple", input="Say hello.", extra_headers=fail_first("body", "429")
    )
    await s.enter(manager)
    assert await s.reserved() == 0
    await s.close()
    served(fp, 4)
    assert {c.model for c in chunks} == {COMPLEX}
    assert sent(fp) == [(SIMPLE, 500), (COMPLEX, 200), (SIMPLE, 429), (COMPLEX, 200)]
    assert [(e.status, e.model, e.route_reason, e.stream) for e in recorder.events] == [
        ("error", SIMPLE, "explicit", False), ("ok", COMPLEX, "fallback", True),
        ("error", SIMPLE, "explicit", False), ("ok", COMPLEX, "fallback", False),
    ]  # fmt: skip
    assert recorder.cost_pico == billed_pico(fp)


async def test_never_two_reservations_at_once(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """A budget that holds the larger of the two calls' reservations but not both: the
    fallback is admitted, since the failed call's reservation was released before."""
    held = []
    probe = Guard("memory://", notifiers=[])
    for model in (SIMPLE, COMPLEX):
        ticket = probe.admit(model=model, messages=MESSAGES)
        held.append(ticket.reserved_micros)
        probe.release(ticket)
    budget = Budget(scope="global", period="day", limit_usd=Decimal(max(held)) / 1_000_000)
    assert max(held) < sum(held)
    s = side(fp, is_async, recorder, budgets=[budget])
    answer = await s.call(CHAT, model="costcap:simple", messages=MESSAGES,
                          extra_headers=fail_first("one"))  # fmt: skip
    assert await s.reserved() == 0
    await s.close()
    assert answer.model == COMPLEX
    assert recorder.statuses() == ["error", "ok"]
    assert recorder.cost_pico == billed_pico(fp)
