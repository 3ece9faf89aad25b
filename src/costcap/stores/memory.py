"""``memory://``: one process, one lock. The reference semantics for the other backends."""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from costcap.stores._base import Admission, Charge, CounterState, check_actuals, check_charges

__all__ = ["MemoryStore"]

TOMBSTONE_S = 86400  # how long an expired (charged) reservation can still be settled/corrected
_SWEEP_EVERY = 4096  # admits between sweeps of expired counters and markers
_LEASE_SLACK = 1024  # stale lease entries tolerated beyond twice the open reservations


@dataclass(slots=True)
class _Counter:
    spent: int = 0
    reserved: int = 0
    expires_at: float = 0.0


@dataclass(slots=True)
class _Reservation:
    keys: tuple[str, ...]
    amounts: tuple[int, ...]
    spend_on_expiry: tuple[bool, ...]
    lease_until: float
    charged: bool = False  # lease ran out: "spend" amounts moved to spent, "release" ones freed

    def expired_amounts(self) -> tuple[int, ...]:
        """What expiry charged to spent, per charge."""
        return tuple(a if s else 0 for a, s in zip(self.amounts, self.spend_on_expiry, strict=True))


class MemoryStore:
    """Counters in a dict under a ``threading.Lock``; each method is one critical section."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._counters: dict[str, _Counter] = {}
        self._reservations: dict[str, _Reservation] = {}
        self._leases: list[
            tuple[float, str]
        ] = []  # heap of (lease_until, id); stale entries skipped
        self._markers: dict[str, float] = {}
        self._admits = 0

    # -- the protocol ---------------------------------------------------------------------------

    def admit(self, reservation_id: str, charges: Sequence[Charge], lease_s: float) -> Admission:
        check_charges(charges)
        with self._lock:
            now = self._clock()
            if self._leases and self._leases[0][0] <= now:
                self._expire_locked(now)
            self._admits += 1
            if self._admits % _SWEEP_EVERY == 0:
                self._sweep_locked(now)
            if reservation_id in self._reservations:
                raise ValueError(f"reservation id {reservation_id!r} is already in use")
            sums = [self._sum(c.window) for c in charges]
            for index, (charge, state) in enumerate(zip(charges, sums, strict=True)):
                if charge.hard and state.spent + state.reserved + charge.amount > charge.limit:
                    return Admission(False, tuple(sums), index)
            counters = self._counters
            keys, amounts, spend, states = [], [], [], []
            for charge, state in zip(charges, sums, strict=True):
                counter = counters.get(charge.key)
                if counter is None:
                    counter = counters[charge.key] = _Counter()
                counter.reserved += charge.amount
                counter.expires_at = max(counter.expires_at, now + charge.ttl_s)
                keys.append(charge.key)
                amounts.append(charge.amount)
                spend.append(charge.on_expiry == "spend")
                states.append(CounterState(state.spent, state.reserved + charge.amount))
            lease_until = now + lease_s
            self._reservations[reservation_id] = _Reservation(
                tuple(keys), tuple(amounts), tuple(spend), lease_until
            )
            self._push_lease(lease_until, reservation_id)
            return Admission(True, tuple(states))

    def settle(self, reservation_id: str, actuals: Sequence[int]) -> bool:
        check_actuals(reservation_id, actuals)
        with self._lock:
            found = self._reservations.pop(reservation_id, None)
            if found is None:
                return False
            if len(actuals) != len(found.keys):
                self._reservations[reservation_id] = found
                raise ValueError(f"{len(actuals)} actuals for {len(found.keys)} charges")
            counters = self._counters
            if not found.charged:  # the common case: settled within its lease
                for key, amount, actual in zip(found.keys, found.amounts, actuals, strict=True):
                    counter = counters.get(key)
                    if counter is None:
                        counter = counters[key] = _Counter()
                    counter.reserved -= amount
                    counter.spent += actual
                return True
            for key, done, actual in zip(found.keys, found.expired_amounts(), actuals, strict=True):
                counter = counters.setdefault(key, _Counter())
                counter.spent += actual - done
            return True

    def release(self, reservation_id: str) -> bool:
        with self._lock:
            found = self._reservations.get(reservation_id)
            if found is None:
                return False
            del self._reservations[reservation_id]
            for key, amount, done in zip(
                found.keys, found.amounts, found.expired_amounts(), strict=True
            ):
                counter = self._counters.setdefault(key, _Counter())
                if found.charged:
                    counter.spent -= done
                else:
                    counter.reserved -= amount
            return True

    def extend(self, reservation_id: str, lease_s: float) -> bool:
        with self._lock:
            found = self._reservations.get(reservation_id)
            now = self._clock()
            if found is None or found.charged or found.lease_until <= now:
                return False
            found.lease_until = now + lease_s
            self._push_lease(found.lease_until, reservation_id)
            return True

    def expire(self) -> int:
        with self._lock:
            return self._expire_locked(self._clock())

    def read(self, windows: Sequence[tuple[str, ...]]) -> list[CounterState]:
        with self._lock:
            self._expire_locked(self._clock())
            return [self._sum(window) for window in windows]

    def mark_once(self, marker: str, ttl_s: int) -> bool:
        with self._lock:
            now = self._clock()
            until = self._markers.get(marker)
            if until is not None and until > now:
                return False
            self._markers[marker] = now + ttl_s
            return True

    def close(self) -> None:
        pass

    # -- internals ------------------------------------------------------------------------------

    def _sum(self, window: tuple[str, ...]) -> CounterState:
        spent = reserved = 0
        for key in window:
            counter = self._counters.get(key)
            if counter is not None:
                spent += counter.spent
                reserved += counter.reserved
        return CounterState(spent, reserved)

    def _push_lease(self, lease_until: float, reservation_id: str) -> None:
        """Schedule a lease. Entries of settled or extended reservations stay in the heap until
        their time; when they outnumber the live ones the heap is rebuilt from the live ones, so
        it never holds more than ~2× the reservations open (not every call of the last lease)."""
        leases = self._leases
        heapq.heappush(leases, (lease_until, reservation_id))
        if len(leases) > 2 * len(self._reservations) + _LEASE_SLACK:
            self._leases = [(r.lease_until, rid) for rid, r in self._reservations.items()]
            heapq.heapify(self._leases)

    def _expire_locked(self, now: float) -> int:
        charged = 0
        leases = self._leases
        while leases and leases[0][0] <= now:
            lease_until, reservation_id = heapq.heappop(leases)
            found = self._reservations.get(reservation_id)
            if found is None:
                continue
            if found.charged:  # a tombstone whose correction window has passed
                if lease_until >= found.lease_until:
                    del self._reservations[reservation_id]
                continue
            if found.lease_until > lease_until:  # extended since; a later heap entry exists
                continue
            for key, amount, spend in zip(
                found.keys, found.amounts, found.expired_amounts(), strict=True
            ):
                counter = self._counters.setdefault(key, _Counter())
                counter.reserved -= amount
                counter.spent += spend
            found.charged = True
            found.lease_until = now + TOMBSTONE_S
            heapq.heappush(leases, (found.lease_until, reservation_id))
            charged += 1
        return charged

    def _sweep_locked(self, now: float) -> None:
        dead = [k for k, c in self._counters.items() if c.expires_at <= now and not c.reserved]
        for key in dead:
            del self._counters[key]
        for marker in [m for m, until in self._markers.items() if until <= now]:
            del self._markers[marker]
