"""Report time ranges: half-open ``[since, until)`` in UTC, and how the ledger answers them.

Rollups hold whole UTC days, so a range is split into the whole days it covers (read from a
rollup) and at most two partial *edge* days (read from ``costcap_events`` through its ``ts``
index: only the part of the day in range). A range given in dates has no edges: it is answered
by rollups alone.

Dates mean whole days on both ends: ``since=date(2026, 3, 1), until=date(2026, 3, 31)`` is all of
March (the end date is included); datetimes are instants and ``until`` is excluded. Any date is a
valid bound (``until=date.max`` is no bound at all); ``since`` must not be after :data:`LATEST`
nor ``until`` before :data:`EARLIEST` (the day after ``since`` and the day before ``until`` must
exist).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

__all__ = [
    "EARLIEST",
    "GRANULARITIES",
    "LATEST",
    "Edge",
    "Granularity",
    "Split",
    "TimeRange",
    "bucket_count",
    "bucket_start",
    "buckets",
    "check_bound",
    "day_start",
    "parse_when",
]

Granularity = Literal["day", "week", "month"]
GRANULARITIES: tuple[Granularity, ...] = ("day", "week", "month")
_DAY = timedelta(days=1)
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, tzinfo=UTC)


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of ``day``."""
    return datetime.combine(day, time(), UTC)


def _check_bound(what: str, moment: datetime, *, end: bool) -> datetime:
    named = f"{what} " if what else ""
    if end and moment < EARLIEST:
        raise ValueError(
            f"{named}{moment.isoformat()} is too early ({EARLIEST.isoformat()} at least)"
        )
    if not end and moment > LATEST:
        raise ValueError(f"{named}{moment.isoformat()} is too late ({LATEST.isoformat()} at most)")
    return moment


def _instant(value: date | datetime | None, *, end: bool, what: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(
                f"{what or 'a bound'} must be timezone-aware (or a date), not {value.isoformat()}"
            )
        try:
            moment = value.astimezone(UTC)
        except OverflowError:  # an offset that moves it before year 1 or after year 9999
            named = f"{what} " if what else ""
            raise ValueError(f"{named}{value.isoformat()} is out of range in UTC") from None
        return _check_bound(what, moment, end=end)
    if end and value == date.max:  # up to the end of the last day there is: no bound
        return None
    return day_start(value + _DAY if end else value)


def check_bound(value: date | datetime, *, end: bool) -> None:
    """Raise ValueError (a message that names no parameter) when ``value`` cannot be the
    ``until`` (``end``) or ``since`` of a range: see the module's docstring."""
    _instant(value, end=end, what="")


@dataclass(frozen=True, slots=True)
class Edge:
    """A partial day: the events of ``day`` with ``start <= ts < end``."""

    day: date
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Split:
    """Whole days ``[first, end)`` for a rollup (None: unbounded on that side) plus edge days.
    ``whole`` is False when the range holds no whole day at all."""

    first: date | None
    end: date | None
    edges: tuple[Edge, ...]

    @property
    def whole(self) -> bool:
        return self.first is None or self.end is None or self.first < self.end


@dataclass(frozen=True, slots=True)
class TimeRange:
    """``[since, until)`` as aware UTC datetimes; None is unbounded."""

    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() != timedelta(0):
                raise ValueError(f"TimeRange.{name} must be in UTC")
            if value is not None:
                _check_bound(f"TimeRange.{name}", value, end=name == "until")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError(
                f"since ({self.since.isoformat()}) must be before until ({self.until.isoformat()})"
            )

    @classmethod
    def of(
        cls, since: date | datetime | None = None, until: date | datetime | None = None
    ) -> TimeRange:
        """A range from dates (whole days, ``until`` included) or aware datetimes."""
        return cls(
            _instant(since, end=False, what="since"), _instant(until, end=True, what="until")
        )

    def split(self) -> Split:
        since, until = self.since, self.until
        edges: list[Edge] = []
        first = end = None
        if since is not None:
            first = since.date()
            if since != day_start(first):
                first += _DAY
                stop = day_start(first) if until is None else min(day_start(first), until)
                edges.append(Edge(since.date(), since, stop))
        if until is not None:
            end = until.date()
            if until != day_start(end) and not (edges and edges[0].day == end):
                start = day_start(end) if since is None else max(day_start(end), since)
                edges.append(Edge(end, start, until))
        return Split(first, end, tuple(edges))

    def first_day(self) -> date | None:
        """The first day the range touches."""
        return None if self.since is None else self.since.date()

    def last_day(self) -> date | None:
        """The last day the range touches."""
        return None if self.until is None else (self.until - timedelta(microseconds=1)).date()


def parse_when(text: str, *, what: str) -> date | datetime:
    """``2026-03-05`` (a date) or an ISO datetime (``2026-03-05T14:00``, ``…Z``, ``…+02:00``);
    a datetime without an offset is UTC. Raises ValueError naming ``what``."""
    value = text.strip()
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{what}: {text!r} is not a date (2026-03-05) or an ISO datetime (2026-03-05T14:00Z)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def bucket_start(day: date, granularity: Granularity) -> date:
    """The first day of the day / ISO week (Monday) / calendar month that holds ``day``."""
    if granularity == "day":
        return day
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    raise ValueError(f"granularity must be one of {GRANULARITIES}, not {granularity!r}")


def buckets(first: date, last: date, granularity: Granularity) -> Iterator[date]:
    """Every bucket start from the bucket of ``first`` to that of ``last``, in order."""
    current, stop = bucket_start(first, granularity), bucket_start(last, granularity)
    while current <= stop:
        yield current
        if current == stop:  # the next bucket may lie past date.max
            return
        if granularity == "day":
            current += _DAY
        elif granularity == "week":
            current += timedelta(days=7)
        else:
            current = (current + timedelta(days=32)).replace(day=1)


def bucket_count(first: date, last: date, granularity: Granularity) -> int:
    """How many buckets :func:`buckets` yields from ``first`` to ``last`` (0 if ``last`` is
    before ``first``), computed without walking them."""
    lo, hi = bucket_start(first, granularity), bucket_start(last, granularity)
    if hi < lo:
        return 0
    if granularity == "month":
        return (hi.year - lo.year) * 12 + hi.month - lo.month + 1
    return (hi - lo).days // (7 if granularity == "week" else 1) + 1
