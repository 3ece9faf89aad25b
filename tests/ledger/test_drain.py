"""The drain: batches to the sink, checkpoints, replays, read-back, rotation, refused events."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from costcap.errors import StoreUnavailable
from costcap.ledger import CostEvent, Ledger
from costcap.ledger import _drain as drain_module
from costcap.ledger import _sqlite_sink as sqlite_sink
from costcap.ledger import _writer as writer
from costcap.ledger._drain import Drain
from costcap.ledger._event import EventsRefused
from costcap.ledger._spool import Segment, adopt_orphans, create_segment
from tests.ledger.conftest import CHECK_COSTS, Switch, event, execute, totals
from tests.waiting import wait_for


def segments(spool: Path) -> list[Path]:
    return sorted(spool.glob("*.seg"))


def test_replaying_a_drained_segment_adds_nothing(ledger_url: str, tmp_path: Path) -> None:
    """A segment replayed from its start after it was drained (a crash before its checkpoint)
    inserts no row and leaves every rollup as it was."""
    spool = tmp_path / "spool"
    with Ledger(ledger_url, spool_dir=spool) as ledger:
        for n in range(50):
            ledger.record(event(n))
        assert ledger.flush()
        (live,) = segments(spool)
        copy = tmp_path / "copy"
        shutil.copy(live, copy)
    before = totals(ledger_url)
    assert before["costcap_events"] == (50, sum(1000 + n for n in range(50)))
    shutil.copy(copy, spool / "999-dead-000000.seg")  # no checkpoint: replayed from byte 0
    with Ledger(ledger_url, spool_dir=spool) as again:
        assert again.flush()
    assert totals(ledger_url) == before
    assert segments(spool) == []


def test_events_beyond_the_memory_copy_are_read_back_from_the_spool(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch, outage: Callable[[str], Switch]
) -> None:
    """When the backlog outgrows the in-memory copy, the drain reads the spool file back:
    every event still arrives exactly once."""
    monkeypatch.setattr(writer, "MEMORY_EVENTS", 0)  # keeps 10 × batch_size = 30 in memory
    switch = outage("open")
    with Ledger(ledger_url, batch_size=3) as ledger:
        for n in range(200):
            ledger.record(event(n))
        switch.down = False
        assert ledger.flush()
    assert totals(ledger_url)["costcap_events"] == (200, sum(1000 + n for n in range(200)))


def test_rotated_segments_are_deleted_once_drained(ledger_url: str, tmp_path: Path) -> None:
    """With small segments the spool rotates; drained rotated segments are deleted, so only
    the live one remains (and nothing after close)."""
    spool = tmp_path / "spool"
    with Ledger(ledger_url, spool_dir=spool, segment_bytes=4096) as ledger:
        for n in range(100):  # ~300 bytes each: a dozen segments
            ledger.record(event(n))
        assert ledger.flush()
        wait_for(lambda: len(segments(spool)) == 1)  # deleted right after flush wakes
    assert segments(spool) == []
    assert totals(ledger_url)["costcap_events"][0] == 100


def test_an_event_the_sink_refuses_is_moved_aside(
    ledger_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An event the database cannot store (cost beyond 64 bits) goes to the .bad file with an
    error; the rest of its batch is written."""
    spool = tmp_path / "spool"
    with Ledger(ledger_url, spool_dir=spool) as ledger:
        for n in range(5):
            ledger.record(event(n, cost_pico=2**70 if n == 2 else 1000))
        assert ledger.flush()
        (bad,) = spool.glob("*.bad")
        assert [json.loads(line)["request_id"] for line in bad.read_text().splitlines()] == [
            "req-2"
        ]
    assert totals(ledger_url)["costcap_events"] == (4, 4000)
    assert any("'req-2' refused by the sink" in r.getMessage() for r in caplog.records)


GOOD = 100
HOSTILE_LINE = b"[" * 100_000  # json.loads raises RecursionError on it


def spool_lines(spool: Path, lines: list[bytes]) -> None:
    """A segment left by a dead writer, holding ``lines``."""
    spool.mkdir(exist_ok=True)
    (spool / "1-dead-000000.seg").write_bytes(b"".join(line + b"\n" for line in lines))


def good_with(middle: bytes) -> list[bytes]:
    """GOOD event lines with ``middle`` among them."""
    good = [event(n).to_json().encode() for n in range(GOOD)]
    return [*good[: GOOD // 2], middle, *good[GOOD // 2 :]]


@pytest.fixture
def make_drain(tmp_path: Path) -> Iterator[Callable[[str], Drain]]:
    """A Drain as the Ledger's drain thread runs it, driven step by step by the test: an
    empty own segment, and the dead writers' segments of ``tmp_path/spool`` adopted."""
    made: list[tuple[Drain, Segment]] = []

    def make(url: str, batch_size: int = 5000) -> Drain:
        spool = tmp_path / "spool"
        spool.mkdir(exist_ok=True)
        own = create_segment(spool, "2-live", 0, durable=False)
        adopted = adopt_orphans(spool, {own.path.name})
        drain = Drain(url, batch_size=batch_size, durable=False, pending=deque(),
                      own=deque([own]), adopted=adopted)  # fmt: skip
        made.append((drain, own))
        return drain

    yield make
    for drain, own in made:
        drain.drop_sink()
        own.close()


def run(drain: Drain, most: int = 3) -> int:
    """Step ``drain`` until it has nothing more to do at once; the steps it took. Fails if it
    needs more than ``most`` (a drain retrying forever never gets there)."""
    for steps in range(1, most + 1):
        if not drain.step():
            return steps
    pytest.fail(f"the drain still had work after {most} steps")


def test_a_hostile_spool_line_does_not_stall_the_drain(
    ledger_url: str, tmp_path: Path, make_drain: Callable[[str], Drain]
) -> None:
    """A spool line nested too deeply to parse, among good events: the good events are
    written, the line goes to the .bad file, and the drain is done in a bounded number of
    steps, its segment retired."""
    spool = tmp_path / "spool"
    spool_lines(spool, good_with(HOSTILE_LINE))
    drain = make_drain(ledger_url)
    run(drain)
    assert totals(ledger_url)["costcap_events"] == (GOOD, sum(1000 + n for n in range(GOOD)))
    assert (spool / "1-dead-000000.seg.bad").read_bytes() == HOSTILE_LINE + b"\n"
    assert (drain.unreadable, drain.refused) == (1, 0)
    assert segments(spool) == [spool / "2-live-000000.seg"]  # the dead one retired


def test_an_event_the_database_refuses_does_not_stall_the_drain(
    ledger_url: str, tmp_path: Path, make_drain: Callable[[str], Drain]
) -> None:
    """An event the database refuses for good (a CHECK violation) among good events: the good
    events are written, the refused one goes to the .bad file, and the drain is done in a
    bounded number of steps, its segment retired."""
    execute(ledger_url, CHECK_COSTS[urlsplit(ledger_url).scheme])
    refused = event(GOOD, cost_pico=-1).to_json().encode()
    spool = tmp_path / "spool"
    spool_lines(spool, good_with(refused))
    drain = make_drain(ledger_url)
    run(drain)
    assert totals(ledger_url)["costcap_events"] == (GOOD, sum(1000 + n for n in range(GOOD)))
    assert (spool / "1-dead-000000.seg.bad").read_bytes() == refused + b"\n"
    assert drain.refused == 1
    assert segments(spool) == [spool / "2-live-000000.seg"]


def test_a_recorded_event_the_database_refuses_is_moved_aside(
    ledger_url: str, tmp_path: Path, make_drain: Callable[[str], Drain]
) -> None:
    """An event recorded with a NULL in a required column, drained from the in-memory copy:
    the database refuses it, it goes to the .bad file, the events around it are written and
    the drain is done in a bounded number of steps."""
    drain = make_drain(ledger_url)
    (own,) = drain._own
    events = [event(n) for n in range(GOOD)]
    events.insert(GOOD // 2, event(GOOD, model=None))
    for e in events:
        start = own.end
        own.append(e.to_json().encode() + b"\n", 1 << 30)
        drain._pending.append((e, own, start, own.end))
    run(drain)
    assert totals(ledger_url)["costcap_events"] == (GOOD, sum(1000 + n for n in range(GOOD)))
    (line,) = own.bad.read_text().splitlines()
    assert (json.loads(line)["request_id"], drain.refused) == (f"req-{GOOD}", 1)
    assert own.drained == own.end


class Refusing:
    """A sink that refuses for good every batch holding an event of ``poison``, counts its
    writes, and fails once (transiently) at write number ``outage_at``."""

    def __init__(self, poison: set[str], outage_at: int = 0) -> None:
        self.url, self.dialect = "test://", "sqlite"
        self.poison, self.outage_at = poison, outage_at
        self.writes = 0
        self.stored: list[str] = []

    def write(self, events: Sequence[CostEvent]) -> int:
        self.writes += 1
        if self.writes == self.outage_at:
            raise StoreUnavailable("ledger database went away (test)")
        if any(e.request_id in self.poison for e in events):
            raise EventsRefused("CHECK constraint failed (test)")
        new = [e.request_id for e in events if e.request_id not in self.stored]
        self.stored += new
        return len(new)

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


def test_a_refused_event_is_found_by_bisection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_drain: Callable[[str], Drain]
) -> None:
    """One event refused in a batch of 1,024 costs the batch write plus two writes per halving
    (≤ 1 + 2 × 10), not one write per event."""
    sink = Refusing({"req-700"})
    monkeypatch.setattr(drain_module, "open_sink", lambda url: sink)
    spool_lines(tmp_path / "spool", [event(n).to_json().encode() for n in range(1024)])
    run(make_drain("sqlite:///unused.db"))
    assert sorted(sink.stored) == sorted(f"req-{n}" for n in range(1024) if n != 700)
    assert sink.writes <= 21


def test_an_outage_while_isolating_moves_nothing_aside_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_drain: Callable[[str], Drain]
) -> None:
    """The sink goes down after a refused event was moved aside: the step fails, the batch is
    retried without that event, which is in the .bad file once; every other event is stored."""
    sink = Refusing({"req-0"}, outage_at=6)  # batch, [0:4], [0:2], [0] (aside), [1], then [2:4]
    monkeypatch.setattr(drain_module, "open_sink", lambda url: sink)
    spool = tmp_path / "spool"
    spool_lines(spool, [event(n).to_json().encode() for n in range(8)])
    drain = make_drain("sqlite:///unused.db")
    with pytest.raises(StoreUnavailable):
        drain.step()
    run(drain)
    assert sorted(sink.stored) == [f"req-{n}" for n in range(1, 8)]
    (line,) = (spool / "1-dead-000000.seg.bad").read_text().splitlines()
    assert json.loads(line)["request_id"] == "req-0"


def test_a_locked_sqlite_ledger_is_retried_not_taken_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_drain: Callable[[str], Drain]
) -> None:
    """SQLite busy is transient: the step fails, nothing goes to the .bad file, and once the
    lock is released the batch is written whole."""
    monkeypatch.setattr(sqlite_sink, "PRAGMAS", (*sqlite_sink.PRAGMAS, "PRAGMA busy_timeout=0"))
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    spool = tmp_path / "spool"
    spool_lines(spool, [event(n).to_json().encode() for n in range(GOOD)])
    drain = make_drain(url)
    other = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable, match="locked"):
            drain.step()
        other.execute("ROLLBACK")
    finally:
        other.close()
    run(drain)
    assert totals(url)["costcap_events"][0] == GOOD
    assert list(spool.glob("*.bad")) == []
