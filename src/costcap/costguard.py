"""The seed's vocabulary, kept reachable: ``CostGuard(daily_limit_usd=100)``.

A thin facade over :class:`~costcap.guard.Guard` with one global daily budget::

    guard = CostGuard(daily_limit_usd=100, on_limit=notify_team)
    guard.check_before_call(estimated_cost)   # reserves it, or raises BudgetExceeded
    ...                                        # make the call
    guard.log_call(actual_cost)               # settles the oldest open reservation

Unlike the seed's in-process counter, the reservation is atomic in the store, so many
threads, processes or servers sharing one store never exceed the limit together.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from decimal import Decimal

from costcap._checks import usd
from costcap.alerts import Alert
from costcap.budgets import MAX_LIMIT_USD, Budget
from costcap.errors import ConfigError, plain_usd
from costcap.guard import Guard, Ticket
from costcap.stores import Store

__all__ = ["CostGuard"]

_ACCOUNTING_MODEL = "gpt-4o"  # only names the ticket; dollar admissions never price tokens


class CostGuard:
    def __init__(
        self,
        daily_limit_usd: Decimal | int | float | str = 100,
        *,
        store: str | Store = "memory://",
        timezone: str = "UTC",
        on_limit: Callable[[Alert], object] | None = None,
    ) -> None:
        budget = Budget(scope="global", period="day", limit_usd=daily_limit_usd, timezone=timezone)
        if on_limit is not None and not callable(on_limit):
            raise ConfigError(f"on_limit must be a function taking an Alert, not {on_limit!r}")
        notifiers = None if on_limit is None else [on_limit]
        self.guard = Guard(store, budgets=[budget], notifiers=notifiers)
        self._open: deque[Ticket] = deque()
        self._lock = threading.Lock()

    def check_before_call(self, estimated_cost: Decimal | int | float | str) -> None:
        """Reserve ``estimated_cost`` dollars for the coming call; raises ``BudgetExceeded``
        (after alerting ``on_limit``) when today's budget has no room for it."""
        amount = _amount(estimated_cost, "estimated_cost")
        ticket = self.guard.admit(model=_ACCOUNTING_MODEL, reserve_usd=amount)
        with self._lock:
            self._open.append(ticket)

    def log_call(self, actual_cost: Decimal | int | float | str) -> None:
        """Record what the call actually cost, settling the oldest open reservation (or, with
        none open, charging the cost directly so no spend goes unrecorded)."""
        amount = _amount(actual_cost, "actual_cost")
        with self._lock:
            ticket = self._open.popleft() if self._open else None
        if ticket is None:
            ticket = self.guard.admit(model=_ACCOUNTING_MODEL, reserve_usd=Decimal(0))
        self.guard.settle_cost(ticket, amount)

    @property
    def daily_spent_usd(self) -> Decimal:
        """Today's spend, exact, in plain notation (``Decimal("50")``, never ``5E+1``)."""
        return Decimal(plain_usd(self.guard.status()[0]["spent_usd"]))

    def close(self) -> None:
        self.guard.close()


def _amount(value: object, what: str) -> Decimal:
    """A cost in dollars: not negative, and at most ``MAX_LIMIT_USD`` ($1,000,000,000), more
    than any budget holds. Anything else is a ConfigError naming ``what``."""
    amount = usd(value, what)
    if amount > MAX_LIMIT_USD:
        raise ConfigError(
            f"{what} ${plain_usd(amount)} is more than any budget holds (${MAX_LIMIT_USD:,})"
        )
    return amount
