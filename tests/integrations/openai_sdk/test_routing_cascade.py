"""``costcap.wrap(openai.OpenAI())`` with a cascade: a plain call is sent at its tier, its answer
judged by the feature's validators, and asked again one tier up when rejected (sync and async).

The cheap tier's answer is made to fail with the fake provider's knobs sent to its model alone
(an empty answer), with a policy cap on its model (a truncated one), or by a validator of the
test's own. Every call of a cascaded answer is admitted, settled and recorded, sharing one
``cascade_id``; what costcap recorded equals what the fake provider billed, to the picodollar.
"""

from __future__ import annotations

import logging
from typing import Any

import openai
import pytest

from costcap import Policy, Rule
from costcap.cache import AsyncResponseCache, ResponseCache
from costcap.testing import FakeProviderServer
from tests.integrations.openai_sdk.conftest import MESSAGES, Recorder, billed_pico, served
from tests.integrations.routing import (
    OPENAI_TIERS,
    PerModel,
    Side,
    route_of,
    routed_side,
    router,
)

SIMPLE, COMPLEX, CRITICAL = OPENAI_TIERS.values()
EMPTY = {"x-fake-output-tokens": "0"}
CHAT, RESPONSES = "chat.completions.create", "responses.create"
ENDPOINTS: dict[str, dict[str, Any]] = {
    CHAT: {"messages": MESSAGES},
    RESPONSES: {"input": "Say hello."},
}


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def is_async(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def side(
    fp: FakeProviderServer, is_async: bool, recorder: Recorder, validators: Any = None,
    **options: Any,
) -> Side:  # fmt: skip
    routes = router(OPENAI_TIERS, cascade=True,
                    **({} if validators is None else {"validators": validators}))  # fmt: skip
    return routed_side("openai", fp, is_async, recorder, routes, **options)


def text_of(answer: Any) -> str:
    if hasattr(answer, "choices"):
        return str(answer.choices[0].message.content or "")
    return str(answer.output_text)


def sent(fp: FakeProviderServer) -> list[str | None]:
    return [r.model for r in fp.requests]


def one_cascade(recorder: Recorder) -> str:
    """The cascade id every event shares (there is one)."""
    [cascade] = {e.cascade_id for e in recorder.events}
    assert cascade is not None
    return cascade


@pytest.mark.parametrize("endpoint", [CHAT, RESPONSES])
async def test_an_empty_answer_is_asked_one_tier_up(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool, endpoint: str
) -> None:
    """The cheap tier answers nothing: the validator ``empty`` rejects it, the next tier up is
    asked (reason ``cascade``); the caller gets its answer; both calls recorded, one cascade."""
    s = side(fp, is_async, recorder, per_model=PerModel({SIMPLE: EMPTY}))
    answer = await s.call(endpoint, model="costcap:simple", **ENDPOINTS[endpoint])
    assert await s.reserved() == 0
    await s.close()
    assert answer.model == COMPLEX
    assert text_of(answer)
    assert sent(fp) == [SIMPLE, COMPLEX]
    assert [route_of(e) for e in recorder.events] == [
        ("ok", "costcap:simple", SIMPLE, "simple", "explicit"),
        ("ok", "costcap:simple", COMPLEX, "complex", "cascade"),
    ]
    one_cascade(recorder)
    assert recorder.events[0].output_tokens == 0
    assert recorder.cost_pico == billed_pico(fp) > 0


@pytest.mark.parametrize("endpoint", [CHAT, RESPONSES])
async def test_a_truncated_answer_is_asked_one_tier_up(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool, endpoint: str
) -> None:
    """A cap of 16 tokens on the cheap model (the fake answers 20): its answer stops at the
    limit (``length`` / ``max_output_tokens``), ``truncated`` rejects it, the next tier answers
    in full."""
    policy = Policy(models={SIMPLE: Rule(max_tokens_cap=16)})
    s = side(fp, is_async, recorder, policy=policy)
    answer = await s.call(endpoint, model="costcap:auto", costcap_complexity="simple",
                          **ENDPOINTS[endpoint])  # fmt: skip
    await s.close()
    assert answer.model == COMPLEX
    assert [(r.model, r.output_tokens) for r in fp.requests] == [(SIMPLE, 16), (COMPLEX, 20)]
    assert [(e.tier, e.route_reason) for e in recorder.events] == [
        ("simple", "explicit"), ("complex", "cascade"),
    ]  # fmt: skip
    one_cascade(recorder)
    assert recorder.cost_pico == billed_pico(fp)


async def test_parse_escalates_a_truncated_answer(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """``parse()``: the SDK's LengthFinishReasonError for the cheap tier's truncated answer
    (settled before it is raised) counts as a rejection; at the top it is raised."""
    policy = Policy(models={SIMPLE: Rule(max_tokens_cap=5), COMPLEX: Rule(max_tokens_cap=5),
                            CRITICAL: Rule(max_tokens_cap=5)})  # fmt: skip
    s = side(fp, is_async, recorder, policy=Policy(models={SIMPLE: Rule(max_tokens_cap=5)}))
    parsed = await s.call("chat.completions.parse", model="costcap:simple", messages=MESSAGES)
    assert parsed.model == COMPLEX
    await s.close()
    s = side(fp, is_async, recorder, policy=policy)
    with pytest.raises(openai.LengthFinishReasonError):
        await s.call("chat.completions.parse", model="costcap:simple", messages=MESSAGES)
    await s.close()
    assert sent(fp) == [SIMPLE, COMPLEX, SIMPLE, COMPLEX, CRITICAL]
    assert [e.route_reason for e in recorder.events] == ["explicit", "cascade"] * 1 + [
        "explicit", "cascade", "cascade",
    ]  # fmt: skip
    assert len({e.cascade_id for e in recorder.events}) == 2
    assert recorder.cost_pico == billed_pico(fp)


async def test_a_validator_of_ones_own_decides(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """A callable validator: rejecting the first answer it sees escalates once; one that
    raises rejects (and is logged) every answer, up to the top tier, whose answer is kept."""
    seen: list[str] = []

    def second_opinion(text: str, finish: str | None) -> bool:
        seen.append(text)
        return len(seen) > 1

    s = side(fp, is_async, recorder, validators=("empty", second_opinion))
    answer = await s.call(CHAT, model="costcap:simple", messages=MESSAGES)
    await s.close()
    assert answer.model == COMPLEX
    assert len(seen) == 2

    def broken(text: str, finish: str | None) -> bool:
        raise RuntimeError("no opinion")

    s = side(fp, is_async, recorder, validators=(broken,))
    with caplog.at_level(logging.WARNING, logger="costcap.router"):
        answer = await s.call(CHAT, model="costcap:simple", messages=MESSAGES)
    await s.close()
    assert answer.model == CRITICAL
    assert caplog.text.count("validator broken raised RuntimeError: no opinion") == 3
    assert sent(fp) == [SIMPLE, COMPLEX, SIMPLE, COMPLEX, CRITICAL]
    assert recorder.cost_pico == billed_pico(fp)


async def test_an_accepted_answer_is_not_escalated(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """The cheap tier's answer passes: one call, its event marked with its (single-call)
    cascade id, so reports count cascades that did not escalate."""
    s = side(fp, is_async, recorder)
    answer = await s.call(CHAT, model="costcap:simple", messages=MESSAGES)
    await s.close()
    assert answer.model == SIMPLE
    assert sent(fp) == [SIMPLE]
    [event] = recorder.events
    assert route_of(event) == ("ok", "costcap:simple", SIMPLE, "simple", "explicit")
    assert event.cascade_id is not None
    assert event.cost_pico == billed_pico(fp)


async def test_with_no_tier_left_the_last_answer_is_returned(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """Every tier answers nothing: each is asked in turn, and the top tier's answer (empty)
    is what the caller gets; three calls, one cascade, no reservation left."""
    s = side(fp, is_async, recorder)
    answer = await s.call(CHAT, model="costcap:simple", messages=MESSAGES, extra_headers=EMPTY)
    assert await s.reserved() == 0
    await s.close()
    assert (answer.model, text_of(answer)) == (CRITICAL, "")
    assert sent(fp) == [SIMPLE, COMPLEX, CRITICAL]
    assert [e.route_reason for e in recorder.events] == ["explicit", "cascade", "cascade"]
    one_cascade(recorder)
    assert recorder.cost_pico == billed_pico(fp)


async def test_a_streamed_call_is_not_cascaded(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """A stream goes to its tier and stays there, whatever it answers: no cascade id."""
    s = side(fp, is_async, recorder)
    stream = await s.call(CHAT, model="costcap:simple", messages=MESSAGES, stream=True,
                          extra_headers=EMPTY)  # fmt: skip
    await s.drain(stream)
    manager = s.client.chat.completions.with_streaming_response.create(
        model="costcap:simple", messages=MESSAGES, extra_headers=EMPTY
    )
    await s.enter(manager)
    await s.close()
    served(fp, 2)
    assert sent(fp) == [SIMPLE, SIMPLE]
    assert [(e.tier, e.cascade_id) for e in recorder.events] == [("simple", None)] * 2
    assert recorder.cost_pico == billed_pico(fp)


async def test_a_raw_response_is_cascaded(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """``with_raw_response.create`` (not streamed) is judged by its parsed answer: the raw
    response returned is the accepted call's."""
    s = side(fp, is_async, recorder, per_model=PerModel({SIMPLE: EMPTY}))
    raw = await s.call("chat.completions.with_raw_response.create", model="costcap:simple",
                       messages=MESSAGES)  # fmt: skip
    await s.close()
    assert raw.parse().model == COMPLEX
    assert sent(fp) == [SIMPLE, COMPLEX]
    one_cascade(recorder)
    assert recorder.cost_pico == billed_pico(fp)


async def test_a_cascade_through_the_cache(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """Each call of a cascade is an ordinary call to its model, looked up and stored under its
    own key — the rejected cheap answer too. A repeat is two hits at $0: the cheap one, judged
    again and rejected again, then the upper one, under a cascade id of their own."""
    cache = AsyncResponseCache("memory://") if is_async else ResponseCache("memory://")
    s = side(fp, is_async, recorder, per_model=PerModel({SIMPLE: EMPTY}), cache=cache)
    first = await s.call(CHAT, model="costcap:simple", messages=MESSAGES, temperature=0)
    again = await s.call(CHAT, model="costcap:simple", messages=MESSAGES, temperature=0)
    await s.close()
    assert first.model == again.model == COMPLEX
    assert text_of(again) == text_of(first)
    assert sent(fp) == [SIMPLE, COMPLEX]
    assert [(route_of(e), e.cache_hit) for e in recorder.events] == [
        (("ok", "costcap:simple", SIMPLE, "simple", "explicit"), False),
        (("ok", "costcap:simple", COMPLEX, "complex", "cascade"), False),
        (("ok", "costcap:simple", SIMPLE, "simple", "explicit"), True),
        (("ok", "costcap:simple", COMPLEX, "complex", "cascade"), True),
    ]
    ids = [e.cascade_id for e in recorder.events]
    assert ids[0] == ids[1] != ids[2] == ids[3]
    assert recorder.cost_pico == billed_pico(fp)
    assert sum(e.saved_pico for e in recorder.events) == billed_pico(fp)
