"""The Budget model: scopes, templates, limits, thresholds, allocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from costcap.budgets import MAX_LIMIT_USD, Budget, CallScope, allocate
from costcap.errors import ConfigError

CALL = CallScope(model="gpt-4o", feature="chat", user_id="alice", api_key="k1")


def test_global_budget_applies_to_every_call() -> None:
    """A global budget charges every call, under the empty member."""
    assert Budget(scope="global", period="day", limit_usd=1).applies_to(CALL) == ""


def test_template_gives_each_member_its_own_budget() -> None:
    """``user:*`` charges the calling user's own counter."""
    assert Budget(scope="user:*", period="day", limit_usd=5).applies_to(CALL) == "alice"


def test_template_charges_anonymous_calls_together() -> None:
    """A call naming no user is charged to one shared anonymous member, not let through."""
    budget = Budget(scope="user:*", period="day", limit_usd=5)
    assert budget.applies_to(CallScope(model="gpt-4o")) == "-"


def test_fixed_member_only_applies_to_that_member() -> None:
    """``feature:code`` does not apply to a chat call."""
    assert Budget(scope="feature:code", period="day", limit_usd=5).applies_to(CALL) is None


def test_limit_is_exact() -> None:
    """A float limit is read as written (0.1 is ten cents exactly, in micro-dollars)."""
    assert Budget(scope="global", period="day", limit_usd=0.1).limit_micros == 100_000


def test_soft_budget_adds_the_120_threshold() -> None:
    """Soft budgets alert at 50/80/100/120% by default, hard ones at 50/80/100%."""
    assert Budget(scope="global", period="day", limit_usd=1, mode="soft").alert_at == (
        Decimal(50),
        Decimal(80),
        Decimal(100),
        Decimal(120),
    )
    assert Budget(scope="global", period="day", limit_usd=1).alert_at[-1] == 100


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scope": "team:x"}, "scope must be"),
        ({"limit_usd": "-5"}, "must not be negative"),
        ({"limit_usd": "abc"}, "not a dollar amount"),
        ({"mode": "firm"}, "mode must be"),
        ({"limit_usd": "0.0000001"}, "finer than a micro-dollar"),
    ],
)
def test_bad_budget_is_a_config_error(kwargs: dict[str, str], message: str) -> None:
    """Each bad field is refused with a message naming the problem."""
    settings = {"scope": "global", "period": "day", "limit_usd": "5", **kwargs}
    with pytest.raises(ConfigError, match=message):
        Budget(**settings)  # type: ignore[arg-type]


def test_allocation_splits_the_total_by_share() -> None:
    """$5,000 split chat 40 / code 30 / analysis 20 / admin 10 gives $2,000/$1,500/$1,000/$500."""
    budgets = allocate(5000, {"chat": 40, "code": 30, "analysis": 20, "admin": 10})
    assert {b.scope: b.limit_micros for b in budgets} == {
        "feature:chat": 2_000_000_000,
        "feature:code": 1_500_000_000,
        "feature:analysis": 1_000_000_000,
        "feature:admin": 500_000_000,
    }


def test_allocation_over_100_percent_is_refused() -> None:
    """Shares adding up to more than 100% are a ConfigError."""
    with pytest.raises(ConfigError, match="more than 100%"):
        allocate(100, {"a": 60, "b": 50})


def test_allocation_never_adds_up_to_more_than_the_total() -> None:
    """Thirds of $100 round down to the micro-dollar."""
    budgets = allocate(100, {"a": "33.333333", "b": "33.333333", "c": "33.333334"})
    assert sum(b.limit_micros for b in budgets) <= 100_000_000


@pytest.mark.parametrize(
    ("scope", "period"), [("global", "day"), ("user:*", "month"), ("global", "rolling:1h")]
)
def test_window_at_seconds_is_the_window_at_the_same_instant(scope: str, period: str) -> None:
    """The Guard's own clock passes seconds since the epoch: the same window as the aware
    time, on either side of a boundary (the seconds cache must not hold across it)."""
    budget = Budget(scope=scope, period=period, limit_usd=5)
    reference = Budget(scope=scope, period=period, limit_usd=5)
    start = datetime(2026, 11, 30, 23, 59, 59, 500000, tzinfo=UTC)
    for step in range(4):  # across midnight, the month's end and the rolling buckets
        at = start + timedelta(milliseconds=400 * step)
        assert budget.window_at(at.timestamp()) == reference.window_at(at)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit_usd": None}, "budget 'global': limit_usd must be a dollar amount"),
        ({"period": None}, "budget 'global': period must be day, week, month or rolling"),
        ({"scope": None}, "budget scope must be a non-empty string"),
        ({"timezone": None}, "time zone must be a name"),
        ({"thresholds": 50}, "thresholds must be a list of percentages"),
    ],
)
def test_argument_of_the_wrong_type_is_named(kwargs: dict[str, object], message: str) -> None:
    """None or a wrong type is a ConfigError naming the argument, never a TypeError."""
    settings = {"scope": "global", "period": "day", "limit_usd": "5", **kwargs}
    with pytest.raises(ConfigError, match=message):
        Budget(**settings)  # type: ignore[arg-type]


def test_largest_limit_is_a_billion_dollars() -> None:
    """$1,000,000,000 is 10**15 micro-dollars, the most every store counts exactly."""
    budget = Budget(scope="global", period="day", limit_usd=1_000_000_000)
    assert budget.limit_micros == 10**15
    assert Decimal("1000000000") == MAX_LIMIT_USD


@pytest.mark.parametrize("limit", ["1000000000.000001", 10**13])
def test_larger_limit_is_refused_when_built(limit: object) -> None:
    """A micro-dollar above the largest limit is refused by the Budget, not by one store later."""
    with pytest.raises(ConfigError, match=r"above the largest limit every store counts exactly"):
        Budget(scope="global", period="day", limit_usd=limit)  # type: ignore[arg-type]


def test_rolling_budget_past_366_days_is_refused() -> None:
    """``rolling:99999999999999d`` is refused when built, not by an OSError at admit."""
    with pytest.raises(ConfigError, match="at most 366 days"):
        Budget(scope="global", period="rolling:99999999999999d", limit_usd=1)


def test_allocation_total_above_the_largest_limit_is_refused() -> None:
    """An allocation's total is bounded like any limit."""
    with pytest.raises(ConfigError, match=r"allocation\.total_usd .* is above the largest limit"):
        allocate(10**30, {"chat": 50})


def test_allocation_shares_must_be_a_mapping() -> None:
    """Shares given as a list name the argument."""
    with pytest.raises(ConfigError, match=r"allocation\.shares must be a table"):
        allocate(100, [("chat", 50)])  # type: ignore[arg-type]


def test_unknown_time_zone_is_named_as_the_timezone() -> None:
    """A bad time zone is reported under ``timezone``, not under ``period``."""
    with pytest.raises(ConfigError, match="budget 'global': timezone: unknown time zone 'Mars/X'"):
        Budget(scope="global", period="day", limit_usd=1, timezone="Mars/X")
