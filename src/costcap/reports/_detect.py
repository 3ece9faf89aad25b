"""Anomaly detection as pure functions: spend spikes against a member's own baseline.

**Method.** Each user and each feature is judged on two windows ending at the moment ``at``,
each against a baseline of the same member's own spend:

* the last hour ``[at - 1h, at)`` against the same hour of each of the 7 previous days and the
  hours either side of it (21 one-hour windows: a *seasonal* baseline, so that a member busy
  every afternoon is compared with its afternoons, not with its nights);
* the last 24 hours against each of the 7 whole UTC days before the day that window starts in
  (the daily rollups).

Windows without spend count as zero. The baseline's centre is its median and its spread a
robust standard deviation, ``1.4826 × MAD`` (median absolute deviation), but never less than
``min_spread`` × the median, so that perfectly regular traffic (MAD = 0) does not flag every
small wobble. A window is a spike when its spend exceeds

    threshold = max(median + k × spread, floor)

with ``floor`` an absolute minimum (``min_hour_usd`` / ``min_day_usd``): a member idle all week
(median 0) must still spend a noticeable amount to be reported. The robust z-score
``(spend - median) / spread`` is reported with it. Defaults: k = 5, min_spread = 10% of the
median, $1 an hour, $10 a day. Only members whose window spend reaches the floor can be
spikes, so only theirs is read further.

**Runaway loops**: one identity (its user, else its API key) sending the same ``prompt_hash``
``loop_calls`` times or more in the last ``loop_minutes`` minutes (defaults: 20 in 10 minutes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from costcap.money import pico_from_usd
from costcap.reports._rows import Anomaly, usd, usd_ratio

__all__ = [
    "BASELINE_DAYS",
    "HOUR_SLOTS",
    "MAX_LOOP_CALLS",
    "MAX_LOOP_MINUTES",
    "AnomalyRules",
    "Baseline",
    "candidates",
    "describe",
    "robust_baseline",
    "spikes",
]

BASELINE_DAYS = 7
MAX_LOOP_CALLS = 1_000_000_000
MAX_LOOP_MINUTES = 24 * 60
# The hour judged is slot 0, [at - 1h, at); slot s is [at - (s + 1)h, at - s·h). Its baseline:
# the same hour d days back and the hours either side of it.
HOUR_SLOTS: tuple[int, ...] = tuple(
    24 * d + j for d in range(1, BASELINE_DAYS + 1) for j in (-1, 0, 1)
)
MAD_TO_SIGMA = Decimal("1.4826")  # MAD × this estimates σ for normally distributed data
_HUNDREDTH = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class AnomalyRules:
    k: Decimal = Decimal(5)
    min_spread: Decimal = Decimal("0.1")
    min_hour_usd: Decimal = Decimal(1)
    min_day_usd: Decimal = Decimal(10)
    loop_calls: int = 20
    loop_minutes: int = 10

    def __post_init__(self) -> None:
        if self.k <= 0 or self.min_spread < 0 or self.min_hour_usd < 0 or self.min_day_usd < 0:
            raise ValueError("anomaly rules: k must be positive, floors must not be negative")
        calls_ok = 2 <= self.loop_calls <= MAX_LOOP_CALLS
        if not calls_ok or not 1 <= self.loop_minutes <= MAX_LOOP_MINUTES:
            raise ValueError(
                f"anomaly rules: loop_calls must be 2..{MAX_LOOP_CALLS:,} and loop_minutes "
                f"1..{MAX_LOOP_MINUTES} (a day)"
            )


def _median(values: Sequence[Decimal]) -> Decimal:
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return Decimal(0)
    middle = n // 2
    return ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2


@dataclass(frozen=True, slots=True)
class Baseline:
    median: Decimal  # picodollars per window
    spread: Decimal  # picodollars
    threshold: Decimal  # picodollars

    def score(self, spend: int) -> Decimal | None:
        if not self.spread:
            return None
        z = (Decimal(spend) - self.median) / self.spread
        return z.quantize(_HUNDREDTH, rounding=ROUND_HALF_EVEN)


def robust_baseline(
    history: Sequence[int], *, k: Decimal, min_spread: Decimal, floor_pico: int
) -> Baseline:
    """Median, spread (``max(1.4826 × MAD, min_spread × median)``) and the spike threshold of a
    history of spend per window, in picodollars."""
    values = [Decimal(v) for v in history]
    median = _median(values)
    mad = _median([abs(v - median) for v in values])
    spread = max(MAD_TO_SIGMA * mad, min_spread * median)
    return Baseline(median, spread, max(median + k * spread, Decimal(floor_pico)))


def candidates(
    current: Iterable[tuple[str, int, int]], rules: AnomalyRules
) -> dict[str, tuple[int, int]]:
    """Members whose last-hour or last-day spend (picodollars) reaches its floor: the only ones
    that can be spikes, so the only ones whose history is read. ``''`` (no member) is skipped."""
    hour_floor, day_floor = pico_from_usd(rules.min_hour_usd), pico_from_usd(rules.min_day_usd)
    sums: dict[str, tuple[int, int]] = {}
    for member, hour, day in current:
        if member:
            h, d = sums.get(member, (0, 0))
            sums[member] = (h + hour, d + day)
    return {m: hd for m, hd in sums.items() if hd[0] >= hour_floor or hd[1] >= day_floor}


def spikes(
    scope: str,
    current: Mapping[str, tuple[int, int]],
    hours: Mapping[str, Mapping[int, int]],
    days: Mapping[str, Sequence[int]],
    *,
    at: datetime,
    rules: AnomalyRules,
) -> list[Anomaly]:
    """Judge each member's last hour and last 24 hours (``current``: picodollars) against its
    hourly slots (``{member: {slot: picodollars}}``, see ``HOUR_SLOTS``) and its spend on each
    of the 7 baseline days."""
    out = []
    hour_floor, day_floor = pico_from_usd(rules.min_hour_usd), pico_from_usd(rules.min_day_usd)
    for member in sorted(current):
        hour, day = current[member]
        slots = hours.get(member, {})
        for window, now, history, floor in (
            ("1h", hour, [slots.get(s, 0) for s in HOUR_SLOTS], hour_floor),
            ("24h", day, days.get(member, [0] * BASELINE_DAYS), day_floor),
        ):
            base = robust_baseline(
                history, k=rules.k, min_spread=rules.min_spread, floor_pico=floor
            )
            if now > base.threshold:
                out.append(
                    Anomaly(
                        kind="spike",
                        scope=scope,
                        member=member,
                        window=window,
                        at=at,
                        spend_usd=usd(now),
                        baseline_usd=usd_ratio(base.median, 1),
                        threshold_usd=usd_ratio(base.threshold, 1),
                        score=base.score(now),
                    )
                )
    return out


def _usd(value: Decimal | None) -> str:
    return "-" if value is None else f"${value.normalize():f}"


def describe(anomaly: Anomaly) -> str:
    """One line saying what was seen (the ``detail`` of an anomaly alert)."""
    a = anomaly
    who = f"{a.scope} {a.member}" if a.member else a.scope
    if a.kind == "loop":
        return (
            f"{who} sent the same prompt ({(a.prompt_hash or '')[:12]}) {a.calls} times in the "
            f"{a.window} before {a.at.isoformat()} ({_usd(a.spend_usd)})"
        )
    score = f"; robust z {a.score}" if a.score is not None else ""
    return (
        f"{who} spent {_usd(a.spend_usd)} in the {a.window} before {a.at.isoformat()}, over its "
        f"threshold {_usd(a.threshold_usd)} (its median {_usd(a.baseline_usd)} over the 7 days "
        f"before{score})"
    )
