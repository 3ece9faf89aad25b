"""Budget periods: calendar day / week / month in a time zone, and rolling windows.

A period turns "now" into the counter bucket(s) a charge goes to:

* calendar periods have one bucket per period, named by its start (``2026-11-28``,
  ``2026-W48``, ``2026-11``) in the budget's time zone, and reset at local midnight;
* a rolling window of length W is cut into ``ROLLING_BUCKETS`` buckets of W/N; a charge goes to
  the current bucket and the limit is checked against every bucket that overlaps the window,
  the oldest one whole, and the next one (charged by calls that read the clock a moment later
  but reached the store first). That over-counts by at most one bucket (W/N of history), so a
  rolling budget may refuse a little early but is never exceeded.

A rolling window is at least one second and at most ``MAX_ROLLING_S``: 366 days
(``rolling:366d``, ``rolling:8784h``), a year and a leap day, which every store keeps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from costcap.errors import ConfigError

__all__ = ["MAX_ROLLING_S", "ROLLING_BUCKETS", "Period", "PeriodWindow", "parse_period"]

ROLLING_BUCKETS = 60
MAX_ROLLING_S = 366 * 86400  # the longest rolling window: 366 days
_KINDS = ("day", "week", "month", "rolling")
_UTC = ZoneInfo("UTC")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_ROLLING = re.compile(r"^rolling:(\d+)([smhd])$")


@dataclass(frozen=True, slots=True)
class PeriodWindow:
    bucket: str  # the counter bucket charged now
    window: tuple[str, ...]  # every bucket summed against the limit (includes ``bucket``)
    start: datetime  # in UTC
    resets_at: datetime  # in UTC: when the oldest bucket summed stops counting (the period end)
    ttl_s: int  # how long a store must keep these counters


@dataclass(frozen=True, slots=True)
class Period:
    kind: str  # "day" | "week" | "month" | "rolling"
    seconds: int = 0  # rolling windows only
    tz: ZoneInfo = _UTC

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ConfigError(f"period kind must be one of {', '.join(_KINDS)}, not {self.kind!r}")
        if not isinstance(self.tz, ZoneInfo):
            raise ConfigError(f"period tz must be a zoneinfo.ZoneInfo, not {self.tz!r}")
        if self.kind == "rolling":
            _check_rolling(self.seconds, f"rolling period of {self.seconds!r} seconds")

    @property
    def label(self) -> str:
        if self.kind != "rolling":
            return self.kind
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if self.seconds % size == 0:
                return f"rolling:{self.seconds // size}{unit}"
        return f"rolling:{self.seconds}s"

    def at(self, now: datetime) -> PeriodWindow:
        """The window in force at ``now`` (an aware datetime)."""
        if self.kind == "rolling":
            return self._rolling(now)
        local = now.astimezone(self.tz)
        day = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
        if self.kind == "day":
            start, end, name = day, day + timedelta(days=1), day.strftime("%Y-%m-%d")
        elif self.kind == "week":
            start = day - timedelta(days=day.weekday())
            end = start + timedelta(days=7)
            iso = start.isocalendar()
            name = f"{iso.year}-W{iso.week:02d}"
        else:
            start = day.replace(day=1)
            end = (start + timedelta(days=32)).replace(day=1)
            name = start.strftime("%Y-%m")
        # Local wall-clock midnights, kept in UTC: arithmetic on aware datetimes that share a
        # zoneinfo is wall-clock arithmetic in Python and would be an hour off across DST.
        start_at = start.replace(tzinfo=self.tz).astimezone(UTC)
        end_at = end.replace(tzinfo=self.tz).astimezone(UTC)
        ttl = int((end_at - now).total_seconds()) + 86400
        return PeriodWindow(name, (name,), start_at, end_at, ttl)

    def _rolling(self, now: datetime) -> PeriodWindow:
        size = max(1, self.seconds // ROLLING_BUCKETS)
        t = int(now.timestamp())
        current = t // size
        first = (t - self.seconds) // size
        # and the next bucket: a call reads the clock before its atomic step, so one that read
        # it a moment later (another thread or replica) may have charged that bucket already
        window = tuple(f"r{i}" for i in range(first, current + 2))
        resets_at = datetime.fromtimestamp((first + 1) * size + self.seconds, UTC)
        start = datetime.fromtimestamp(first * size, UTC)
        return PeriodWindow(f"r{current}", window, start, resets_at, self.seconds + 2 * size)


def _check_rolling(seconds: object, what: str) -> None:
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
        raise ConfigError(f"{what}: a rolling window must be a positive whole number of seconds")
    if seconds > MAX_ROLLING_S:
        raise ConfigError(f"{what}: a rolling window is at most 366 days ({MAX_ROLLING_S} s)")


def zone(timezone: object, where: str) -> ZoneInfo:
    """The time zone named ``timezone`` (``"Europe/Paris"``); anything else is a ConfigError."""
    if not isinstance(timezone, str):
        raise ConfigError(f"{where}: the time zone must be a name such as 'UTC', not {timezone!r}")
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: unknown time zone {timezone!r}") from None


def parse_period(
    text: str, *, timezone: str = "UTC", where: str = "period", tz_where: str | None = None
) -> Period:
    """``day``, ``week``, ``month`` or ``rolling:24h`` (units s, m, h, d; at most 366 days).
    A bad ``text`` is reported under ``where``, a bad ``timezone`` under ``tz_where`` (by
    default ``where`` too)."""
    tz = zone(timezone, where if tz_where is None else tz_where)
    if not isinstance(text, str):
        raise ConfigError(f"{where} must be day, week, month or rolling:<N><s|m|h|d>, not {text!r}")
    value = text.strip().lower()
    if value in ("day", "daily"):
        return Period("day", tz=tz)
    if value in ("week", "weekly"):
        return Period("week", tz=tz)
    if value in ("month", "monthly"):
        return Period("month", tz=tz)
    match = _ROLLING.match(value)
    if match and int(match.group(1)) > 0:
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
        _check_rolling(seconds, f"{where}: {text!r}")
        return Period("rolling", seconds, tz)
    raise ConfigError(
        f"{where}: {text!r} is not a period (use day, week, month or rolling:<N><s|m|h|d>)"
    )
