"""Features' spend per hour slot back from an instant, from the minute rollup.

A slot ``s`` is ``[at - (s + 1)h, at - s·h)`` (:data:`costcap.reports._detect.HOUR_SLOTS`), with
``at`` truncated to the second, so its ends fall ``f`` seconds past a minute (``f`` = the
seconds of ``at``). ``costcap_rollup_minute_feature`` holds whole minutes: the minutes of
``[M - (s + 1)h, M - s·h)`` (``M`` = ``at`` without its seconds) are read from it, and the slot
is that sum plus the *head* of its later end minus the head of its earlier end — a head being
the events of ``[M - k·h, M - k·h + f)``, under a minute, read through the ``ts`` index. Exact
to the microsecond, like a read of the events: the anomaly baseline's 21 slots are 7 ranges of
4 hours of the rollup and 28 heads; the last 24 hours, 24 slots, one range and 25 heads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from costcap.ledger import LedgerSink
from costcap.ledger._schema import MINUTE_FEATURE
from costcap.reports._sql import EVENTS, Dialect, in_list

__all__ = ["feature_hours"]

_HOUR = timedelta(hours=1)


def _runs(slots: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive slots as (first, last) runs."""
    runs: list[tuple[int, int]] = []
    for slot in sorted(set(slots)):
        if runs and runs[-1][1] == slot - 1:
            runs[-1] = (runs[-1][0], slot)
        else:
            runs.append((slot, slot))
    return runs


def feature_hours(
    sink: LedgerSink,
    dialect: Dialect,
    at: datetime,
    slots: Iterable[int],
    features: Sequence[str] | None = None,
) -> dict[str, dict[int, int]]:
    """``{feature: {slot: picodollars}}`` for ``slots`` back from ``at`` (whole seconds), for
    ``features`` (an ``IN`` list: at most a few hundred) or every feature (``''``: none)."""
    wanted = set(slots)
    out: dict[str, dict[int, int]] = {f: {} for f in features or ()}
    minute = at.replace(second=0)

    def add(feature: object, slot: int, pico: int) -> None:
        if slot in wanted:
            counts = out.setdefault(str(feature), {})
            counts[slot] = counts.get(slot, 0) + pico

    members = [] if features is None else list(features)
    only = f" AND {in_list('e.feature', len(members))}" if features is not None else ""
    # whole minutes of each run of slots, slotted back from M
    ranges, params = [], []
    for first, last in _runs(wanted):
        ranges.append("(e.minute >= ? AND e.minute < ?)")
        params += [dialect.ts(minute - (last + 1) * _HOUR), dialect.ts(minute - first * _HOUR)]
    sql = (
        f"SELECT e.feature, {dialect.hours_before('e.minute')}, SUM(e.cost_pico) "
        f"FROM {MINUTE_FEATURE.table} e WHERE ({' OR '.join(ranges)}){only} GROUP BY 1, 2"
    )
    for feature, slot, pico in sink.query(
        dialect.sql(sql), [int(minute.timestamp()), *params, *members]
    ):
        add(feature, int(slot), int(pico))
    if at == minute:
        return out
    # heads: [M - k·h, M - k·h + f) for each end k of a slot; head k is slot k's later end
    # (added) and slot k - 1's earlier end (taken away). One arm per head, so that each is a
    # range of the ts index (SQLite scans the table for an OR of many ranges).
    arms, params = [], []
    for k in sorted(wanted | {s + 1 for s in wanted}):
        arms.append(
            f"SELECT COALESCE(e.feature, '') AS feature, {k} AS k, e.cost_pico AS cost_pico "
            f"FROM {EVENTS} e WHERE e.ts >= ? AND e.ts < ?"
        )
        params += [dialect.ts(minute - k * _HOUR), dialect.ts(at - k * _HOUR)]
    only = f" WHERE {in_list('h.feature', len(members))}" if features is not None else ""
    sql = (
        f"SELECT h.feature, h.k, SUM(h.cost_pico) FROM ({' UNION ALL '.join(arms)}) h{only} "
        "GROUP BY h.feature, h.k"
    )
    for feature, k, pico in sink.query(dialect.sql(sql), [*params, *members]):
        add(feature, int(k), int(pico))
        add(feature, int(k) - 1, -int(pico))
    return out
