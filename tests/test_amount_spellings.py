"""Which dollar amounts costcap takes, as docs/guard.md lists them ("Dollar amounts"): the same
rules for a budget's ``limit_usd`` (a ConfigError), ``reserve_usd`` (a ConfigError) and
``settle_cost`` (a UsageError, the reservation still held). Accepted spellings are read as
written; everything else is refused with costcap's own error naming the argument."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from costcap import Budget, ConfigError, Guard, UsageError
from costcap.ledger import CostEvent

MODEL = "gpt-4o-mini"  # names the ticket only: dollar reservations price no tokens

# (spelling, its value in micro-dollars)
ACCEPTED = [
    ("2.5", 2_500_000),
    ("$5", 5_000_000),  # one leading dollar sign
    ("1_000", 1_000_000_000),  # underscores between digits, as in Python
    (" 0.25 ", 250_000),  # spaces around
    ("5e2", 500_000_000),
    (3, 3_000_000),
    (0.1, 100_000),  # a float is read as written: 0.1, not 0.1000000000000000055…
    (Decimal("0.000001"), 1),
]

# (spelling, what the error says)
REFUSED = [
    ("-0.5", "must not be negative"),
    (-1, "must not be negative"),
    (True, "dollar amount"),
    (False, "dollar amount"),
    (float("inf"), "not a finite dollar amount"),
    (float("nan"), "not a finite dollar amount"),
    (Decimal("NaN"), "not a finite dollar amount"),
    (Decimal("-Infinity"), "not a finite dollar amount"),
    ("Infinity", "not a finite dollar amount"),
    ("1,000", "not a dollar amount"),
    ("5 USD", "not a dollar amount"),
    ("$$5", "not a dollar amount"),
    ("_1", "not a dollar amount"),
    ("1__000", "not a dollar amount"),
    ("1_", "not a dollar amount"),
    ("\u0665", "not a dollar amount"),  # ARABIC-INDIC DIGIT FIVE: Decimal reads it, costcap not
    ("", "not a dollar amount"),
    ([1], "dollar amount"),
]

# above $1,000,000,000: no store counts them
TOO_LARGE = ["1000000000.000001", "1e400", "1e999999999"]


@pytest.fixture
def guard() -> Iterator[Guard]:
    """A budget at the largest limit, $1,000,000,000: only the amount can refuse a call."""
    budget = Budget(scope="global", period="day", limit_usd=1_000_000_000)
    g = Guard("memory://", budgets=[budget], notifiers=[])
    yield g
    g.close()


@pytest.mark.parametrize(("amount", "micros"), ACCEPTED)
def test_limit_spelling_is_read_as_written(amount: object, micros: int) -> None:
    """An accepted spelling is the limit it says, to the micro-dollar."""
    assert Budget(scope="global", period="day", limit_usd=amount).limit_micros == micros  # type: ignore[arg-type]


@pytest.mark.parametrize(("amount", "micros"), ACCEPTED)
def test_reserve_spelling_is_read_as_written(guard: Guard, amount: object, micros: int) -> None:
    """An accepted spelling reserves what it says, to the micro-dollar."""
    assert guard.admit(model=MODEL, reserve_usd=amount).reserved_micros == micros  # type: ignore[arg-type]


@pytest.mark.parametrize(("amount", "micros"), ACCEPTED)
def test_settle_spelling_is_read_as_written(guard: Guard, amount: object, micros: int) -> None:
    """An accepted spelling spends what it says, to the micro-dollar."""
    guard.settle_cost(guard.admit(model=MODEL, reserve_usd=1), amount)  # type: ignore[arg-type]
    assert guard.status()[0]["spent_usd"] == Decimal(micros) / 10**6


@pytest.mark.parametrize(("amount", "says"), [*REFUSED, (None, "dollar amount")])
def test_limit_spelling_refused(amount: object, says: str) -> None:
    """A limit that is not a dollar amount is a ConfigError naming limit_usd."""
    with pytest.raises(ConfigError, match=f"limit_usd.*{says}"):
        Budget(scope="global", period="day", limit_usd=amount)  # type: ignore[arg-type]


@pytest.mark.parametrize(("amount", "says"), REFUSED)
def test_reserve_spelling_refused(guard: Guard, amount: object, says: str) -> None:
    """A reservation that is not a dollar amount is a ConfigError naming reserve_usd, and
    nothing is reserved."""
    with pytest.raises(ConfigError, match=f"reserve_usd.*{says}"):
        guard.admit(model=MODEL, reserve_usd=amount)  # type: ignore[arg-type]
    assert guard.status()[0]["reserved_usd"] == 0


@pytest.mark.parametrize(("amount", "says"), [*REFUSED, (None, "dollar amount")])
def test_settle_spelling_refused_keeps_the_reservation(
    guard: Guard, amount: object, says: str
) -> None:
    """A cost that is not a dollar amount is a UsageError naming cost_usd; the call's $1 stays
    reserved and the ticket can still be settled."""
    ticket = guard.admit(model=MODEL, reserve_usd=1)
    with pytest.raises(UsageError, match=f"cost_usd.*{says}"):
        guard.settle_cost(ticket, amount)  # type: ignore[arg-type]
    assert guard.status()[0]["reserved_usd"] == 1
    guard.settle_cost(ticket, "0.3")
    assert guard.status()[0]["spent_usd"] == Decimal("0.3")


@pytest.mark.parametrize("amount", TOO_LARGE)
def test_limit_above_a_billion_is_refused(amount: str) -> None:
    """A limit above $1,000,000,000 is a ConfigError with a short message (1e400 is written
    $1E+400, not as 401 digits)."""
    with pytest.raises(ConfigError, match="above the largest limit") as refused:
        Budget(scope="global", period="day", limit_usd=amount)
    assert len(str(refused.value)) < 200


@pytest.mark.parametrize("amount", TOO_LARGE)
def test_reservation_above_a_billion_is_refused(guard: Guard, amount: str) -> None:
    """A reservation above $1,000,000,000 is a ConfigError, not decimal's Overflow."""
    with pytest.raises(ConfigError, match=r"reserve_usd is at most \$1,000,000,000"):
        guard.admit(model=MODEL, reserve_usd=amount)


@pytest.mark.parametrize("amount", TOO_LARGE)
def test_cost_above_a_billion_is_refused_and_records_nothing(amount: str) -> None:
    """A cost above $1,000,000,000 is a UsageError before any event is recorded (no store
    counts it): the ticket stays open, its reservation held."""
    events: list[CostEvent] = []

    class Keep:
        def on_event(self, event: CostEvent) -> None:
            events.append(event)

    budget = Budget(scope="global", period="day", limit_usd=10)
    guard = Guard("memory://", budgets=[budget], notifiers=[], observers=[Keep()])
    ticket = guard.admit(model=MODEL, reserve_usd=1)
    with pytest.raises(UsageError, match=r"cost_usd is at most \$1,000,000,000"):
        guard.settle_cost(ticket, amount)
    assert events == []
    assert guard.status()[0]["reserved_usd"] == 1


def test_limit_finer_than_a_micro_dollar_is_refused() -> None:
    """A limit is whole micro-dollars: a tenth of a picodollar, or a hair over one micro-dollar
    past decimal's 28 digits, is refused rather than rounded."""
    for amount in ("0.0000000000001", "1.0000000000000000000000000000001"):
        with pytest.raises(ConfigError, match="finer than a micro-dollar"):
            Budget(scope="global", period="day", limit_usd=amount)


def test_sub_picodollar_reservation_reserves_one_micro_dollar(guard: Guard) -> None:
    """reserve_usd $0.0000000000001 (a tenth of a picodollar) reserves 1 micro-dollar."""
    assert guard.admit(model=MODEL, reserve_usd="0.0000000000001").reserved_micros == 1
