"""Admission as pure steps over a store's one atomic primitive.

``charges_for`` turns a call (its scope and worst-case cost) into one :class:`Charge` per budget
that applies; the store reserves all of them or none. ``refusal`` explains a refused admission as
:class:`BudgetExceeded`; ``alerts_due`` decides which thresholds a step has crossed. Budgets count
in whole micro-dollars rounded *up* from exact picodollar costs, so a counter never under-counts.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import Literal, TypedDict

from costcap.alerts import Alert
from costcap.budgets import Budget, CallScope, PeriodWindow
from costcap.errors import BudgetExceeded
from costcap.stores import Admission, Charge, CounterState

__all__ = [
    "MARKER_TTL_S",
    "Applied",
    "AppliedCache",
    "BudgetStatus",
    "alerts_due",
    "charges_for",
    "exhausted_alert",
    "micros_usd",
    "refusal",
    "spent_before",
    "status_of",
]

_MICRO = Decimal("0.000001")
_CENT = Decimal("0.01")
MARKER_TTL_S = 40 * 86400  # longer than any calendar period a marker names


def micros_usd(micros: int) -> Decimal:
    return (Decimal(micros) * _MICRO).normalize() if micros else Decimal(0)


@dataclass(frozen=True, slots=True)
class Applied:
    """One budget as it applies to one call: which member, which period bucket."""

    budget: Budget
    member: str
    window: PeriodWindow
    key: str = field(init=False)  # the counter charged now
    window_keys: tuple[str, ...] = field(init=False)  # the counters summed against the limit

    def __post_init__(self) -> None:
        prefix = f"budget:{self.budget.id}:{self.member}:"
        object.__setattr__(self, "key", prefix + self.window.bucket)
        object.__setattr__(self, "window_keys", tuple(prefix + b for b in self.window.window))

    @property
    def alert_period(self) -> str:
        """The period an alert fires once in: the calendar bucket, or for a rolling window the
        window-length slot of time it falls in (one alert per window length, not per bucket)."""
        if self.budget.window.kind != "rolling":
            return self.window.bucket
        return f"w{int(self.window.start.timestamp()) // self.budget.window.seconds}"


AppliedCache = dict[tuple[int, str], Applied]
_APPLIED_CACHE_ENTRIES = 50_000  # members × budgets remembered (a per-user budget: one a user)


def charges_for(
    budgets: Sequence[Budget],
    scope: CallScope,
    amount_micros: int,
    now: datetime | float,
    cache: AppliedCache | None = None,
) -> tuple[list[Applied], list[Charge]]:
    """One charge per budget that applies. ``cache`` (one per Guard) keeps each budget member's
    ``Applied`` while its period bucket lasts, so its keys are built once per bucket."""
    applied: list[Applied] = []
    charges: list[Charge] = []
    for index, budget in enumerate(budgets):
        member = budget.applies_to(scope)
        if member is None:
            continue
        window = budget.window_at(now)
        a = cache.get((index, member)) if cache is not None else None
        if a is None or a.window is not window:
            a = Applied(budget, member, window)
            if cache is not None:
                if len(cache) >= _APPLIED_CACHE_ENTRIES:
                    cache.clear()
                cache[index, member] = a
        applied.append(a)
        charges.append(
            Charge(
                key=a.key,
                window=a.window_keys,
                limit=budget.limit_micros,
                amount=amount_micros,
                hard=budget.hard,
                ttl_s=window.ttl_s,
            )
        )
    return applied, charges


def refusal(applied: Sequence[Applied], admission: Admission, amount_micros: int) -> BudgetExceeded:
    index = admission.refused
    assert index is not None
    hit, state = applied[index], admission.states[index]
    return BudgetExceeded(
        budget=hit.budget.id,
        member=hit.member,
        limit_usd=micros_usd(hit.budget.limit_micros),
        spent_usd=micros_usd(state.spent),
        reserved_usd=micros_usd(state.reserved),
        requested_usd=micros_usd(amount_micros),
        resets_at=hit.window.resets_at,
    )


def _alert(
    a: Applied,
    kind: Literal["threshold", "exhausted", "oversized"],
    pct: Decimal,
    spent: int,
    *,
    reserved: int = 0,
    requested: int = 0,
) -> Alert:
    return Alert(
        kind=kind,
        budget=a.budget.id,
        member=a.member,
        mode=a.budget.mode,
        period=a.alert_period,
        threshold_pct=pct,
        spent_usd=micros_usd(spent),
        limit_usd=micros_usd(a.budget.limit_micros),
        resets_at=a.window.resets_at,
        reserved_usd=micros_usd(reserved),
        requested_usd=micros_usd(requested),
    )


def alerts_due(
    applied: Sequence[Applied], spent: Sequence[int], fired: Container[str] = ()
) -> list[tuple[str, Alert]]:
    """(marker, alert) for every threshold that ``spent`` (micros, one per applied budget) has
    reached, except those whose marker is in ``fired``. The caller fires each only if the store
    grants its marker for the first time. On every admission and settle: integer comparisons
    until a threshold is reached, an Alert built only for a marker not yet fired."""
    due: list[tuple[str, Alert]] = []
    for a, amount in zip(applied, spent, strict=True):
        budget = a.budget
        if not budget.limit_micros:
            continue
        for pct, at in zip(budget.alert_at, budget.alert_micros, strict=True):
            if amount < at:
                break  # thresholds ascend
            marker = f"alert:{budget.id}:{a.member}:{a.alert_period}:{pct}"
            if marker not in fired:
                due.append((marker, _alert(a, "threshold", pct, amount)))
    return due


def exhausted_alert(
    applied: Sequence[Applied], admission: Admission, requested: int
) -> list[tuple[str, Alert]]:
    """The alert for a budget refusal: ``oversized`` when the call's worst case (``requested``
    micros) alone is more than the budget's whole limit — the budget may be untouched, and its
    own ``exhausted`` alert stays for when it really runs out — else ``exhausted``
    (``threshold_pct`` 100, or for ``oversized`` the call's size as a share of the limit). A $0
    budget refuses every call by design and alerts nothing."""
    index = admission.refused
    assert index is not None
    a, state = applied[index], admission.states[index]
    limit = a.budget.limit_micros
    if not limit:
        return []
    if requested > limit:
        kind: Literal["exhausted", "oversized"] = "oversized"
        pct = (Decimal(requested) * 100 / limit).quantize(_CENT, rounding=ROUND_CEILING)
    else:
        kind, pct = "exhausted", Decimal(100)
    marker = f"alert:{a.budget.id}:{a.member}:{a.alert_period}:{kind}"
    alert = _alert(a, kind, pct, state.spent, reserved=state.reserved, requested=requested)
    return [(marker, alert)]


def spent_before(admission: Admission) -> list[int]:
    return [state.spent for state in admission.states]


class BudgetStatus(TypedDict):
    """One budget in its current period, as plain data."""

    budget: str
    scope: str
    member: str
    mode: str
    period: str
    bucket: str
    limit_usd: Decimal
    spent_usd: Decimal
    reserved_usd: Decimal
    remaining_usd: Decimal
    resets_at: str


def status_of(applied: Applied, state: CounterState) -> BudgetStatus:
    b = applied.budget
    return {
        "budget": b.id,
        "scope": b.scope,
        "member": applied.member,
        "mode": b.mode,
        "period": b.window.label,
        "bucket": applied.window.bucket,
        "limit_usd": micros_usd(b.limit_micros),
        "spent_usd": micros_usd(state.spent),
        "reserved_usd": micros_usd(state.reserved),
        "remaining_usd": micros_usd(max(0, b.limit_micros - state.spent - state.reserved)),
        "resets_at": applied.window.resets_at.isoformat(),
    }
