"""Features' seasonal hour slots from the minute rollup equal a count of the events, to the
microsecond, whatever second ``at`` falls on (SQLite and Postgres)."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from costcap.ledger import CostEvent, open_sink
from costcap.reports import Reports
from costcap.reports._detect import HOUR_SLOTS
from costcap.reports._feature_hours import feature_hours

AT = datetime(2026, 3, 20, 15, 0, tzinfo=UTC)
# on the hour; a second past; 59 seconds past; a whole minute past (no partial minute)
MOMENTS = [AT, AT + timedelta(seconds=1), AT + timedelta(minutes=37, seconds=59),
           AT + timedelta(minutes=12)]  # fmt: skip
_HOUR = timedelta(hours=1)
_TICK = timedelta(microseconds=1)


def _events() -> list[CostEvent]:
    """Spend around every slot's ends for every moment (on an end, a microsecond either side,
    on the minute before it) and at random over the 8 days, for two features and none."""
    rng = random.Random(3)
    times = []
    for at in MOMENTS:
        for k in range(min(HOUR_SLOTS) - 1, max(HOUR_SLOTS) + 3):
            end = at - k * _HOUR
            minute = end.replace(second=0)
            times += [end, end - _TICK, end + _TICK, minute, minute - _TICK, minute + _TICK]
    times += [AT - timedelta(seconds=rng.randrange(8 * 86400), microseconds=rng.randrange(10**6))
              for _ in range(600)]  # fmt: skip
    return [
        CostEvent(request_id=f"h{i}", ts=ts, status="ok", model="m",
                  feature=rng.choice(["chat", "search", None]), cost_pico=rng.randrange(1, 10**6))
        for i, ts in enumerate(times)
    ]  # fmt: skip


EVENTS = _events()


def by_hand(at: datetime, slots: Iterable[int]) -> dict[str, dict[int, int]]:
    """Slot s = [at - (s + 1)h, at - s·h): ceil((at - ts) / 1h) - 1; spend per feature ('' for
    none) and slot, zeros left out."""
    out: dict[str, dict[int, int]] = {}
    for e in EVENTS:
        slot = math.ceil((at - e.ts) / _HOUR) - 1
        if e.ts < at and slot in slots:
            counts = out.setdefault(e.feature or "", {})
            counts[slot] = counts.get(slot, 0) + e.cost_pico
    return out


def nonzero(spend: dict[str, dict[int, int]]) -> dict[str, dict[int, int]]:
    return {
        f: kept for f, slots in spend.items() if (kept := {s: p for s, p in slots.items() if p})
    }


@pytest.fixture
def ledger(empty_url: str) -> Reports:
    sink = open_sink(empty_url)
    sink.write(EVENTS)
    return Reports(sink)


@pytest.mark.parametrize("at", MOMENTS, ids=lambda at: at.strftime("%H:%M:%S"))
def test_baseline_slots_from_the_minute_rollup_equal_the_events(
    ledger: Reports, at: datetime
) -> None:
    """Rollup minutes plus the events of the partial minutes give each baseline slot exactly
    (two features named)."""
    with ledger:
        got = feature_hours(ledger.sink, ledger.dialect, at, HOUR_SLOTS, ["chat", "search"])
    expected = by_hand(at, HOUR_SLOTS)
    assert nonzero(got) == {f: slots for f, slots in nonzero(expected).items() if f}


@pytest.mark.parametrize("at", MOMENTS, ids=lambda at: at.strftime("%H:%M:%S"))
def test_the_last_24_hours_from_the_minute_rollup_equal_the_events(
    ledger: Reports, at: datetime
) -> None:
    """The 24 slots of the last day, for every feature (and calls without one), exactly."""
    with ledger:
        got = feature_hours(ledger.sink, ledger.dialect, at, range(24))
    assert nonzero(got) == nonzero(by_hand(at, range(24)))
