"""Service tiers through the wrapped OpenAI SDK: reserved at the tier asked for (or the client's
project tier), settled at the tier the response reports, streamed or not.

gpt-5 per million tokens (OpenAI's published prices, as in genai-prices): standard $1.25 in /
$10 out, priority $2.50 / $20, flex $0.625 / $5. Expected costs are priced by hand from the fake
provider's own record of what it billed.
"""

from __future__ import annotations

from typing import Literal

import openai
import pytest

from costcap import Budget, BudgetExceeded, Guard, UnknownServiceTier
from costcap.integrations.wrap import wrap
from costcap.testing import FakeProviderServer
from tests.integrations.openai_sdk.conftest import (
    MESSAGES,
    Recorder,
    async_sdk_client,
    make_async_guard,
    make_guard,
    sdk_client,
    served,
)

GPT5 = "gpt-5"
PICO_PER_TOKEN = {  # $/M tokens x 10^6 = picodollars per token
    "default": (1_250_000, 10_000_000),
    "priority": (2_500_000, 20_000_000),
    "flex": (625_000, 5_000_000),
}


def billed_at(fp: FakeProviderServer, tier: str) -> int:
    request = fp.last
    rate_in, rate_out = PICO_PER_TOKEN[tier]
    return request.input_tokens * rate_in + request.output_tokens * rate_out


@pytest.mark.parametrize("tier", ["priority", "flex", "default"])
def test_chat_is_charged_at_the_tier_it_asked_for(
    fp: FakeProviderServer, recorder: Recorder, tier: Literal["priority", "flex", "default"]
) -> None:
    guard = make_guard(recorder)
    with sdk_client(fp) as bare:
        completion = wrap(bare, guard=guard).chat.completions.create(
            model=GPT5, messages=MESSAGES, max_tokens=50, service_tier=tier
        )
    assert completion.service_tier == fp.last.service_tier == tier
    [event] = recorder.events
    assert (event.service_tier, event.cost_pico) == (tier, billed_at(fp, tier))
    guard.close()


def test_fast_is_reported_and_charged_as_priority(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    guard = make_guard(recorder)
    with sdk_client(fp) as bare:
        wrap(bare, guard=guard).chat.completions.create(
            model=GPT5, messages=MESSAGES, max_tokens=50, service_tier="fast"
        )
    [event] = recorder.events
    assert (event.service_tier, event.cost_pico) == ("priority", billed_at(fp, "priority"))
    guard.close()


def test_a_call_served_below_its_tier_is_charged_what_was_served(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Asked for priority, served (and reported) at default: charged the standard price."""
    guard = make_guard(recorder)
    with sdk_client(fp) as bare:
        wrap(bare, guard=guard).chat.completions.create(
            model=GPT5, messages=MESSAGES, max_tokens=50, service_tier="priority",
            extra_headers={"x-fake-service-tier": "default"},
        )  # fmt: skip
    [event] = recorder.events
    assert (event.service_tier, event.cost_pico) == ("default", billed_at(fp, "default"))
    guard.close()


def test_the_client_project_tier_is_reserved_for_calls_naming_none(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """wrap(service_tier="priority"): a call naming no tier (auto) is reserved at priority.
    Under a $0.0008 budget, 50 tokens of output alone cost $0.0005 standard (50 x $10/M) but
    $0.001 at priority (50 x $20/M): the same call is admitted on a standard client and refused
    on a priority one, before anything is sent."""
    budget = [Budget(scope="global", period="day", limit_usd="0.0008")]
    with sdk_client(fp) as bare:
        standard = wrap(bare, guard=Guard("memory://", budgets=budget, notifiers=[]))
        standard.chat.completions.create(model=GPT5, messages=MESSAGES, max_tokens=50)
        guard = Guard("memory://", budgets=budget, notifiers=[], observers=[recorder])
        priority = wrap(bare, guard=guard, service_tier="priority")
        with pytest.raises(BudgetExceeded):
            priority.chat.completions.create(model=GPT5, messages=MESSAGES, max_tokens=50)
    assert len(fp.requests) == 1
    assert [e.status for e in recorder.events] == ["refused"]


def test_a_streamed_chat_is_charged_at_the_tier_its_chunks_report(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    guard = make_guard(recorder)
    with sdk_client(fp) as bare:
        stream = wrap(bare, guard=guard).chat.completions.create(
            model=GPT5, messages=MESSAGES, max_tokens=50, service_tier="flex", stream=True
        )
        for _ in stream:
            pass
    served(fp)
    [event] = recorder.events
    assert (event.service_tier, event.cost_pico) == ("flex", billed_at(fp, "flex"))
    guard.close()


def test_a_responses_call_is_charged_at_its_tier(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    guard = make_guard(recorder)
    with sdk_client(fp) as bare:
        client = wrap(bare, guard=guard)
        client.responses.create(model=GPT5, input="Hi", max_output_tokens=50, service_tier="flex")
        stream = client.responses.create(
            model=GPT5, input="Hi", max_output_tokens=50, service_tier="priority", stream=True
        )
        for _ in stream:
            pass
    served(fp, 2)
    first, second = fp.requests
    assert [e.service_tier for e in recorder.events] == ["flex", "priority"]
    assert (
        recorder.events[0].cost_pico
        == first.input_tokens * 625_000 + first.output_tokens * 5_000_000
    )
    assert recorder.events[1].cost_pico == (
        second.input_tokens * 2_500_000 + second.output_tokens * 20_000_000
    )
    guard.close()


async def test_async_chat_is_charged_at_its_tier(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    guard = make_async_guard(recorder)
    async with async_sdk_client(fp) as bare:
        await wrap(bare, guard=guard).chat.completions.create(
            model=GPT5, messages=MESSAGES, max_tokens=50, service_tier="priority"
        )
    await guard.close()
    [event] = recorder.events
    assert (event.service_tier, event.cost_pico) == ("priority", billed_at(fp, "priority"))


def test_an_unknown_tier_is_refused_before_sending(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    guard = make_guard(recorder)
    with sdk_client(fp) as bare:
        client = wrap(bare, guard=guard)
        with pytest.raises(UnknownServiceTier):
            client.chat.completions.create(
                model=GPT5, messages=MESSAGES, max_tokens=50,
                extra_body={"service_tier": "premium"},
            )  # fmt: skip
    assert not fp.requests
    guard.close()


def test_wrap_refuses_an_unknown_project_tier(fp: FakeProviderServer) -> None:
    with sdk_client(fp) as bare, pytest.raises(UnknownServiceTier, match="wrap"):
        wrap(bare, guard=make_guard(Recorder()), service_tier="gold")


def test_the_fake_provider_refuses_a_tier_openai_refuses(fp: FakeProviderServer) -> None:
    with sdk_client(fp) as bare, pytest.raises(openai.BadRequestError, match="service_tier"):
        bare.chat.completions.create(
            model=GPT5, messages=MESSAGES, extra_body={"service_tier": "premium"}
        )
