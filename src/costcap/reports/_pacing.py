"""Budget pacing: is each budget on course to end its period under its limit?

**Method** (:func:`pace`, pure). For a calendar period ``[start, end)`` at ``now``:

    burn      = recent rate from the ledger (when given), else spent / days elapsed
    projected = spent + burn × days remaining
    status    = trending_over   if projected > limit
                trending_under  if projected < 50% of limit (room the budget is not using)
                on_track        otherwise
    exhausts  = now + (limit - spent) / burn, when that falls before the period ends

A rolling window never ends; it holds what the last W of traffic spent, so its projection is the
steady state ``burn × W`` (burn: the ledger's recent rate, else spent / W) and no exhaustion date
is given. Figures are rounded to the micro-dollar.

:func:`pacing` reads ``guard.status()`` (the store's counters: exactly what the budgets enforce)
and, given :class:`~costcap.reports.Reports`, the ledger's recent rate — the spend since the
start of the previous UTC day, per day — for periods longer than two days (for shorter ones the
period's own average is as recent). :func:`alert_pacing` fires one ``pacing`` alert per budget,
member and period (deduplicated across processes by the store's ``mark_once``) when a budget is
projected over its limit while money is still left; on the period's own average it waits until
10% of the period has passed, so the first minutes of a period do not extrapolate one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Literal

from costcap import admission as adm
from costcap.alerts import Alert
from costcap.budgets import Budget
from costcap.budgets._budget import ANONYMOUS
from costcap.reports._range import day_start
from costcap.reports._rows import usd

if TYPE_CHECKING:
    from costcap.guard import Guard
    from costcap.reports._reports import Reports

__all__ = ["BudgetPace", "Pace", "PaceStatus", "alert_pacing", "pace", "pace_rolling", "pacing"]

PaceStatus = Literal["on_track", "trending_over", "trending_under"]
UNDER_SHARE = Decimal("0.5")  # projected below half the limit: trending_under
RECENT_ABOVE = timedelta(days=2)  # periods longer than this use the ledger's recent rate
TEMPLATE_MEMBERS = 20  # members of a ``*`` budget paced: the top spenders in the ledger
_MICRO = Decimal("0.000001")
_HUNDREDTH = Decimal("0.01")
_DAY_US = Decimal(86_400_000_000)


def _days(span: timedelta) -> Decimal:
    return Decimal(span // timedelta(microseconds=1)) / _DAY_US


def _micro(value: Decimal) -> Decimal:
    return value.quantize(_MICRO, rounding=ROUND_HALF_EVEN)


def _status(projected: Decimal, limit: Decimal) -> PaceStatus:
    if projected > limit:
        return "trending_over"
    if projected < limit * UNDER_SHARE:
        return "trending_under"
    return "on_track"


@dataclass(frozen=True, slots=True)
class Pace:
    burn_usd_per_day: Decimal
    projected_usd: Decimal
    status: PaceStatus
    exhausts_at: datetime | None  # ``now`` when nothing is left; None: not within the period


def pace(
    *,
    limit_usd: Decimal,
    spent_usd: Decimal,
    start: datetime,
    end: datetime,
    now: datetime,
    recent_usd_per_day: Decimal | None = None,
) -> Pace:
    """Pacing of a calendar period ``[start, end)`` at ``now`` (see the module docstring)."""
    if end <= start:
        raise ValueError("a period must end after it starts")
    now = min(max(now, start), end)
    elapsed = _days(now - start)
    if recent_usd_per_day is not None:
        burn = recent_usd_per_day
    else:
        burn = spent_usd / elapsed if elapsed else Decimal(0)
    projected = spent_usd + burn * _days(end - now)
    exhausts: datetime | None = None
    if spent_usd >= limit_usd:
        exhausts = now
    elif burn > 0:
        moment = now + timedelta(days=float((limit_usd - spent_usd) / burn))
        exhausts = moment.replace(microsecond=0) if moment < end else None
    return Pace(_micro(burn), _micro(projected), _status(projected, limit_usd), exhausts)


def pace_rolling(
    *,
    limit_usd: Decimal,
    spent_usd: Decimal,
    window: timedelta,
    now: datetime,
    recent_usd_per_day: Decimal | None = None,
) -> Pace:
    """Pacing of a rolling window of length ``window``: its steady-state spend at the burn."""
    span = _days(window)
    if span <= 0:
        raise ValueError("a rolling window must be longer than zero")
    burn = recent_usd_per_day if recent_usd_per_day is not None else spent_usd / span
    projected = burn * span
    exhausts = now if spent_usd >= limit_usd else None
    return Pace(_micro(burn), _micro(projected), _status(projected, limit_usd), exhausts)


@dataclass(frozen=True, slots=True)
class BudgetPace:
    """One budget (one member of a ``*`` budget) in its current period, paced at ``at``."""

    budget: str
    member: str
    mode: str
    period: str  # day, week, month, rolling:24h
    bucket: str
    at: datetime
    start: datetime
    resets_at: datetime
    limit_usd: Decimal
    spent_usd: Decimal
    reserved_usd: Decimal
    burn_usd_per_day: Decimal
    projected_usd: Decimal
    projected_pct: Decimal  # projected as a share of the limit
    status: PaceStatus
    exhausts_at: datetime | None
    rate_from: Literal["period", "ledger"]
    alert_period: str  # what a pacing alert is deduplicated on


def _ledger_rate(reports: Reports, budget: Budget, member: str, now: datetime) -> Decimal | None:
    """Spend per day since the start of the previous UTC day, for the budget's scope (None
    where the ledger cannot tell: API-key budgets and anonymous members)."""
    if budget.kind == "key" or member == ANONYMOUS:
        return None
    since = now.date() - timedelta(days=1)
    totals = reports.totals(
        since=since,
        user=member if budget.kind == "user" else None,
        feature=member if budget.kind == "feature" else None,
        model=member if budget.kind == "model" else None,
    )
    return usd(totals.cost_pico) / _days(now - day_start(since))


def _paced(
    budget: Budget, row: adm.BudgetStatus, now: datetime, reports: Reports | None
) -> BudgetPace:
    limit, spent, member = row["limit_usd"], row["spent_usd"], row["member"]
    resets_at = datetime.fromisoformat(row["resets_at"])
    if budget.window.kind == "rolling":
        window = timedelta(seconds=budget.window.seconds)
        start = now - window
    else:
        # The window that holds the instant before the reset: the period of the status row.
        start = budget.window.at(resets_at - timedelta(microseconds=1)).start
        window = resets_at - start
    recent = None
    if reports is not None and window > RECENT_ABOVE:
        recent = _ledger_rate(reports, budget, member, now)
    if budget.window.kind == "rolling":
        result = pace_rolling(
            limit_usd=limit, spent_usd=spent, window=window, now=now, recent_usd_per_day=recent
        )
    else:
        result = pace(
            limit_usd=limit,
            spent_usd=spent,
            start=start,
            end=resets_at,
            now=now,
            recent_usd_per_day=recent,
        )
    projected_pct = (
        (result.projected_usd * 100 / limit).quantize(_HUNDREDTH) if limit else Decimal(0)
    )
    return BudgetPace(
        budget=row["budget"],
        member=member,
        mode=row["mode"],
        period=row["period"],
        bucket=row["bucket"],
        at=now,
        start=start,
        resets_at=resets_at,
        limit_usd=limit,
        spent_usd=spent,
        reserved_usd=row["reserved_usd"],
        burn_usd_per_day=result.burn_usd_per_day,
        projected_usd=result.projected_usd,
        projected_pct=projected_pct,
        status=result.status,
        exhausts_at=result.exhausts_at,
        rate_from="period" if recent is None else "ledger",
        alert_period=adm.Applied(budget, member, budget.window_at(now)).alert_period,
    )


def _template_rows(guard: Guard, reports: Reports, budget: Budget) -> list[adm.BudgetStatus]:
    """The top spenders of a ``user:*`` / ``feature:*`` / ``model:*`` budget this period."""
    since = budget.window_at(guard.clock()).start.date()
    if budget.kind == "user":
        members = [u.user for u in reports.top_users(since=since, limit=TEMPLATE_MEMBERS)]
    elif budget.kind == "feature":
        members = [f.feature for f in reports.by_feature(since=since) if f.feature]
    elif budget.kind == "model":
        members = [m.model for m in reports.by_model(since=since)]
    else:
        return []
    arg = {"user": "user_id", "feature": "feature", "model": "model"}[budget.kind]
    rows = []
    for member in members[:TEMPLATE_MEMBERS]:
        for row in guard.status(**{arg: member}):
            if row["budget"] == budget.id:
                rows.append(row)
    return rows


def pacing(
    guard: Guard,
    *,
    reports: Reports | None = None,
    user_id: str | None = None,
    feature: str | None = None,
    api_key: str | None = None,
    model: str | None = None,
) -> list[BudgetPace]:
    """Pace every budget ``guard.status()`` lists (with a scope: those that apply to it). With
    ``reports``, also the top spenders of each ``*`` budget, and the ledger's recent rate."""
    now = guard.clock()
    scoped = any(v is not None for v in (user_id, feature, api_key, model))
    rows = guard.status(user_id=user_id, feature=feature, api_key=api_key, model=model)
    budgets = {b.id: b for b in guard.budgets}
    if reports is not None and not scoped:
        for budget in guard.budgets:
            if budget.member == "*":
                rows += _template_rows(guard, reports, budget)
    return [_paced(budgets[row["budget"]], row, now, reports) for row in rows]


def alert_pacing(guard: Guard, paces: Sequence[BudgetPace]) -> list[Alert]:
    """Fire a ``pacing`` alert through the guard's notifiers for each budget projected over its
    limit with money left, once per budget, member and period; returns the alerts fired now."""
    fired = []
    for p in paces:
        if p.status != "trending_over" or p.spent_usd >= p.limit_usd:
            continue
        if p.rate_from == "period" and p.at - p.start < (p.resets_at - p.start) / 10:
            continue  # too early in the period to extrapolate its own average
        alert = Alert(
            kind="pacing",
            budget=p.budget,
            member=p.member,
            mode=p.mode,
            period=p.bucket,
            threshold_pct=p.projected_pct,
            spent_usd=p.spent_usd,
            limit_usd=p.limit_usd,
            resets_at=p.resets_at,
            reserved_usd=p.reserved_usd,
            projected_usd=p.projected_usd,
            exhausts_at=p.exhausts_at,
        )
        marker = f"pacing:{p.budget}:{p.member}:{p.alert_period}"
        granted = guard.store.mark_once(marker, guard.marker_ttl_s(alert))
        guard.fired(marker, alert, granted)
        if granted:
            fired.append(alert)
    return fired
