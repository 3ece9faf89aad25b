"""Money rounds up to the micro-dollar on its way into a store, on every store: a reservation
and a settled cost finer than a micro-dollar count as the next whole one, never the one below.
Each case is one where rounding down and rounding up differ, worked out by hand and read back
from ``guard.status()`` (or the rate limit that counts it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from costcap import Budget, Guard, RateLimited
from costcap.ledger import CostEvent
from costcap.limits import RateLimit
from costcap.pricing import PriceCatalog

MODEL = "gpt-4o-mini"  # names the ticket only: dollar reservations price no tokens
NOW = datetime(2026, 3, 5, 12, tzinfo=UTC)
# per million tokens: $0.10 input and $0.30 output are 100,000 and 300,000 picodollars a token
# (0.1 and 0.3 micro-dollars); "output-only" charges no input, so its worst case does not depend
# on how the prompt is counted
CATALOG = PriceCatalog(
    overrides={
        "priced": {"input": "0.10", "output": "0.30"},
        "output-only": {"input": "0", "output": "0.30"},
    }
)
PROMPT = [{"role": "user", "content": "Say hello."}]


def fixed() -> datetime:
    return NOW


class Events:
    """An observer that keeps every event."""

    def __init__(self) -> None:
        self.seen: list[CostEvent] = []

    def on_event(self, event: CostEvent) -> None:
        self.seen.append(event)


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def guard(store_url: str, events: Events) -> Iterator[Guard]:
    """A $10 daily budget."""
    budget = Budget(scope="global", period="day", limit_usd=10)
    g = Guard(
        store_url, budgets=[budget], catalog=CATALOG, notifiers=[], clock=fixed, observers=[events]
    )
    yield g
    g.close()


def status(guard: Guard) -> tuple[Decimal, Decimal]:
    """(spent, reserved) of the budget."""
    row = guard.status()[0]
    return row["spent_usd"], row["reserved_usd"]


def test_a_tenth_of_a_micro_dollar_reserves_one(guard: Guard) -> None:
    """reserve_usd $0.0000001 is 0.1 micro-dollars: 1 is reserved (0 if rounded down)."""
    guard.admit(model=MODEL, reserve_usd="0.0000001")
    assert status(guard) == (Decimal(0), Decimal("0.000001"))


def test_one_and_a_half_micro_dollars_reserve_two(guard: Guard) -> None:
    """reserve_usd $0.0000015 is 1.5 micro-dollars: 2 are reserved (1 if rounded down)."""
    ticket = guard.admit(model=MODEL, reserve_usd="0.0000015")
    assert ticket.reserved_usd == Decimal("0.000002")
    assert status(guard) == (Decimal(0), Decimal("0.000002"))


def test_amount_past_28_digits_still_rounds_up(guard: Guard) -> None:
    """$0.0000010000000000000000000000000001 is a hair over 1 micro-dollar (35 significant
    digits, past decimal's 28): 2 are reserved, and 2 spent when settled at it."""
    amount = "0.0000010000000000000000000000000001"
    ticket = guard.admit(model=MODEL, reserve_usd=amount)
    assert status(guard) == (Decimal(0), Decimal("0.000002"))
    guard.settle_cost(ticket, amount)
    assert status(guard) == (Decimal("0.000002"), Decimal(0))


def test_worst_case_reservation_rounds_up(guard: Guard) -> None:
    """max_tokens 5 at 0.3 micro-dollars an output token (input free) is 1.5 micro-dollars of
    worst case: 2 are reserved."""
    ticket = guard.admit(model="output-only", messages=PROMPT, max_tokens=5)
    assert ticket.reserved_micros == 2
    assert status(guard) == (Decimal(0), Decimal("0.000002"))


def test_settled_usage_rounds_up(guard: Guard) -> None:
    """7 input tokens × 100,000 + 3 output tokens × 300,000 = 1,600,000 picodollars, exactly
    (the Cost), which the budget counts as 2 micro-dollars."""
    ticket = guard.admit(model="priced", messages=PROMPT, max_tokens=10)
    cost = guard.settle(ticket, {"input_tokens": 7, "output_tokens": 3})
    assert cost.total_pico == 1_600_000
    assert status(guard) == (Decimal("0.000002"), Decimal(0))


def test_sub_picodollar_cost_spends_one_micro_dollar(guard: Guard, events: Events) -> None:
    """settle_cost $0.0000000000001 (a tenth of a picodollar) spends 1 micro-dollar, and its
    event records 1 picodollar."""
    guard.settle_cost(guard.admit(model=MODEL, reserve_usd="0.01"), "0.0000000000001")
    assert status(guard) == (Decimal("0.000001"), Decimal(0))
    assert events.seen[-1].cost_pico == 1


def test_cost_half_a_micro_dollar_over_rounds_up(guard: Guard) -> None:
    """settle_cost $1.0000005 is 1,000,000.5 micro-dollars: 1,000,001 are spent."""
    guard.settle_cost(guard.admit(model=MODEL, reserve_usd="2"), "1.0000005")
    assert status(guard) == (Decimal("1.000001"), Decimal(0))


def test_dollar_limit_counts_a_fraction_as_a_whole_micro_dollar(store_url: str) -> None:
    """With "$0.000002/hour", a call settled at $0.0000001 uses 1 micro-dollar of the 2: a
    call of 2 more is refused (it would fit if the fraction had rounded down to 0)."""
    guard = Guard(store_url, limits=[RateLimit("$0.000002/hour")], notifiers=[], clock=fixed)
    try:
        guard.settle_cost(guard.admit(model=MODEL, reserve_usd="0.000001"), "0.0000001")
        with pytest.raises(RateLimited) as refused:
            guard.admit(model=MODEL, reserve_usd="0.000002")
        assert (refused.value.used, refused.value.requested) == (1, 2)
    finally:
        guard.close()
