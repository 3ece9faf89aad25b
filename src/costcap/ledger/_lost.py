"""Calls in flight, and the ``lost`` events of those whose process died: the SQL both sinks run.

A row of ``costcap_inflight`` lives like this:

1. **Admitted.** The Guard hands the Ledger an :class:`~costcap.ledger._inflight.InFlight`; it
   is spooled, and a batch upserts it — unless the call's event is stored already. A renewal of
   the lease (a long stream) upserts it again: ``lease_until`` only moves forward.
2. **Ended.** The batch that inserts the call's event deletes the row, in the same transaction.
3. **Lost.** A row whose lease ended more than the Ledger's grace ago, with no event, belongs
   to a process that died with the call in flight (``kill -9``, OOM): the store's lease has
   charged its reservation in full, and the provider may have billed it. Any process's drain
   deletes the row and inserts a ``lost`` event in its place — cost the reservation, tokens
   the input reserved and ``max_tokens``, at the admission's instant and service tier — and
   adds it to the rollups, in one transaction. Exactly once with several processes draining
   into one database: SQLite runs one writer at a time (``BEGIN IMMEDIATE``); on PostgreSQL a
   drain takes the rows it converts with ``FOR UPDATE SKIP LOCKED`` (two drains never take one
   row, and never wait for each other), and the event insert skips a request id already there.
4. **Found after all.** The call's real event arrives after its row was converted (a live
   process whose drain was slow): it replaces the ``lost`` event — the lost event's rollup
   sums are subtracted, rollup rows left with no call are deleted, the lost event is deleted,
   the real one inserted and added — in the batch's transaction. Never counted twice.

On PostgreSQL a batch deletes the in-flight rows of its events *before* inserting them: a
conversion holding such a row then makes the batch wait until the lost event is committed (and
replaced), and a batch holding it makes the conversion skip it; in the other order the two
could wait for each other (a deadlock).
"""

from __future__ import annotations

from collections.abc import Sequence

from costcap.ledger._event import CostEvent
from costcap.ledger._fired import FiredAlert
from costcap.ledger._inflight import InFlight, latest
from costcap.ledger._schema import INFLIGHT_COLUMNS, ROLLUPS_ALL, Rollup, key_sql
from costcap.ledger._sql import EVENT_COLUMNS, rollup_ctes, rollup_upsert

__all__ = [
    "DELETE_ENDED",
    "INFLIGHT",
    "REPLACED",
    "REVERSIBLE",
    "convert_sql",
    "inflight_row",
    "lost_probe",
    "replace_statements",
    "sort_out",
    "upsert_sql",
]

INFLIGHT = "costcap_inflight"
REPLACED = "costcap_replaced"  # a temporary table: the lost events a batch replaces
# Rollups a lost event can be in: those without a condition (refusal rollups count refused
# events only, and a lost event never is one). Every one of them counts its calls.
REVERSIBLE: tuple[Rollup, ...] = tuple(r for r in ROLLUPS_ALL if not r.where)
assert all(r.where.startswith("e.status = 'refused'") for r in ROLLUPS_ALL if r.where)
assert all(r.measures[0][0] == "calls" for r in REVERSIBLE)

# In-flight rows whose call's event is stored (SQLite: after a batch's inserts).
DELETE_ENDED = (
    f"DELETE FROM {INFLIGHT} WHERE EXISTS "
    f"(SELECT 1 FROM costcap_events e WHERE e.request_id = {INFLIGHT}.request_id)"
)


def inflight_row(record: InFlight, *, text_time: bool) -> tuple[object, ...]:
    """The ``costcap_inflight`` row of ``record`` (SQLite: instants as ISO text in UTC)."""
    at, until = record.at, record.lease_until
    return (
        record.request_id,
        at.isoformat() if text_time else at,
        until.isoformat() if text_time else until,
        *record[3:],
    )


assert len(InFlight._fields) == len(INFLIGHT_COLUMNS)


def upsert_sql(dialect: str, source: str) -> str:
    """Add the in-flight rows of ``source`` (a table, or SQLite ``VALUES`` named ``v``) whose
    call has no event yet; a row already there keeps the later lease end."""
    columns = ", ".join(INFLIGHT_COLUMNS)
    later = "max" if dialect == "sqlite" else "GREATEST"
    return (
        f"INSERT INTO {INFLIGHT} ({columns}) SELECT {columns} FROM {source} s WHERE NOT EXISTS "
        "(SELECT 1 FROM costcap_events e WHERE e.request_id = s.request_id) "
        f"ON CONFLICT (request_id) DO UPDATE SET lease_until = "
        f"{later}({INFLIGHT}.lease_until, excluded.lease_until)"
    )


def _lost_values(dialect: str) -> dict[str, str]:
    """Each event column a lost event sets, as an expression over an in-flight row ``i``; the
    other columns take their defaults (0, false, NULL)."""
    day = "substr(i.ts, 1, 10)" if dialect == "sqlite" else "(i.ts AT TIME ZONE 'UTC')::date"
    same = ("request_id", "ts", "model", "requested_model", "provider", "user_id", "feature",
            "api_key_id", "endpoint", "input_tokens", "service_tier")  # fmt: skip
    values = {column: f"i.{column}" for column in same}
    values.update(
        day=day, status="'lost'", output_tokens="i.max_tokens", cost_pico="i.reserved_pico"
    )
    return {column: values[column] for column in EVENT_COLUMNS if column in values}


def lost_probe(dialect: str) -> str:
    """Whether any in-flight row's lease ended before the cutoff (one parameter)."""
    mark = "?" if dialect == "sqlite" else "%s"
    return f"SELECT 1 FROM {INFLIGHT} WHERE lease_until < {mark} LIMIT 1"


def convert_sql(dialect: str) -> list[str]:
    """Turn the in-flight rows whose lease ended before the cutoff into lost events.

    SQLite (under ``BEGIN IMMEDIATE``; the sink adds the new rows to the rollups by rowid):
    the insert, then the delete, each taking the cutoff. PostgreSQL: ONE statement, taking the
    cutoff once, whose row is the number of lost events inserted and their cost."""
    values = _lost_values(dialect)
    columns = ", ".join(values)
    select = ", ".join(values.values())
    if dialect == "sqlite":
        return [
            f"INSERT INTO costcap_events ({columns}) SELECT {select} FROM {INFLIGHT} i "
            "WHERE i.lease_until < ? ORDER BY i.request_id ON CONFLICT (request_id) DO NOTHING",
            f"DELETE FROM {INFLIGHT} WHERE lease_until < ?",
        ]
    return [
        f"WITH gone AS (DELETE FROM {INFLIGHT} WHERE request_id IN (SELECT request_id FROM "
        f"{INFLIGHT} WHERE lease_until < %s ORDER BY request_id FOR UPDATE SKIP LOCKED) "
        "RETURNING *),\n"
        f"new AS (INSERT INTO costcap_events ({columns}) SELECT {select} FROM gone i "
        "ON CONFLICT (request_id) DO NOTHING RETURNING *),\n"
        f"{rollup_ctes('new')}\nSELECT COUNT(*), COALESCE(SUM(cost_pico), 0) FROM new"
    ]


def replace_statements(dialect: str, batch: str) -> tuple[str, list[str]]:
    """Replacing lost events by the events of a batch that has them: the statement that copies
    the lost events with a request id in ``batch`` into :data:`REPLACED` (its row count says
    whether there are any), then those that take them out of the rollups and the events table.
    The sink then inserts the batch's events for those ids and adds them to the rollups, and
    empties :data:`REPLACED`."""
    copy = (
        f"INSERT INTO {REPLACED} SELECT e.* FROM costcap_events e "
        f"WHERE e.status = 'lost' AND e.request_id IN (SELECT request_id FROM {batch})"
    )
    out = [rollup_upsert(r, dialect, f"{REPLACED} e", negate=True) for r in REVERSIBLE]
    for rollup in REVERSIBLE:  # a rollup row whose only call was the lost event goes
        same = " AND ".join(f"{rollup.table}.{k} = {key_sql(k, dialect)}" for k in rollup.keys)
        out.append(
            f"DELETE FROM {rollup.table} WHERE calls = 0 AND EXISTS "
            f"(SELECT 1 FROM {REPLACED} e WHERE {same})"
        )
    out.append(
        f"DELETE FROM costcap_events WHERE request_id IN (SELECT request_id FROM {REPLACED})"
    )
    return copy, out


def sort_out(
    records: Sequence[CostEvent | InFlight | FiredAlert],
) -> tuple[list[CostEvent], list[InFlight], list[FiredAlert]]:
    """A batch's events; the in-flight records to upsert: one per request id (the latest
    lease end), leaving out the calls whose event is in the batch too (their row would be
    deleted in the same transaction); and the alerts fired (:mod:`costcap.ledger._fired`)."""
    events: list[CostEvent] = []
    flights: list[InFlight] = []
    alerts: list[FiredAlert] = []
    for record in records:
        if isinstance(record, InFlight):
            flights.append(record)
        elif isinstance(record, FiredAlert):
            alerts.append(record)
        else:
            events.append(record)
    if flights:
        ended = {e.request_id for e in events}
        flights = [f for f in latest(flights) if f.request_id not in ended]
    return events, flights, alerts
