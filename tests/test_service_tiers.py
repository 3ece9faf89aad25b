"""Service tiers: a call is reserved at the tier it asks for and settled at the tier it was served.

Prices by hand from OpenAI's published gpt-5 rates per million tokens (genai-prices carries the
same): standard $1.25 in / $10 out, priority $2.50 / $20, flex $0.625 / $5; and Anthropic's
claude-opus-4-8 standard $5 / $25, fast mode $10 / $50.
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from costcap import Budget, Guard
from costcap.ledger import CostEvent
from costcap.service_tiers import (
    UnknownServiceTier,
    anthropic_served_tier,
    check_tier,
    price_context,
)

MESSAGES = [{"role": "user", "content": "Summarise the quarterly report in three bullet points."}]
USAGE = {"input_tokens": 10_000, "output_tokens": 2_000}


class Events:
    def __init__(self) -> None:
        self.events: list[CostEvent] = []

    def on_event(self, event: CostEvent) -> None:
        self.events.append(event)


def make_guard(events: Events | None = None) -> Guard:
    return Guard(
        "memory://", budgets=[Budget(scope="global", period="day", limit_usd=100)],
        notifiers=[], observers=[events] if events else [],
    )  # fmt: skip


# -- the mapping -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "tier", "context"),
    [
        ("openai", None, None),
        ("openai", "default", None),
        ("openai", "auto", None),
        ("openai", "priority", {"service_tier": "priority"}),
        ("openai", "flex", {"service_tier": "flex"}),
        ("openai", "fast", {"service_tier": "fast"}),
        ("anthropic", "fast", {"speed": "fast"}),
        ("anthropic", "standard", None),
        ("openai", "batch", {"processing": "batch"}),
    ],
)
def test_price_context_of_a_tier(provider: str, tier: str | None, context: object) -> None:
    assert price_context(provider, tier) == context


def test_an_unknown_tier_is_refused_by_name() -> None:
    with pytest.raises(UnknownServiceTier, match=r"service_tier must be one of .*not 'premium'"):
        check_tier("premium")


def test_anthropic_usage_names_fast_mode_and_its_tier() -> None:
    class FastUsage:
        speed, service_tier = "fast", "standard"

    class PriorityUsage:
        speed, service_tier = None, "priority"

    assert anthropic_served_tier(FastUsage()) == "fast"
    assert anthropic_served_tier(PriorityUsage()) == "priority"
    assert anthropic_served_tier(object()) is None


# -- admission ---------------------------------------------------------------------------------


def test_priority_is_reserved_at_the_priority_price() -> None:
    """gpt-5 priority: input x $2.50/M + 500 x $20/M, in micro-dollars rounded up."""
    guard = make_guard()
    ticket = guard.admit(model="gpt-5", messages=MESSAGES, max_tokens=500, service_tier="priority")
    expected = math.ceil(Decimal(ticket.input_tokens) * Decimal("2.5") + 500 * 20)
    assert ticket.reserved_micros == expected
    standard = guard.admit(model="gpt-5", messages=MESSAGES, max_tokens=500)
    assert standard.reserved_micros == math.ceil(
        Decimal(standard.input_tokens) * Decimal("1.25") + 500 * 10
    )
    guard.close()


def test_flex_is_reserved_at_the_flex_price() -> None:
    guard = make_guard()
    ticket = guard.admit(model="gpt-5", messages=MESSAGES, max_tokens=500, service_tier="flex")
    assert ticket.reserved_micros == math.ceil(
        Decimal(ticket.input_tokens) * Decimal("0.625") + 500 * 5
    )
    guard.close()


def test_an_unknown_tier_reserves_nothing_and_is_recorded_refused() -> None:
    events = Events()
    guard = make_guard(events)
    with pytest.raises(UnknownServiceTier):
        guard.admit(model="gpt-5", messages=MESSAGES, max_tokens=500, service_tier="premium")
    assert guard.status()[0]["reserved_usd"] == 0
    assert [e.status for e in events.events] == ["refused"]
    guard.close()


# -- settling ----------------------------------------------------------------------------------


def test_settle_prices_the_tier_reserved() -> None:
    """10k in / 2k out at priority: 10,000 x $2.50/M + 2,000 x $20/M = $0.025 + $0.04."""
    events = Events()
    guard = make_guard(events)
    ticket = guard.admit(model="gpt-5", messages=MESSAGES, max_tokens=2000, service_tier="priority")
    cost = guard.settle(ticket, USAGE)
    assert cost.total_usd == Decimal("0.065")
    assert events.events[0].service_tier == "priority"
    assert events.events[0].cost_pico == 65_000_000_000
    guard.close()


def test_settle_prices_the_tier_the_provider_reports() -> None:
    """Asked for priority, served at default: 10,000 x $1.25/M + 2,000 x $10/M = $0.0325."""
    events = Events()
    guard = make_guard(events)
    ticket = guard.admit(model="gpt-5", messages=MESSAGES, max_tokens=2000, service_tier="priority")
    cost = guard.settle(ticket, USAGE, service_tier="default")
    assert cost.total_usd == Decimal("0.0325")
    assert events.events[0].service_tier == "default"
    guard.close()


def test_a_call_admitted_standard_and_served_flex_is_charged_flex() -> None:
    """10,000 x $0.625/M + 2,000 x $5/M = $0.00625 + $0.01."""
    guard = make_guard()
    ticket = guard.admit(model="gpt-5", messages=MESSAGES, max_tokens=2000)
    cost = guard.settle(ticket, USAGE, service_tier="flex")
    assert cost.total_usd == Decimal("0.01625")
    assert guard.status()[0]["spent_usd"] == Decimal("0.01625")
    guard.close()


def test_anthropic_fast_mode_is_charged_its_price() -> None:
    """claude-opus-4-8 fast: 10,000 x $10/M + 2,000 x $50/M = $0.10 + $0.10."""
    guard = make_guard()
    ticket = guard.admit(
        model="claude-opus-4-8", messages=MESSAGES, max_tokens=2000, service_tier="fast"
    )
    assert guard.settle(ticket, USAGE, service_tier="fast").total_usd == Decimal("0.2")
    guard.close()


def test_no_tier_keeps_the_standard_price_and_records_none() -> None:
    """10,000 x $1.25/M + 2,000 x $10/M."""
    events = Events()
    guard = make_guard(events)
    ticket = guard.admit(model="gpt-5", messages=MESSAGES, max_tokens=2000)
    assert guard.settle(ticket, USAGE).total_usd == Decimal("0.0325")
    assert events.events[0].service_tier is None
    guard.close()
