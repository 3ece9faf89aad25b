"""The drain: batches to the sink, checkpoints, replays, read-back, rotation, refused events."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from costcap.ledger import CostEvent, Ledger
from costcap.ledger import _writer as writer
from tests.ledger.conftest import Switch, event, totals


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
        time.sleep(0.05)  # the drain deletes the last rotated segment right after flush wakes
        ledger.flush()
        assert len(segments(spool)) == 1
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
        assert [CostEvent.from_json(line).request_id for line in bad.read_text().splitlines()] == [
            "req-2"
        ]
    assert totals(ledger_url)["costcap_events"] == (4, 4000)
    assert any("req-2 refused by the sink" in r.getMessage() for r in caplog.records)
