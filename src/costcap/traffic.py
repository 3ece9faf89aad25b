"""When in the day calls are made: a traffic profile, for pricing models whose prices change with
the time of day (off-peak windows).

A :class:`TrafficProfile` is 24 non-negative weights, the share of a day's calls made in each
hour 0 to 23 of a time zone. Weights need not sum to 1: ``(1,) * 24`` and ``(2,) * 24`` are the
same profile. Named shapes: ``uniform`` (every hour alike) and ``business-hours`` (09:00 to 17:00
only).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from fractions import Fraction

__all__ = [
    "HOURS",
    "NAMED_PROFILES",
    "UNIFORM",
    "TrafficProfile",
    "parse_timezone",
    "profile_from",
]

HOURS = 24
_MAX_WEIGHT_DIGITS = 18  # a weight lies within 1e-18 … 1e18 (or is 0)
_OFFSET = re.compile(r"(?:UTC)?([+-])(\d{2}):?(\d{2})")
_MOST_OFFSET = timedelta(hours=14)  # the widest offset in use (Kiribati)

NAMED_PROFILES: dict[str, tuple[int, ...]] = {
    "uniform": (1,) * HOURS,
    "business-hours": (0,) * 9 + (1,) * 8 + (0,) * 7,  # 09:00 to 17:00
}


@dataclass(frozen=True, slots=True)
class TrafficProfile:
    """The share of a day's calls in each hour 0 … 23 of ``timezone`` (24 weights, not negative,
    not all zero). ``name`` is a named shape's name, else ``"custom"``.

    A zone with summer time is read at the offset it has on the day priced.
    """

    weights: tuple[Decimal, ...]
    timezone: tzinfo = UTC
    name: str = "custom"

    def __post_init__(self) -> None:
        if len(self.weights) != HOURS:
            raise ValueError(
                f"a traffic profile needs {HOURS} weights, one per hour 0-23 "
                f"(got {len(self.weights)})"
            )
        for hour, weight in enumerate(self.weights):
            if not isinstance(weight, Decimal) or not weight.is_finite():
                raise ValueError(f"hour {hour}: {weight!r} is not a number")
            if weight < 0:
                raise ValueError(f"hour {hour}: a weight must not be negative (got {weight})")
            if weight and abs(weight.adjusted()) > _MAX_WEIGHT_DIGITS:
                raise ValueError(f"hour {hour}: {weight} is out of range (1e-18 … 1e18)")
        if not any(self.weights):
            raise ValueError("a traffic profile needs some traffic: every weight is 0")

    @property
    def zone(self) -> str:
        """The time zone's name: ``UTC``, ``Europe/Paris``, ``UTC+05:30``."""
        return str(self.timezone)

    def day_start(self, day: date) -> datetime:
        """Midnight at the start of ``day`` in this profile's zone, as a UTC instant."""
        offset = self.timezone.utcoffset(datetime.combine(day, time(12))) or timedelta(0)
        return datetime.combine(day, time(0), UTC) - offset

    def share(self, day_start: datetime, start: datetime, end: datetime) -> Fraction:
        """The share (0 … 1) of the day's calls made from ``start`` to ``end`` (UTC instants
        within the day that begins at ``day_start``); calls spread evenly within each hour."""
        hour = timedelta(hours=1)
        micro = timedelta(microseconds=1)
        total = sum(Fraction(w) for w in self.weights)
        made = Fraction(0)
        for h, weight in enumerate(self.weights):
            lo, hi = day_start + h * hour, day_start + (h + 1) * hour
            overlap = min(end, hi) - max(start, lo)
            if weight and overlap > timedelta(0):
                made += Fraction(weight) * Fraction(overlap // micro, hour // micro)
        return made / total


UNIFORM = TrafficProfile(tuple(Decimal(w) for w in NAMED_PROFILES["uniform"]), name="uniform")


def parse_timezone(text: str) -> tzinfo:
    """``UTC``, an IANA name (``Europe/Paris``) or an offset (``+05:30``, ``UTC-08:00``).
    Raises ValueError with a readable message."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    value = text.strip()
    if value.upper() in ("UTC", "Z"):
        return UTC
    if match := _OFFSET.fullmatch(value):
        sign, hours, minutes = match.groups()
        offset = timedelta(hours=int(hours), minutes=int(minutes))
        if int(minutes) >= 60 or offset > _MOST_OFFSET:
            raise ValueError(f"{text!r} is not a UTC offset (-14:00 … +14:00)")
        return UTC if not offset else _fixed(-offset if sign == "-" else offset)
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {text!r} (an IANA name such as Europe/Paris, UTC, "
            "or an offset such as +05:30)"
        ) from None


def _fixed(offset: timedelta) -> tzinfo:
    from datetime import timezone

    return timezone(offset)


def profile_from(value: str | Sequence[object], *, timezone: tzinfo = UTC) -> TrafficProfile:
    """A profile from a name (``uniform``, ``business-hours``), 24 comma-separated weights
    (``"0,0,…,1"``) or a list of 24 numbers (ints, Decimals or numeric strings).
    Raises ValueError with a readable message."""
    if isinstance(value, str):
        name = value.strip().lower()
        if name in NAMED_PROFILES:
            weights = tuple(Decimal(w) for w in NAMED_PROFILES[name])
            return TrafficProfile(weights, timezone, name)
        if "," not in value:
            known = ", ".join(NAMED_PROFILES)
            raise ValueError(
                f"unknown profile {value!r} ({known}, or {HOURS} comma-separated weights, "
                "one per hour 0-23)"
            )
        items: Sequence[object] = value.split(",")
    else:
        items = value
    if len(items) != HOURS:
        raise ValueError(
            f"a traffic profile needs {HOURS} weights, one per hour 0-23 (got {len(items)})"
        )
    return TrafficProfile(tuple(_weight(item, hour) for hour, item in enumerate(items)), timezone)


def _weight(item: object, hour: int) -> Decimal:
    if isinstance(item, bool) or not isinstance(item, str | int | Decimal):
        raise ValueError(f"hour {hour}: {item!r} is not a number")
    try:
        weight = Decimal(item.strip().replace("_", "")) if isinstance(item, str) else Decimal(item)
    except InvalidOperation:
        raise ValueError(f"hour {hour}: {item!r} is not a number") from None
    if not weight.is_finite():
        raise ValueError(f"hour {hour}: {item!r} is not a finite number")
    return weight
