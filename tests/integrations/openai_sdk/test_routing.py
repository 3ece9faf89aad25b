"""``costcap.wrap(openai.OpenAI())`` with routes: the model a route name is sent to, what the
Ticket and events say of it, refusals, budget pressure and the response cache (sync and async).

Each scenario asks the fake provider which models it was sent, and compares what it billed
(priced from its own record) with what costcap recorded, to the picodollar.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from costcap import Budget, BudgetExceeded, Policy, PolicyViolation
from costcap.cache import AsyncResponseCache, ResponseCache
from costcap.integrations._attribution import attribute
from costcap.router import NoRoutes, UnknownTier
from costcap.stores.memory import MemoryStore
from costcap.testing import FakeProviderServer
from tests.integrations.openai_sdk.conftest import MESSAGES, Recorder, billed_pico, served
from tests.integrations.routing import (
    EASY,
    GLOBAL,
    HARD,
    OPENAI_TIERS,
    Side,
    route_of,
    routed_side,
    router,
)

SIMPLE, COMPLEX, CRITICAL = OPENAI_TIERS.values()


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def is_async(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def side(fp: FakeProviderServer, is_async: bool, recorder: Recorder, **options: Any) -> Side:
    routes = options.pop("routes", None) or router(OPENAI_TIERS)
    return routed_side("openai", fp, is_async, recorder, routes, **options)


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def sent(fp: FakeProviderServer) -> list[str | None]:
    return [r.model for r in fp.requests]


# -- which model a route name is sent to ---------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "extra", "expected"),
    [
        ("costcap:simple", {}, ("simple", SIMPLE, "explicit")),
        ("costcap:critical", {}, ("critical", CRITICAL, "explicit")),
        ("costcap:auto", {"costcap_complexity": "simple"}, ("simple", SIMPLE, "explicit")),
        ("costcap:auto", {"costcap_complexity": "critical"}, ("critical", CRITICAL, "explicit")),
    ],
)
async def test_a_route_name_is_sent_to_its_tier(  # noqa: PLR0917 - fixtures and parameters
    fp: FakeProviderServer,
    recorder: Recorder,
    is_async: bool,
    model: str,
    extra: dict[str, Any],
    expected: tuple[str, str, str],
) -> None:
    """``costcap:<tier>`` and ``costcap:auto`` with ``costcap_complexity`` (removed before the
    SDK sees it) are sent to the tier's model; the event keeps the route name asked for."""
    tier, model_sent, reason = expected
    s = side(fp, is_async, recorder)
    completion = await s.call("chat.completions.create", model=model, messages=MESSAGES, **extra)
    await s.close()
    assert completion.model == model_sent
    assert sent(fp) == [model_sent]
    [event] = recorder.events
    assert route_of(event) == ("ok", model, model_sent, tier, reason)
    assert event.cascade_id is None
    assert event.cost_pico == billed_pico(fp) > 0


async def test_the_classifier_chooses_the_tier_of_costcap_auto(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """``costcap:auto`` alone: the heuristic reads the prompt — a greeting goes to the simple
    tier, a proof to the critical one (chat and Responses)."""
    s = side(fp, is_async, recorder)
    await s.call("chat.completions.create", model="costcap:auto", messages=ask(EASY))
    await s.call("chat.completions.create", model="costcap:auto", messages=ask(HARD))
    await s.call("responses.create", model="costcap:auto", input=EASY)
    await s.call("responses.create", model="costcap:auto", input=HARD)
    await s.close()
    assert sent(fp) == [SIMPLE, CRITICAL, SIMPLE, CRITICAL]
    assert [(e.tier, e.route_reason) for e in recorder.events] == [
        ("simple", "auto"), ("critical", "auto"), ("simple", "auto"), ("critical", "auto"),
    ]  # fmt: skip
    assert recorder.cost_pico == billed_pico(fp)


async def test_an_attribute_block_chooses_the_tier_and_the_call_wins_over_it(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """``costcap.attribute(complexity=…)`` gives the tier of the block's routed calls (reason
    ``attribute``), over the classifier; a call's own ``costcap_complexity`` wins over it."""
    s = side(fp, is_async, recorder)
    with attribute(complexity="critical"):
        await s.call("chat.completions.create", model="costcap:auto", messages=ask(EASY))
        await s.call("chat.completions.create", model="costcap:auto", messages=ask(EASY),
                     costcap_complexity="simple")  # fmt: skip
        with attribute(user_id="alice"):  # a nested block keeps the outer's complexity
            await s.call("responses.create", model="costcap:auto", input=EASY)
    await s.close()
    assert sent(fp) == [CRITICAL, SIMPLE, CRITICAL]
    assert [(e.tier, e.route_reason, e.user_id) for e in recorder.events] == [
        ("critical", "attribute", None), ("simple", "explicit", None),
        ("critical", "attribute", "alice"),
    ]  # fmt: skip
    assert recorder.cost_pico == billed_pico(fp)


async def test_a_real_model_name_is_sent_as_asked(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """A real model name is not routed, a router or not: sent as asked (its
    ``costcap_complexity`` removed, unused); the event has no tier, reason or cascade."""
    s = side(fp, is_async, recorder)
    await s.call("chat.completions.create", model="gpt-4o", messages=ask(HARD),
                 costcap_complexity="simple")  # fmt: skip
    with attribute(complexity="simple"):
        await s.call("responses.create", model="gpt-4o", input=EASY)
    await s.close()
    assert sent(fp) == ["gpt-4o", "gpt-4o"]
    assert [route_of(e) for e in recorder.events] == [("ok", "gpt-4o", "gpt-4o", None, None)] * 2
    assert recorder.cost_pico == billed_pico(fp)


async def test_a_streamed_call_is_routed(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """``stream=True`` is routed as a plain call (chat and Responses): the stream is the tier's
    model's, its event carries the route."""
    s = side(fp, is_async, recorder)
    stream = await s.call("chat.completions.create", model="costcap:auto", messages=ask(HARD),
                          stream=True)  # fmt: skip
    chunks = await s.drain(stream)
    events = await s.drain(await s.call("responses.create", model="costcap:simple", input=EASY,
                                        stream=True))  # fmt: skip
    await s.close()
    served(fp, 2)
    assert {c.model for c in chunks} == {CRITICAL}
    assert events[-1].response.model == SIMPLE
    assert sent(fp) == [CRITICAL, SIMPLE]
    assert [(e.tier, e.route_reason, e.stream) for e in recorder.events] == [
        ("critical", "auto", True), ("simple", "explicit", True),
    ]  # fmt: skip
    assert recorder.cost_pico == billed_pico(fp)


async def test_raw_and_streaming_responses_are_routed(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """``with_raw_response`` and ``with_streaming_response`` are routed too."""
    s = side(fp, is_async, recorder)
    raw = await s.call("chat.completions.with_raw_response.create", model="costcap:simple",
                       messages=MESSAGES)  # fmt: skip
    assert raw.parse().model == SIMPLE
    manager = s.client.responses.with_streaming_response.create(
        model="costcap:critical", input=EASY
    )
    await s.enter(manager)
    await s.close()
    assert sent(fp) == [SIMPLE, CRITICAL]
    assert [(e.tier, e.requested_model) for e in recorder.events] == [
        ("simple", "costcap:simple"), ("critical", "costcap:critical"),
    ]  # fmt: skip
    assert recorder.cost_pico == billed_pico(fp)


# -- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("routes", "model", "extra", "error"),
    [
        (None, "costcap:auto", {}, NoRoutes),  # the guard has no router
        ("other", "costcap:auto", {}, NoRoutes),  # routes for another feature only
        ("chat", "costcap:huge", {}, UnknownTier),
        ("chat", "costcap:auto", {"costcap_complexity": "huge"}, UnknownTier),
    ],
)
async def test_a_route_costcap_cannot_follow_is_refused(  # noqa: PLR0917 - fixtures, parameters
    fp: FakeProviderServer,
    recorder: Recorder,
    is_async: bool,
    routes: str | None,
    model: str,
    extra: dict[str, Any],
    error: type[Exception],
) -> None:
    """No routes for the feature, or a tier it does not have: the router's error (a
    PolicyViolation), recorded as refused with the route name; nothing is sent or reserved."""
    made = None if routes is None else router(OPENAI_TIERS, feature=routes)
    s = routed_side("openai", fp, is_async, recorder, made)
    with pytest.raises(error) as raised:
        await s.call("chat.completions.create", model=model, messages=MESSAGES, **extra)
    assert isinstance(raised.value, PolicyViolation)
    assert await s.reserved() == 0
    await s.close()
    assert fp.requests == ()
    [event] = recorder.events
    assert (event.status, event.requested_model, event.feature) == ("refused", model, "chat")
    assert event.refused_by is not None
    assert event.refused_by.startswith("policy: ")


async def test_a_refusal_after_routing_carries_the_route(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """The policy (an allow-list without the tier's model) and a budget refuse the routed
    model; the refused event already carries the route name, tier and reason."""
    policy = Policy(allowed_models=[SIMPLE])
    poor = Budget(scope=f"model:{SIMPLE}", period="day", limit_usd="0.000001")
    s = side(fp, is_async, recorder, policy=policy, budgets=[GLOBAL, poor])
    with pytest.raises(PolicyViolation):
        await s.call("chat.completions.create", model="costcap:critical", messages=MESSAGES)
    with pytest.raises(BudgetExceeded):
        await s.call("chat.completions.create", model="costcap:simple", messages=MESSAGES)
    await s.close()
    assert fp.requests == ()
    assert [route_of(e) for e in recorder.events] == [
        ("refused", "costcap:critical", CRITICAL, "critical", "explicit"),
        ("refused", "costcap:simple", SIMPLE, "simple", "explicit"),
    ]


# -- budget pressure ----------------------------------------------------------------------------


class CountingStore(MemoryStore):
    """A memory store counting its reads (``guard.status()``, budget pressure)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def read(self, windows: Any) -> Any:
        self.reads += 1
        return super().read(windows)


@pytest.mark.parametrize(
    ("scope", "who"),
    [("feature:chat", {}), ("user:*", {"user_id": "alice"})],
    ids=["feature", "user"],
)
async def test_budget_pressure_goes_one_tier_down_from_the_share_exactly(
    fp: FakeProviderServer,
    recorder: Recorder,
    is_async: bool,
    scope: str,
    who: dict[str, str],
) -> None:
    """With ``pressure=0.8``, a $1 budget of the feature (or of the user) 79.99 % spent keeps
    the tier; 80 % spent sends the call one tier down (reason ``pressure``)."""
    budget = Budget(scope=scope, period="day", limit_usd=1)
    s = side(fp, is_async, recorder, routes=router(OPENAI_TIERS, pressure=Decimal("0.8")),
             budgets=[GLOBAL, budget])  # fmt: skip
    user = who.get("user_id")
    await s.seed("0.7999", feature="chat", user_id=user)
    await s.call("chat.completions.create", model="costcap:critical", messages=MESSAGES,
                 costcap_user_id=user)  # fmt: skip
    await s.seed("0.0001", feature="chat", user_id=user)
    await s.call("chat.completions.create", model="costcap:critical", messages=MESSAGES,
                 costcap_user_id=user)  # fmt: skip
    await s.close()
    assert sent(fp) == [CRITICAL, COMPLEX]
    routed = [e for e in recorder.events if e.tier is not None]
    assert [(e.tier, e.route_reason) for e in routed] == [
        ("critical", "explicit"), ("complex", "pressure"),
    ]  # fmt: skip
    assert sum(e.cost_pico for e in routed) == billed_pico(fp)


async def test_a_model_whose_budget_is_spent_is_passed_over(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """A model of the routes whose own budget has nothing left: the call goes to the next
    model of the chain (reason ``model budget``)."""
    spent = Budget(scope="model:*", period="day", limit_usd="0.01")
    s = side(fp, is_async, recorder, routes=router(OPENAI_TIERS, pressure=Decimal("0.9")),
             budgets=[GLOBAL, spent])  # fmt: skip
    await s.seed("0.01", model=COMPLEX)
    await s.call("chat.completions.create", model="costcap:complex", messages=MESSAGES)
    await s.close()
    assert sent(fp) == [CRITICAL]
    expected = ("ok", "costcap:complex", CRITICAL, "critical", "model budget")
    assert route_of(recorder.events[-1]) == expected


async def test_pressure_is_read_only_when_configured(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """Routes without ``pressure`` read nothing from the store; with it, one read a call (of
    the feature's budget: the global one is not pressure)."""
    budgets = [GLOBAL, Budget(scope="feature:chat", period="day", limit_usd=1)]
    for pressure, reads in ((None, 0), (Decimal("0.8"), 1)):
        store = CountingStore()
        s = side(fp, is_async, recorder, routes=router(OPENAI_TIERS, pressure=pressure),
                 store=store if not is_async else _async_store(store), budgets=budgets)  # fmt: skip
        await s.call("chat.completions.create", model="costcap:auto", messages=MESSAGES)
        await s.close()
        assert store.reads == reads


def _async_store(store: MemoryStore) -> Any:
    from costcap.stores import AsyncAdapter

    return AsyncAdapter(store, offload=False)


# -- the response cache ------------------------------------------------------------------------


async def test_the_cache_key_holds_the_routed_model(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """The cache comes after the router: a repeat of a routed call is a hit recorded with its
    route; the same request naming the tier's model itself hits the same entry."""
    cache = AsyncResponseCache("memory://") if is_async else ResponseCache("memory://")
    s = side(fp, is_async, recorder, cache=cache)
    for model in ("costcap:simple", "costcap:auto", SIMPLE):
        await s.call("chat.completions.create", model=model, messages=ask(EASY), temperature=0)
    await s.close()
    assert sent(fp) == [SIMPLE]
    assert [(route_of(e), e.cache_hit) for e in recorder.events] == [
        (("ok", "costcap:simple", SIMPLE, "simple", "explicit"), False),
        (("ok", "costcap:auto", SIMPLE, "simple", "auto"), True),
        (("ok", SIMPLE, SIMPLE, None, None), True),
    ]
    assert recorder.cost_pico == billed_pico(fp)
