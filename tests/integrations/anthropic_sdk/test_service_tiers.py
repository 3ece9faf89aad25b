"""Anthropic fast mode through the wrapped SDK: ``speed="fast"`` is reserved and charged at fast
mode's price, which the usage reports (``usage.speed``).

claude-opus-4-8 per million tokens (Anthropic's published prices, as in genai-prices): standard
$5 in / $25 out, fast mode $10 / $50. Expected costs are priced by hand from the fake provider's
own record of what it billed.
"""

from __future__ import annotations

from costcap.integrations.wrap import wrap
from costcap.testing import FakeProviderServer
from tests.integrations.anthropic_sdk.conftest import (
    MESSAGES,
    Recorder,
    async_sdk_client,
    make_async_guard,
    make_guard,
    sdk_client,
    served,
)

OPUS = "claude-opus-4-8"
FAST = (10_000_000, 50_000_000)  # picodollars per token: $10/M in, $50/M out
STANDARD = (5_000_000, 25_000_000)


def billed(fp: FakeProviderServer, rates: tuple[int, int]) -> int:
    request = fp.last
    return request.input_tokens * rates[0] + request.output_tokens * rates[1]


def test_fast_mode_is_charged_at_its_price(fp: FakeProviderServer, recorder: Recorder) -> None:
    guard = make_guard(recorder)
    with sdk_client(fp) as bare:
        message = wrap(bare, guard=guard).messages.create(
            model=OPUS, max_tokens=50, messages=MESSAGES, speed="fast"
        )
    assert message.usage.speed == "fast"
    [event] = recorder.events
    assert (event.service_tier, event.cost_pico) == ("fast", billed(fp, FAST))
    guard.close()


def test_standard_speed_is_charged_the_standard_price(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    guard = make_guard(recorder)
    with sdk_client(fp) as bare:
        wrap(bare, guard=guard).messages.create(model=OPUS, max_tokens=50, messages=MESSAGES)
    [event] = recorder.events
    assert (event.service_tier, event.cost_pico) == ("standard", billed(fp, STANDARD))
    guard.close()


def test_a_fast_stream_is_charged_at_fast_mode_price(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    guard = make_guard(recorder)
    with sdk_client(fp) as bare:
        client = wrap(bare, guard=guard)
        with client.messages.stream(
            model=OPUS, max_tokens=50, messages=MESSAGES, speed="fast"
        ) as stream:
            stream.until_done()
    served(fp)
    [event] = recorder.events
    assert (event.service_tier, event.cost_pico) == ("fast", billed(fp, FAST))
    guard.close()


def test_fast_asked_but_served_standard_is_charged_standard(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    guard = make_guard(recorder)
    with sdk_client(fp) as bare:
        wrap(bare, guard=guard).messages.create(
            model=OPUS, max_tokens=50, messages=MESSAGES, speed="fast",
            extra_headers={"x-fake-service-tier": "standard"},
        )  # fmt: skip
    [event] = recorder.events
    assert (event.service_tier, event.cost_pico) == ("standard", billed(fp, STANDARD))
    guard.close()


async def test_async_fast_mode_is_charged_at_its_price(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    guard = make_async_guard(recorder)
    async with async_sdk_client(fp) as bare:
        await wrap(bare, guard=guard).messages.create(
            model=OPUS, max_tokens=50, messages=MESSAGES, speed="fast"
        )
    await guard.close()
    [event] = recorder.events
    assert (event.service_tier, event.cost_pico) == ("fast", billed(fp, FAST))
