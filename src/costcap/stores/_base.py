"""The store protocol: atomic counters with leased reservations.

Everything admission needs from a store is one primitive over *counters*. A counter is named by a
key (a budget's or a rate limit's bucket) and holds two integers: ``spent`` (settled) and
``reserved`` (held by calls in flight). A *charge* asks to reserve ``amount`` on one counter while
checking the sum over a *window* of counters (one bucket for calendar periods, several for
rolling/sliding windows) against a ``limit``.

``admit`` takes every charge of a call in ONE atomic step: either each hard charge fits
(``Σ spent + Σ reserved + amount ≤ limit`` over its window) and all of them are reserved, or none
is and the first charge that did not fit is reported. The reservation is recorded under an id with
a lease; ``settle`` turns it into actual amounts, ``release`` drops it (the call was never billed),
and a reservation whose lease ran out is charged in full (its holder died; the provider may have
billed) by ``expire``, which every ``admit`` also runs first — except charges marked
``on_expiry="release"`` (concurrency slots), which are just freed. Settling or releasing a
reservation that already expired corrects what expiry charged to the actual amount: a late settle
adds ``actual − charged`` to spent, a late release subtracts ``charged`` (``charged`` is the amount
for a "spend" charge and 0 for a "release" one).

Units are integers chosen by the caller (micro-dollars for budgets, requests or tokens for rate
limits). Lease times are the store's own clock (Redis ``TIME``, Postgres ``now()``, the process
clock for memory and SQLite) so replicas with skewed clocks agree on expiry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from costcap.errors import UsageError

__all__ = [
    "MAX_AMOUNT",
    "Admission",
    "AsyncStore",
    "Charge",
    "CounterState",
    "Store",
    "check_actuals",
    "check_charges",
]

#: The largest limit every store counts exactly: 10**15 units (micro-dollars for budgets, so
#: $1,000,000,000; requests or tokens for rate limits). Redis scripts add in Lua numbers, which
#: are doubles, exact up to 2**53 (about 9.007e15); the room above 10**15 keeps the sums exact
#: where a soft budget or a late settlement goes past its limit. PostgreSQL (bigint) and SQLite
#: (INTEGER) hold up to 2**63 - 1. Budgets and rate limits above it are refused when built.
MAX_AMOUNT = 10**15


@dataclass(frozen=True, slots=True)
class Charge:
    key: str  # the counter this charge reserves on
    window: tuple[str, ...]  # counters summed against the limit; contains ``key``
    limit: int
    amount: int
    hard: bool = True  # a soft charge is recorded but never refuses
    ttl_s: int = 86400 * 32  # keep the counters at least this long after the last write
    # What a lease that runs out does with this charge: "spend" moves the amount to spent (money
    # or tokens the provider may have billed); "release" just frees it (a concurrency slot).
    on_expiry: Literal["spend", "release"] = "spend"


@dataclass(frozen=True, slots=True)
class CounterState:
    """The sums over a charge's window, after the step."""

    spent: int
    reserved: int


@dataclass(frozen=True, slots=True)
class Admission:
    admitted: bool
    states: tuple[CounterState, ...]  # one per charge, in order
    refused: int | None = None  # index of the first hard charge that did not fit


def check_charges(charges: Sequence[Charge]) -> None:
    """Refuse a charge whose amount is outside ``0..MAX_AMOUNT`` with a :class:`UsageError`,
    before anything is sent or written: every backend answers alike (Python ints, SQLite's and
    PostgreSQL's 64-bit integers and Redis's doubles would otherwise each fail their own way)."""
    for charge in charges:
        if not 0 <= charge.amount <= MAX_AMOUNT:
            raise UsageError(
                f"charge amount {charge.amount!r} on counter {charge.key!r} is outside "
                f"0..{MAX_AMOUNT}; nothing was reserved"
            )


def check_actuals(reservation_id: str, actuals: Sequence[int]) -> None:
    """Refuse an actual amount outside ``0..MAX_AMOUNT`` with a :class:`UsageError`, before
    anything is sent or written: the reservation stays held, as it was."""
    for index, actual in enumerate(actuals):
        if not 0 <= actual <= MAX_AMOUNT:
            raise UsageError(
                f"actual amount {actual!r} (charge {index}) for reservation {reservation_id!r} "
                f"is outside 0..{MAX_AMOUNT}; nothing was settled, the reservation is still held"
            )


@runtime_checkable
class Store(Protocol):
    """A synchronous store. Every method is atomic on its own."""

    def admit(self, reservation_id: str, charges: Sequence[Charge], lease_s: float) -> Admission:
        """Reserve every charge or none. ``reservation_id`` must be new. An amount outside
        ``0..MAX_AMOUNT`` is a :class:`~costcap.errors.UsageError` and changes nothing."""
        ...

    def settle(self, reservation_id: str, actuals: Sequence[int]) -> bool:
        """Replace the reservation by ``actuals`` (one per charge). False: unknown id. An actual
        outside ``0..MAX_AMOUNT`` is a :class:`~costcap.errors.UsageError` and changes nothing."""
        ...

    def release(self, reservation_id: str) -> bool:
        """Drop the reservation; nothing is spent. False: unknown id."""
        ...

    def extend(self, reservation_id: str, lease_s: float) -> bool:
        """Push the lease out to ``lease_s`` from now. False: unknown or already expired."""
        ...

    def expire(self) -> int:
        """Charge every reservation whose lease ran out, in full. Returns how many."""
        ...

    def read(self, windows: Sequence[tuple[str, ...]]) -> list[CounterState]:
        """The current sums over each window."""
        ...

    def mark_once(self, marker: str, ttl_s: int) -> bool:
        """True the first time ``marker`` is seen (until ``ttl_s`` passes), False after."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class AsyncStore(Protocol):
    """The same operations for asyncio callers."""

    async def admit(
        self, reservation_id: str, charges: Sequence[Charge], lease_s: float
    ) -> Admission: ...

    async def settle(self, reservation_id: str, actuals: Sequence[int]) -> bool: ...

    async def release(self, reservation_id: str) -> bool: ...

    async def extend(self, reservation_id: str, lease_s: float) -> bool: ...

    async def expire(self) -> int: ...

    async def read(self, windows: Sequence[tuple[str, ...]]) -> list[CounterState]: ...

    async def mark_once(self, marker: str, ttl_s: int) -> bool: ...

    async def close(self) -> None: ...
