"""Calls in flight and ``lost`` events (SQLite and PostgreSQL): an event ends its call in flight,
a call whose lease ended long ago becomes one lost event charged its reservation (once, however
many drains race), and an event that arrives after all replaces it with rollups exact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from costcap import Budget, Guard
from costcap.errors import ConfigError
from costcap.ledger import CostEvent, InFlight, Ledger, LedgerSink, open_sink
from costcap.ledger._event import EventsRefused
from costcap.ledger._schema import ROLLUPS_ALL
from costcap.reports import Reports
from costcap.testing import run_fake_provider
from tests.ledger.conftest import LEASE_US, T0_US, fetch, in_flight, totals
from tests.services import drop_postgres_schema, postgres_url
from tests.waiting import wait_for

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # the admission of in_flight() records
LEASE_END = T0 + timedelta(microseconds=LEASE_US)  # 12:10


@pytest.fixture
def sink(ledger_url: str) -> Iterator[LedgerSink]:
    opened = open_sink(ledger_url)
    yield opened
    opened.close()


@pytest.fixture
def twin_url(ledger_url: str, tmp_path: Path) -> Iterator[str]:
    """Another fresh ledger on the same backend (the reference a test compares with)."""
    if ledger_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'twin.db'}"
        return
    url = postgres_url()
    yield url
    drop_postgres_schema(url)


def in_flight_ids(url: str) -> list[str]:
    return sorted(rid for (rid,) in fetch(url, "SELECT request_id FROM costcap_inflight"))


def statuses(url: str) -> dict[str, tuple[str, int]]:
    rows = fetch(url, "SELECT request_id, status, cost_pico FROM costcap_events")
    return {rid: (status, int(cost)) for rid, status, cost in rows}


def rollups(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every rollup table's rows, in key order."""
    out = {}
    for r in ROLLUPS_ALL:
        out[r.table] = fetch(url, f"SELECT * FROM {r.table} ORDER BY {', '.join(r.keys)}")
    return out


def final(rid: str, **fields: Any) -> CostEvent:
    """The event of in_flight(rid): alice's chat call, answered at 12:00:02 for $0.0000072
    (8 input tokens at $0.15/M + 10 output tokens at $0.60/M = 1.2e-6 + 6e-6 = 7.2e-6)."""
    values: dict[str, Any] = {
        "request_id": rid, "ts": T0 + timedelta(seconds=2), "status": "ok",
        "model": "gpt-4o-mini", "provider": "openai", "user_id": "alice", "feature": "chat",
        "input_tokens": 8, "output_tokens": 10, "cost_pico": 7_200_000, "latency_ms": 2000.0,
    }  # fmt: skip
    values.update(fields)
    return CostEvent(**values)


def test_an_event_ends_its_call_in_flight(ledger_url: str, sink: LedgerSink) -> None:
    """The batch that stores a call's event deletes its in-flight row."""
    sink.write([in_flight("r1"), in_flight("r2")])
    assert in_flight_ids(ledger_url) == ["r1", "r2"]
    assert sink.write([final("r1")]) == 1
    assert in_flight_ids(ledger_url) == ["r2"]
    assert statuses(ledger_url) == {"r1": ("ok", 7_200_000)}


def test_a_call_and_its_event_in_one_batch_leave_no_row(ledger_url: str, sink: LedgerSink) -> None:
    sink.write([in_flight("r1"), final("r1")])
    assert in_flight_ids(ledger_url) == []
    assert statuses(ledger_url) == {"r1": ("ok", 7_200_000)}


def test_a_call_whose_event_is_stored_is_not_put_in_flight(
    ledger_url: str, sink: LedgerSink
) -> None:
    """An in-flight line written after its call's event (a spool replayed, another ledger's
    order) adds no row: the call has ended."""
    sink.write([final("r1")])
    sink.write([in_flight("r1")])
    assert in_flight_ids(ledger_url) == []


def test_an_expired_call_becomes_one_lost_event(ledger_url: str, sink: LedgerSink) -> None:
    """A call whose lease ended before the cutoff is recorded lost: cost the reservation, input
    the tokens reserved, output max_tokens, at its admission, for its user, feature and model;
    its in-flight row goes. Another conversion finds nothing."""
    sink.write([in_flight("r1")])
    assert sink.convert_lost(LEASE_END + timedelta(seconds=1)) == (1, 62_000_000)
    assert in_flight_ids(ledger_url) == []
    ((status, cost, tokens_in, tokens_out, user, feature, model, provider, ts),) = fetch(
        ledger_url,
        "SELECT status, cost_pico, input_tokens, output_tokens, user_id, feature, model, "
        "provider, ts FROM costcap_events WHERE request_id = 'r1'",
    )
    assert (status, cost, tokens_in, tokens_out) == ("lost", 62_000_000, 8, 100)
    assert (user, feature, model, provider) == ("alice", "chat", "gpt-4o-mini", "openai")
    moment = datetime.fromisoformat(ts) if isinstance(ts, str) else ts
    assert moment == T0
    assert sink.convert_lost(LEASE_END + timedelta(hours=1)) == (0, 0)


def test_a_lost_event_is_in_every_spend_rollup(ledger_url: str, sink: LedgerSink) -> None:
    """The lost call counts as a call with its cost in the events table, the three spend
    rollups and the minute rollup, like any event."""
    sink.write([final("r0"), in_flight("r1")])
    sink.convert_lost(LEASE_END + timedelta(seconds=1))
    # r0 $0.0000072 + r1's reservation $0.000062 = 7,200,000 + 62,000,000 pico, two calls
    assert set(totals(ledger_url).values()) == {(2, 69_200_000)}


def tier_rows(url: str) -> dict[str, tuple[int, int]]:
    """The service-tier rollup's calls and picodollars per tier (one day, feature and model)."""
    rows = fetch(url, "SELECT service_tier, calls, cost_pico FROM costcap_rollup_daily_tier")
    return {tier: (int(calls), int(pico)) for tier, calls, pico in rows}


def test_a_lost_event_carries_the_tier_it_was_admitted_at(
    ledger_url: str, sink: LedgerSink
) -> None:
    """A call admitted at the priority tier is recorded lost at that tier, and counted at it in
    the service-tier rollup; one admitted with none is lost with none ('' in the rollup)."""
    sink.write([in_flight("r1", service_tier="priority"), in_flight("r2")])
    assert sink.convert_lost(LEASE_END + timedelta(seconds=1)) == (2, 124_000_000)
    rows = fetch(ledger_url, "SELECT request_id, service_tier FROM costcap_events")
    assert sorted(rows, key=repr) == [("r1", "priority"), ("r2", None)]
    assert tier_rows(ledger_url) == {"priority": (1, 62_000_000), "": (1, 62_000_000)}


def test_a_late_event_at_another_tier_replaces_the_lost_one(
    ledger_url: str, sink: LedgerSink, twin_url: str
) -> None:
    """A call admitted at the priority tier, recorded lost, then served at flex (the provider
    reports the tier it served): the priority row, whose only call was the lost one, goes; the
    rollups are exactly those of a ledger that never saw the lost event."""
    other = final("a1", service_tier="default")
    flex = final("r1", ts=T0 + timedelta(minutes=3), service_tier="flex", cost_pico=3_600_000)
    sink.write([other, in_flight("r1", service_tier="priority")])
    assert sink.convert_lost(LEASE_END + timedelta(seconds=1)) == (1, 62_000_000)
    assert tier_rows(ledger_url) == {"default": (1, 7_200_000), "priority": (1, 62_000_000)}
    assert sink.write([flex]) == 1
    assert tier_rows(ledger_url) == {"default": (1, 7_200_000), "flex": (1, 3_600_000)}
    reference = open_sink(twin_url)
    try:
        reference.write([other, flex])
    finally:
        reference.close()
    assert rollups(ledger_url) == rollups(twin_url)


def test_reports_count_a_lost_call_as_answered_and_charged(sink: LedgerSink) -> None:
    """Reports read the rollups: a lost call is an answered (not refused) call of its user,
    feature and model, charged its reservation."""
    sink.write([final("r0"), in_flight("r1", user_id="bob")])
    sink.convert_lost(LEASE_END + timedelta(seconds=1))
    reports = Reports(sink)
    users = {u.user: (u.calls, u.answered, u.refused, u.cost_usd) for u in reports.top_users()}
    assert users == {
        "alice": (1, 1, 0, Decimal("0.0000072")),
        "bob": (1, 1, 0, Decimal("0.000062")),  # 62,000,000 pico
    }
    ((feature, calls, answered, cost),) = [
        (f.feature, f.calls, f.answered, f.cost_usd) for f in reports.by_feature()
    ]
    assert (feature, calls, answered, cost) == ("chat", 2, 2, Decimal("0.0000692"))


def test_a_call_whose_lease_has_not_ended_stays_in_flight(
    ledger_url: str, sink: LedgerSink
) -> None:
    sink.write([in_flight("r1")])
    assert sink.convert_lost(LEASE_END - timedelta(microseconds=1)) == (0, 0)
    assert in_flight_ids(ledger_url) == ["r1"]


def test_a_renewal_moves_the_lease_end_forward_never_back(
    ledger_url: str, sink: LedgerSink
) -> None:
    """A renewed lease (12:20) keeps the call in flight past its first end (12:10); a stale
    renewal written later (12:15) does not move it back."""
    sink.write([in_flight("r1")])
    sink.write([in_flight("r1", lease_until_us=T0_US + 2 * LEASE_US)])
    sink.write([in_flight("r1", lease_until_us=T0_US + LEASE_US * 3 // 2)])
    assert sink.convert_lost(T0 + timedelta(minutes=19)) == (0, 0)
    assert sink.convert_lost(T0 + timedelta(minutes=21)) == (1, 62_000_000)


def test_a_lost_call_is_not_put_in_flight_again(ledger_url: str, sink: LedgerSink) -> None:
    """Its in-flight line replayed after the conversion adds no row, so it is lost once."""
    sink.write([in_flight("r1")])
    sink.convert_lost(LEASE_END + timedelta(seconds=1))
    sink.write([in_flight("r1")])
    assert in_flight_ids(ledger_url) == []
    assert sink.convert_lost(LEASE_END + timedelta(hours=1)) == (0, 0)


def _race(ledger_url: str, *jobs: Callable[[LedgerSink], object]) -> list[object]:
    """Run each job on a sink of its own (its own connection), all released at once."""
    sinks = [open_sink(ledger_url) for _ in jobs]
    start = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)

    def run(n: int) -> None:
        start.wait()
        results[n] = jobs[n](sinks[n])

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for s in sinks:
        s.close()
    assert not any(thread.is_alive() for thread in threads)
    return results


def _writer(events: list[CostEvent]) -> Callable[[LedgerSink], object]:
    return lambda s: s.write(events)


def test_drains_racing_convert_each_call_once(ledger_url: str, sink: LedgerSink) -> None:
    """Three drains converting the same 300 expired calls at once record 300 lost events, each
    once, and the rollups count 300 calls: 300 x $0.000062 = $0.0186."""
    sink.write([in_flight(f"r{n}") for n in range(300)])
    cutoff = LEASE_END + timedelta(seconds=1)
    results = _race(ledger_url, *[lambda s: s.convert_lost(cutoff)] * 3)
    converted = [r for r in results if isinstance(r, tuple)]
    assert sum(count for count, _ in converted) == 300
    assert sum(pico for _, pico in converted) == 18_600_000_000
    assert set(totals(ledger_url).values()) == {(300, 18_600_000_000)}
    assert in_flight_ids(ledger_url) == []


def test_a_late_event_replaces_the_lost_one(
    ledger_url: str, sink: LedgerSink, twin_url: str
) -> None:
    """An event that arrives after its call was recorded lost takes its place: the rollups are
    exactly those of a ledger that never saw the lost event — also where the lost event was
    the only call of a rollup row (bob's, at 12:00 on March 1st; his event came at 00:05 on
    March 2nd)."""
    others = [final("a1"), final("a2", ts=T0 + timedelta(hours=12, minutes=5))]
    alice = final("r1", ts=T0 + timedelta(minutes=3), latency_ms=180_000.0)
    bob = final("r2", user_id="bob", ts=T0 + timedelta(hours=12, minutes=5), cost_pico=9)
    sink.write([*others, in_flight("r1"), in_flight("r2", user_id="bob")])
    assert sink.convert_lost(LEASE_END + timedelta(seconds=1)) == (2, 124_000_000)
    assert sink.write([alice, bob]) == 2
    assert statuses(ledger_url) == {
        "a1": ("ok", 7_200_000), "a2": ("ok", 7_200_000), "r1": ("ok", 7_200_000),
        "r2": ("ok", 9),
    }  # fmt: skip
    reference = open_sink(twin_url)
    try:
        reference.write([*others, alice, bob])
    finally:
        reference.close()
    assert rollups(ledger_url) == rollups(twin_url)


def test_a_late_event_replayed_counts_once(ledger_url: str, sink: LedgerSink) -> None:
    """The event that replaced a lost one, written again (a replay), changes nothing."""
    sink.write([in_flight("r1")])
    sink.convert_lost(LEASE_END + timedelta(seconds=1))
    sink.write([final("r1")])
    before = rollups(ledger_url)
    assert sink.write([final("r1")]) == 0
    assert rollups(ledger_url) == before
    assert set(totals(ledger_url).values()) == {(1, 7_200_000)}


def test_events_racing_a_conversion_of_their_calls_are_counted_once(
    ledger_url: str, sink: LedgerSink, twin_url: str
) -> None:
    """A drain converts 200 expired calls while another writes their events: every call ends
    with its own event, and the rollups are those of the events alone (each call lost and
    replaced, or never lost). Neither waits on the other for good (no deadlock)."""
    flights = [in_flight(f"r{n}", user_id=f"u{n % 7}") for n in range(200)]
    events = [final(f"r{n}", user_id=f"u{n % 7}", cost_pico=1000 + n) for n in range(200)]
    sink.write(flights)
    cutoff = LEASE_END + timedelta(seconds=1)
    for n in range(0, 200, 50):  # four rounds: each job takes a quarter of the calls
        _race(ledger_url, lambda s: s.convert_lost(cutoff), _writer(events[n : n + 50]))
    assert statuses(ledger_url) == {e.request_id: ("ok", e.cost_pico) for e in events}
    reference = open_sink(twin_url)
    try:
        reference.write(events)
    finally:
        reference.close()
    assert rollups(ledger_url) == rollups(twin_url)


def test_a_record_with_a_time_out_of_range_is_refused(sink: LedgerSink) -> None:
    """An in-flight record the database cannot store is refused for good, like an event."""
    with pytest.raises(EventsRefused):
        sink.write([InFlight("r1", T0_US, 2**62, "gpt-4o-mini")])


# -- through the Guard and the Ledger ------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
HI = [{"role": "user", "content": "hi"}]
# gpt-4o-mini, "hi" (8 tokens: 3 per message + 1 role + 1 text + 3 to prime the reply) and
# max_tokens 100: 8 x $0.15/M + 100 x $0.60/M = $0.0000012 + $0.00006 = $0.0000612, reserved
# rounded up to the micro-dollar: $0.000062 = 62,000,000 picodollars.
RESERVED_PICO = 62_000_000


def in_flight_rows(url: str) -> list[tuple[Any, ...]]:
    return fetch(
        url,
        "SELECT request_id, ts, lease_until, user_id, feature, model, reserved_pico, "
        "input_tokens, max_tokens FROM costcap_inflight",
    )


def _instant(value: Any) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def test_the_guard_keeps_a_call_in_flight_until_its_event(ledger_url: str, tmp_path: Path) -> None:
    """An admitted call is in flight — its reservation, tokens and lease end (admission +
    lease_s) — until it is settled; then only its event remains."""
    clock = [T0]
    with Ledger(ledger_url, spool_dir=tmp_path / "spool", flush_interval_s=0.05,
                clock=lambda: clock[0]) as ledger:  # fmt: skip
        guard = Guard("memory://", budgets=[Budget(scope="global", period="day", limit_usd=10)],
                      observers=[ledger], lease_s=300, clock=lambda: clock[0])  # fmt: skip
        ticket = guard.admit(model="gpt-4o-mini", messages=HI, max_tokens=100,
                             user_id="alice", feature="chat")  # fmt: skip
        assert ledger.flush()
        ((rid, ts, until, *rest),) = in_flight_rows(ledger_url)
        assert (rid, _instant(ts), _instant(until)) == (ticket.id, T0, T0 + timedelta(minutes=5))
        assert rest == ["alice", "chat", "gpt-4o-mini", RESERVED_PICO, 8, 100]
        guard.settle(ticket, {"input_tokens": 8, "output_tokens": 10})
        assert ledger.flush()
        assert in_flight_rows(ledger_url) == []
        assert statuses(ledger_url) == {ticket.id: ("ok", 7_200_000)}  # as final() says


def test_a_call_admitted_at_a_tier_is_in_flight_and_lost_at_it(
    ledger_url: str, tmp_path: Path
) -> None:
    """The Guard puts a call admitted at the flex tier in flight at flex; the process gone, its
    lost event is at flex too."""
    with Ledger(ledger_url, spool_dir=tmp_path / "spool", flush_interval_s=0.05,
                clock=lambda: T0) as ledger:  # fmt: skip
        guard = Guard("memory://", observers=[ledger], lease_s=300, clock=lambda: T0)
        ticket = guard.admit(model="gpt-5-mini", messages=HI, max_tokens=100, service_tier="flex")
        assert ledger.flush()
    assert fetch(ledger_url, "SELECT request_id, service_tier FROM costcap_inflight") == [
        (ticket.id, "flex")
    ]
    sink = open_sink(ledger_url)
    try:
        assert sink.convert_lost(T0 + timedelta(hours=1))[0] == 1
    finally:
        sink.close()
    assert fetch(ledger_url, "SELECT status, service_tier FROM costcap_events") == [
        ("lost", "flex")
    ]


def test_a_renewed_lease_moves_the_call_in_flight(ledger_url: str, tmp_path: Path) -> None:
    """Renewing a long stream's lease 4 minutes in moves its lease end to 4 + 5 minutes."""
    clock = [T0]
    with Ledger(ledger_url, spool_dir=tmp_path / "spool", flush_interval_s=0.05,
                clock=lambda: clock[0]) as ledger:  # fmt: skip
        guard = Guard("memory://", budgets=[Budget(scope="global", period="day", limit_usd=10)],
                      observers=[ledger], lease_s=300, clock=lambda: clock[0])  # fmt: skip
        ticket = guard.admit(model="gpt-4o-mini", messages=HI, max_tokens=100)
        clock[0] = T0 + timedelta(minutes=4)
        assert guard.extend(ticket)
        assert ledger.flush()
        ((_, ts, until, *_),) = in_flight_rows(ledger_url)
        assert (_instant(ts), _instant(until)) == (T0, T0 + timedelta(minutes=9))


def test_a_ledger_records_expired_calls_as_lost_as_it_drains(
    ledger_url: str, tmp_path: Path
) -> None:
    """The drain thread converts calls whose lease ended more than lease_grace_s ago (its
    clock reads 12:11:01: r1's lease ended at 12:10, 61 s ago, past the 60 s grace; r2's,
    renewed to 12:20, has not)."""
    late = LEASE_END + timedelta(seconds=61)
    spool = tmp_path / "spool"
    with Ledger(ledger_url, spool_dir=spool, flush_interval_s=0.02, clock=lambda: late) as ledger:
        ledger.on_in_flight(in_flight("r1"))
        ledger.on_in_flight(in_flight("r2", lease_until_us=T0_US + 2 * LEASE_US))
        wait_for(lambda: statuses(ledger_url) == {"r1": ("lost", 62_000_000)})
        assert in_flight_ids(ledger_url) == ["r2"]


def test_a_grace_not_yet_over_keeps_the_call_in_flight(ledger_url: str, tmp_path: Path) -> None:
    """With lease_grace_s=120, a lease that ended 61 s ago is not lost yet; the drain has
    caught up and tried (its events are in)."""
    late = LEASE_END + timedelta(seconds=61)
    spool = tmp_path / "spool"
    with Ledger(ledger_url, spool_dir=spool, flush_interval_s=0.02, clock=lambda: late,
                lease_grace_s=120) as ledger:  # fmt: skip
        ledger.on_in_flight(in_flight("r1"))
        ledger.record(final("r0"))
        assert ledger.flush()
        wait_for(lambda: in_flight_ids(ledger_url) == ["r1"])
    assert statuses(ledger_url) == {"r0": ("ok", 7_200_000)}


@pytest.mark.parametrize("grace", [-1, float("inf"), "60", True])
def test_a_bad_grace_is_a_config_error(grace: object, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="lease_grace_s"):
        Ledger(f"sqlite:///{tmp_path / 'x.db'}", lease_grace_s=grace)  # type: ignore[arg-type]


@pytest.mark.slow
def test_a_call_in_flight_in_a_killed_process_is_recorded_lost(
    ledger_url: str, tmp_path: Path
) -> None:
    """A process admits a wrapped call to the fake provider and is killed with ``kill -9``
    before the answer: a ledger on its spool, once the lease (600 s) and the grace (60 s) are
    over by its clock, records the call lost at its reservation, for its user and feature."""
    spool = tmp_path / "spool"
    with run_fake_provider() as fp:
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.ledger._child", "call", ledger_url, str(spool),
             fp.openai_base_url],
            cwd=REPO,
        )  # fmt: skip
        try:
            wait_for(lambda: b'{"inflight":' in _spooled(spool), timeout=60)
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(10)
    assert child.returncode == -signal.SIGKILL
    late = datetime.now(UTC) + timedelta(seconds=600 + 61)
    with Ledger(ledger_url, spool_dir=spool, flush_interval_s=0.02, clock=lambda: late):
        wait_for(lambda: [s for s, _ in statuses(ledger_url).values()] == ["lost"])
    ((status, cost, tokens_in, tokens_out, user, feature),) = fetch(
        ledger_url,
        "SELECT status, cost_pico, input_tokens, output_tokens, user_id, feature "
        "FROM costcap_events",
    )
    assert (status, cost, tokens_in, tokens_out) == ("lost", RESERVED_PICO, 8, 100)
    assert (user, feature) == ("alice", "chat")
    assert in_flight_ids(ledger_url) == []


def _spooled(spool: Path) -> bytes:
    return b"".join(seg.read_bytes() for seg in spool.glob("*.seg"))
