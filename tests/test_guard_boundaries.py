"""The limit is the last amount admitted, on every store: spend that lands exactly on a budget's
limit, a dollar rate limit or a token limit is admitted, and one more micro-dollar (or token)
is refused. The amounts are dollar reservations and settled costs that add up to the limit by
hand, through the Guard, so every step from the decimal amount to the store's comparison is on
the path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from costcap import Budget, BudgetExceeded, Guard, RateLimited
from costcap.limits import RateLimit

MODEL = "gpt-4o-mini"  # names the ticket only: dollar reservations price no tokens
NOW = datetime(2026, 3, 5, 12, tzinfo=UTC)


def fixed() -> datetime:
    return NOW


@pytest.fixture
def budget_guard(store_url: str) -> Iterator[Guard]:
    """A hard $1 daily budget."""
    budget = Budget(scope="global", period="day", limit_usd="1")
    guard = Guard(store_url, budgets=[budget], notifiers=[], clock=fixed)
    yield guard
    guard.close()


@pytest.fixture
def dollar_guard(store_url: str) -> Iterator[Guard]:
    """A $1 per hour dollar rate limit, and no budget."""
    guard = Guard(store_url, limits=[RateLimit("$1/hour")], notifiers=[], clock=fixed)
    yield guard
    guard.close()


@pytest.fixture
def token_guard(store_url: str) -> Iterator[Guard]:
    """A 1,000 tokens per hour limit, and no budget."""
    guard = Guard(store_url, limits=[RateLimit("1000 tokens/hour")], notifiers=[], clock=fixed)
    yield guard
    guard.close()


def spend(guard: Guard, *amounts: str) -> None:
    """Reserve and settle each amount in turn."""
    for amount in amounts:
        guard.settle_cost(guard.admit(model=MODEL, reserve_usd=amount, user_id="u"), amount)


def test_budget_spent_to_its_limit_refuses_one_micro_dollar_more(budget_guard: Guard) -> None:
    """$0.35 + $0.65 settled is $1.00 exactly: $0.000001 more is refused."""
    spend(budget_guard, "0.35", "0.65")
    with pytest.raises(BudgetExceeded) as refused:
        budget_guard.admit(model=MODEL, reserve_usd="0.000001")
    assert refused.value.spent_usd == Decimal(1)
    assert refused.value.requested_usd == Decimal("0.000001")


def test_budget_admits_a_reservation_that_reaches_its_limit_exactly(budget_guard: Guard) -> None:
    """$0.35 settled and $0.65 reserved: $0.35 + $0.65 = $1.00, the limit, is admitted."""
    spend(budget_guard, "0.35")
    ticket = budget_guard.admit(model=MODEL, reserve_usd="0.65")
    assert ticket.reserved_micros == 650_000


def test_budget_admits_the_last_micro_dollar(budget_guard: Guard) -> None:
    """$0.35 + $0.649999 settled leaves $0.000001, which is admitted; then nothing is."""
    spend(budget_guard, "0.35", "0.649999")
    budget_guard.admit(model=MODEL, reserve_usd="0.000001")
    with pytest.raises(BudgetExceeded):
        budget_guard.admit(model=MODEL, reserve_usd="0.000001")


def test_dollar_limit_spent_to_its_limit_refuses_one_micro_dollar_more(
    dollar_guard: Guard,
) -> None:
    """$0.35 + $0.65 settled is the $1 of the hour: $0.000001 more is refused, counted in
    micro-dollars (1,000,000 used)."""
    spend(dollar_guard, "0.35", "0.65")
    with pytest.raises(RateLimited) as refused:
        dollar_guard.admit(model=MODEL, reserve_usd="0.000001", user_id="u")
    assert (refused.value.used, refused.value.limit, refused.value.requested) == (
        1_000_000, 1_000_000, 1,
    )  # fmt: skip


def test_dollar_limit_admits_the_last_micro_dollar(dollar_guard: Guard) -> None:
    """$0.35 + $0.649999 settled leaves $0.000001 of the hour: admitted, then nothing is."""
    spend(dollar_guard, "0.35", "0.649999")
    dollar_guard.admit(model=MODEL, reserve_usd="0.000001", user_id="u")
    with pytest.raises(RateLimited):
        dollar_guard.admit(model=MODEL, reserve_usd="0.000001", user_id="u")


def admit_tokens(guard: Guard, max_tokens: int) -> None:
    """A dollar reservation counts no input: it holds exactly ``max_tokens`` tokens."""
    guard.admit(model=MODEL, reserve_usd="0.01", max_tokens=max_tokens, user_id="u")


def test_token_limit_reached_exactly_refuses_one_token_more(token_guard: Guard) -> None:
    """A call that used 250 + 350 tokens, then one holding 400: 1,000, the limit, admitted;
    one token more is refused."""
    ticket = token_guard.admit(model=MODEL, reserve_usd="0.01", max_tokens=600, user_id="u")
    token_guard.settle(ticket, {"input_tokens": 250, "output_tokens": 350})
    admit_tokens(token_guard, 400)
    with pytest.raises(RateLimited) as refused:
        admit_tokens(token_guard, 1)
    assert (refused.value.used, refused.value.requested) == (1000, 1)


def test_token_limit_admits_the_last_token(token_guard: Guard) -> None:
    """999 tokens held leave one: a call of one token is admitted, the next is not."""
    admit_tokens(token_guard, 999)
    admit_tokens(token_guard, 1)
    with pytest.raises(RateLimited):
        admit_tokens(token_guard, 1)
