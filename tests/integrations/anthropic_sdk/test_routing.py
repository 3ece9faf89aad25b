"""``costcap.wrap(anthropic.Anthropic())`` with routes (sync and async): the tier a route name is
sent to on every guarded path, cascades of plain calls, fallbacks when the provider fails (also
for a stream, before its first event), budget pressure and the response cache.

Each scenario asks the fake provider which models it was sent, and compares what it billed
(priced from its own record) with what costcap recorded, to the picodollar.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import anthropic
import pytest

from costcap import Budget, Policy, Rule
from costcap.cache import AsyncResponseCache, ResponseCache
from costcap.integrations._attribution import attribute
from costcap.router import NoRoutes
from costcap.testing import FakeProviderServer
from tests.integrations.anthropic_sdk.conftest import MESSAGES, Recorder, billed_pico, served
from tests.integrations.routing import (
    ANTHROPIC_TIERS,
    EASY,
    GLOBAL,
    HARD,
    PerModel,
    Side,
    fail_first,
    route_of,
    routed_side,
    router,
)

HAIKU, SONNET, OPUS = ANTHROPIC_TIERS.values()
EMPTY = {"x-fake-output-tokens": "0"}
CREATE = "messages.create"


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def is_async(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def side(
    fp: FakeProviderServer, is_async: bool, recorder: Recorder, *, cascade: bool = False,
    pressure: Any = None, **options: Any,
) -> Side:  # fmt: skip
    routes = router(ANTHROPIC_TIERS, cascade=cascade, pressure=pressure)
    return routed_side("anthropic", fp, is_async, recorder, routes, **options)


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def sent(fp: FakeProviderServer) -> list[tuple[str | None, int]]:
    return [(r.model, r.status_code) for r in fp.requests]


def text_of(message: Any) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


# -- which model a route name is sent to ---------------------------------------------------------


async def test_every_path_is_routed(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """``create``, ``create(stream=True)``, ``stream()``, ``parse``, ``with_raw_response``,
    ``with_streaming_response`` and ``beta.messages``: each sent to the tier's model, each event
    with the route name, tier and reason."""
    s = side(fp, is_async, recorder)
    message = await s.call(CREATE, model="costcap:auto", messages=ask(HARD))
    await s.drain(await s.call(CREATE, model="costcap:auto", messages=ask(EASY), stream=True))
    stream, _ = await s.enter(s.client.messages.stream(model="costcap:complex", messages=MESSAGES))
    final = stream.get_final_message()
    final = await final if s.is_async else final
    parsed = await s.call("messages.parse", model="costcap:simple", messages=MESSAGES)
    raw = await s.call("messages.with_raw_response.create", model="costcap:critical",
                       messages=MESSAGES)  # fmt: skip
    body = s.client.messages.with_streaming_response.create(model="costcap:simple",
                                                             messages=MESSAGES)  # fmt: skip
    await s.enter(body)
    beta = await s.call("beta.messages.create", model="costcap:complex", messages=MESSAGES)
    await s.close()
    served(fp, 7)
    assert (message.model, final.model, parsed.model, beta.model) == (OPUS, SONNET, HAIKU, SONNET)
    assert (await raw.parse() if s.is_async else raw.parse()).model == OPUS
    assert [m for m, _ in sent(fp)] == [OPUS, HAIKU, SONNET, HAIKU, OPUS, HAIKU, SONNET]
    assert [(e.tier, e.route_reason, e.stream) for e in recorder.events] == [
        ("critical", "auto", False), ("simple", "auto", True), ("complex", "explicit", True),
        ("simple", "explicit", False), ("critical", "explicit", False),
        ("simple", "explicit", False), ("complex", "explicit", False),
    ]  # fmt: skip
    assert all(str(e.requested_model).startswith("costcap:") for e in recorder.events)
    assert recorder.cost_pico == billed_pico(fp)


async def test_complexity_real_names_and_no_routes(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """``costcap_complexity`` and an attribute block choose the tier; a real model name is
    sent as asked; a feature without routes is refused with NoRoutes, recorded, nothing sent."""
    s = side(fp, is_async, recorder)
    await s.call(CREATE, model="costcap:auto", messages=ask(HARD), costcap_complexity="simple")
    with attribute(complexity="critical"):
        await s.call(CREATE, model="costcap:auto", messages=ask(EASY))
        await s.call(CREATE, model=HAIKU, messages=ask(EASY))
    with pytest.raises(NoRoutes):
        await s.call(CREATE, model="costcap:auto", messages=MESSAGES, costcap_feature="other")
    await s.close()
    assert [m for m, _ in sent(fp)] == [HAIKU, OPUS, HAIKU]
    assert [route_of(e) for e in recorder.events] == [
        ("ok", "costcap:auto", HAIKU, "simple", "explicit"),
        ("ok", "costcap:auto", OPUS, "critical", "attribute"),
        ("ok", HAIKU, HAIKU, None, None),
        ("refused", "costcap:auto", "costcap:auto", None, None),
    ]
    assert recorder.cost_pico == billed_pico(fp)


# -- cascades ----------------------------------------------------------------------------------


async def test_a_cascade_asks_one_tier_up(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """Empty (the fake's knob for the cheap model alone) then truncated (a policy cap on the
    middle model): each rejected answer is asked one tier up, the calls of one answer sharing
    a cascade id; ``parse`` too."""
    policy = Policy(models={SONNET: Rule(max_tokens_cap=5)})
    s = side(fp, is_async, recorder, cascade=True, policy=policy,
             per_model=PerModel({HAIKU: EMPTY}))  # fmt: skip
    message = await s.call(CREATE, model="costcap:simple", messages=MESSAGES)
    parsed = await s.call("messages.parse", model="costcap:simple", messages=MESSAGES)
    assert await s.reserved() == 0
    await s.close()
    assert (message.model, parsed.model) == (OPUS, OPUS)
    assert text_of(message)
    assert [(r.model, r.output_tokens, r.finish_reason) for r in fp.requests][:3] == [
        (HAIKU, 0, "end_turn"), (SONNET, 5, "max_tokens"), (OPUS, 20, "end_turn"),
    ]  # fmt: skip
    assert [(e.tier, e.route_reason) for e in recorder.events] == [
        ("simple", "explicit"), ("complex", "cascade"), ("critical", "cascade"),
    ] * 2  # fmt: skip
    ids = [e.cascade_id for e in recorder.events]
    assert ids[0] == ids[1] == ids[2] != ids[3] == ids[4] == ids[5]
    assert recorder.cost_pico == billed_pico(fp)


async def test_accepted_answers_and_streams_are_not_escalated(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """An answer the validators accept is returned at once; a stream (``stream=True``,
    ``stream()``) is never judged, however empty."""
    s = side(fp, is_async, recorder, cascade=True, per_model=PerModel({HAIKU: EMPTY}))
    message = await s.call(CREATE, model="costcap:complex", messages=MESSAGES)
    await s.drain(await s.call(CREATE, model="costcap:simple", messages=MESSAGES, stream=True))
    await s.enter(s.client.messages.stream(model="costcap:simple", messages=MESSAGES))
    await s.close()
    served(fp, 3)
    assert message.model == SONNET
    assert [m for m, _ in sent(fp)] == [SONNET, HAIKU, HAIKU]
    assert [(e.tier, e.cascade_id is None) for e in recorder.events] == [
        ("complex", False), ("simple", True), ("simple", True),
    ]  # fmt: skip
    assert recorder.cost_pico == billed_pico(fp)


async def test_a_cascade_through_the_cache(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """The rejected cheap answer is stored under its own key like any answer: a repeat is
    answered by two hits at $0, the cheap one rejected again."""
    cache = AsyncResponseCache("memory://") if is_async else ResponseCache("memory://")
    s = side(fp, is_async, recorder, cascade=True, per_model=PerModel({HAIKU: EMPTY}),
             cache=cache)  # fmt: skip
    for _ in range(2):
        message = await s.call(CREATE, model="costcap:simple", messages=MESSAGES,
                               extra_body={"temperature": 0})  # fmt: skip
        assert message.model == SONNET
    await s.close()
    assert [m for m, _ in sent(fp)] == [HAIKU, SONNET]
    assert [(e.model, e.route_reason, e.cache_hit) for e in recorder.events] == [
        (HAIKU, "explicit", False), (SONNET, "cascade", False),
        (HAIKU, "explicit", True), (SONNET, "cascade", True),
    ]  # fmt: skip
    assert recorder.cost_pico == billed_pico(fp)


# -- fallbacks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("error", ["500", "429", "529"])
async def test_a_failed_call_falls_back(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool, error: str
) -> None:
    """The cheap tier fails (500, 429, 529 overloaded): released, then the tier above is
    admitted and answers (``fallback``)."""
    s = side(fp, is_async, recorder)
    message = await s.call(CREATE, model="costcap:simple", messages=MESSAGES,
                           extra_headers=fail_first("k", error))  # fmt: skip
    assert await s.reserved() == 0
    await s.close()
    assert message.model == SONNET
    assert sent(fp) == [(HAIKU, int(error)), (SONNET, 200)]
    assert [route_of(e) for e in recorder.events] == [
        ("error", "costcap:simple", HAIKU, "simple", "explicit"),
        ("ok", "costcap:simple", SONNET, "complex", "fallback"),
    ]
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_streams_fall_back_before_their_first_event(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """``create(stream=True)`` (the SDK raises at create), ``stream()`` and
    ``with_streaming_response`` (they raise when entered) fall back; the chain exhausted,
    the last error is raised when the block is entered."""
    s = side(fp, is_async, recorder)
    await s.drain(await s.call(CREATE, model="costcap:simple", messages=MESSAGES, stream=True,
                               extra_headers=fail_first("a")))  # fmt: skip
    stream, _ = await s.enter(s.client.messages.stream(
        model="costcap:simple", messages=MESSAGES, extra_headers=fail_first("b", "429")
    ))  # fmt: skip
    final = stream.get_final_message()
    assert (await final if s.is_async else final).model == SONNET
    await s.enter(s.client.messages.with_streaming_response.create(
        model="costcap:simple", messages=MESSAGES, extra_headers=fail_first("c", "503")
    ))  # fmt: skip
    with pytest.raises(anthropic.InternalServerError):
        await s.enter(s.client.messages.stream(model="costcap:critical", messages=MESSAGES,
                                               extra_headers={"x-fake-error": "500"}))  # fmt: skip
    assert await s.reserved() == 0
    await s.close()
    served(fp, 9)
    assert sent(fp) == [
        (HAIKU, 500), (SONNET, 200), (HAIKU, 429), (SONNET, 200), (HAIKU, 503), (SONNET, 200),
        (OPUS, 500), (SONNET, 500), (HAIKU, 500),
    ]  # fmt: skip
    assert recorder.statuses() == ["error", "ok"] * 3 + ["error"] * 3
    assert [e.route_reason for e in recorder.events][:2] == ["explicit", "fallback"]
    assert recorder.cost_pico == billed_pico(fp)


# -- budget pressure ---------------------------------------------------------------------------


async def test_budget_pressure_goes_one_tier_down_from_the_share_exactly(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """A user budget 79.99 % spent keeps the tier; at 80 % the call goes one tier down."""
    budget = Budget(scope="user:*", period="day", limit_usd=1)
    s = side(fp, is_async, recorder, pressure=Decimal("0.8"), budgets=[GLOBAL, budget])
    await s.seed("0.7999", user_id="bob")
    await s.call(CREATE, model="costcap:critical", messages=MESSAGES, costcap_user_id="bob")
    await s.seed("0.0001", user_id="bob")
    await s.call(CREATE, model="costcap:critical", messages=MESSAGES, costcap_user_id="bob")
    await s.call(CREATE, model="costcap:critical", messages=MESSAGES, costcap_user_id="carol")
    await s.close()
    assert [m for m, _ in sent(fp)] == [OPUS, SONNET, OPUS]
    routed = [e for e in recorder.events if e.tier is not None]
    assert [(e.user_id, e.tier, e.route_reason) for e in routed] == [
        ("bob", "critical", "explicit"), ("bob", "complex", "pressure"),
        ("carol", "critical", "explicit"),
    ]  # fmt: skip
    assert sum(e.cost_pico for e in routed) == billed_pico(fp)
