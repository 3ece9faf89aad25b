"""Spool segments: locks, checkpoints, torn and bad lines, adoption, ownership."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from pathlib import Path

import pytest

from costcap.errors import ConfigError
from costcap.ledger import CostEvent
from costcap.ledger._spool import (
    MAPPED,
    STALE_TMP_S,
    Batch,
    Segment,
    adopt_orphans,
    check_owner,
    create_segment,
    read_batch,
    read_checkpoint,
    redacted_url,
    write_checkpoint,
)
from tests.ledger.conftest import NOT_EVENTS, event


def lines(*ids: int) -> bytes:
    return b"".join(event(n).to_json().encode() + b"\n" for n in ids)


def ids(batch: Batch) -> list[str]:
    """The request ids of the events a batch read back (every line here is an event)."""
    assert all(isinstance(e, CostEvent) for e in batch.events)
    return [e.request_id for e in batch.events if isinstance(e, CostEvent)]


def dead_segment(spool: Path, data: bytes, name: str = "1-dead-000000.seg") -> Segment:
    """A segment left by a dead writer, adopted."""
    (spool / name).write_bytes(data)
    (seg,) = adopt_orphans(spool, set())
    return seg


def test_a_new_segment_is_locked_by_its_writer(tmp_path: Path) -> None:
    """A created segment is exclusively flocked: another descriptor cannot take its lock."""
    seg = create_segment(tmp_path, "1-abc", 0, durable=True)
    fd = os.open(seg.path, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
        seg.close()
    assert seg.path.name == "1-abc-000000.seg"


def test_checkpoint_round_trips(tmp_path: Path) -> None:
    """A checkpoint written atomically reads back; no temporary file is left."""
    seg = create_segment(tmp_path, "1-abc", 0, durable=False)
    write_checkpoint(seg, 1234, durable=True)
    assert read_checkpoint(seg.path) == 1234
    assert sorted(p.name for p in tmp_path.iterdir()) == [seg.path.name, seg.path.name + ".ckpt"]
    seg.close()


def test_an_unreadable_checkpoint_means_replay_from_the_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A garbled checkpoint reads as 0 (replay is safe, skipping is not), with a warning."""
    seg = tmp_path / "x.seg"
    (tmp_path / "x.seg.ckpt").write_text("12\x0034")
    assert read_checkpoint(seg) == 0
    assert "unreadable" in caplog.text


def test_a_live_segment_keeps_its_incomplete_last_line(tmp_path: Path) -> None:
    """In a segment still being written, bytes after the last newline are not read yet."""
    seg = create_segment(tmp_path, "1-abc", 0, durable=False)
    data = lines(1, 2) + event(3).to_json().encode()[:40]
    os.write(seg.fd, data)
    batch = read_batch(seg, len(data), 100, durable=False)
    assert ids(batch) == ["req-1", "req-2"]
    assert batch.end == len(lines(1, 2))
    seg.close()


def test_a_torn_last_line_of_a_dead_writer_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The cut-off last line of a dead writer (its record never returned) is skipped with a
    warning; the lines before it are read and the whole segment counts as drained."""
    data = lines(1, 2) + event(3).to_json().encode()[:40]
    seg = dead_segment(tmp_path, data)
    batch = read_batch(seg, seg.end, 100, durable=False)
    assert ids(batch) == ["req-1", "req-2"]
    assert batch.end == len(data)
    assert "torn last line" in caplog.text
    assert not seg.bad.exists()
    seg.close()


def test_a_complete_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    """A last line cut just before its newline is a whole event: it is kept."""
    data = lines(1) + event(2).to_json().encode()
    seg = dead_segment(tmp_path, data)
    batch = read_batch(seg, seg.end, 100, durable=False)
    assert ids(batch) == ["req-1", "req-2"]
    seg.close()


def test_an_unparseable_line_is_moved_aside_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A complete line that is not an event goes to the .bad file with an error log; the
    events around it are read."""
    data = lines(1) + b'{"request_id": "broken"\n' + lines(2)
    seg = dead_segment(tmp_path, data)
    with caplog.at_level(logging.ERROR, logger="costcap.ledger"):
        batch = read_batch(seg, seg.end, 100, durable=True)
    assert ids(batch) == ["req-1", "req-2"]
    assert seg.bad.read_bytes() == b'{"request_id": "broken"\n'
    assert "unparseable" in caplog.text
    seg.close()


HOSTILE_LINES = {
    **{kind: line.encode() for kind, line in NOT_EVENTS.items()},
    "not UTF-8": b'{"request_id": "\xff\xfe", "status": "ok"}',
    "a JSON string": b'"' + b"x" * 5000 + b'"',
}


@pytest.mark.parametrize("line", HOSTILE_LINES.values(), ids=HOSTILE_LINES.keys())
def test_a_line_that_is_not_an_event_is_moved_aside_with_its_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, line: bytes
) -> None:
    """Whatever a complete line holds, if it is not an event it goes to the .bad file, with an
    error log saying where it was and why; the events around it are read."""
    seg = dead_segment(tmp_path, lines(1) + line + b"\n" + lines(2))
    with caplog.at_level(logging.ERROR, logger="costcap.ledger"):
        batch = read_batch(seg, seg.end, 100, durable=False)
    assert ids(batch) == ["req-1", "req-2"]
    assert batch.end == seg.end
    assert seg.bad.read_bytes() == line + b"\n"
    (record,) = caplog.records
    assert f"line at byte {len(lines(1))} unparseable (" in record.getMessage()
    seg.close()


def test_a_bad_line_is_moved_aside_once_when_its_batch_is_read_again(tmp_path: Path) -> None:
    """Reading the same range again (the sink refused the batch) does not duplicate the
    lines already moved to the .bad file."""
    seg = dead_segment(tmp_path, lines(1) + b"garbage\n" + lines(2))
    read_batch(seg, seg.end, 100, durable=False)
    read_batch(seg, seg.end, 100, durable=False)
    assert seg.bad.read_bytes() == b"garbage\n"
    seg.close()


def test_nul_padding_before_a_line_is_ignored(tmp_path: Path) -> None:
    """Zero bytes (a file extended but not written before a power loss) do not spoil the
    event after them."""
    seg = dead_segment(tmp_path, b"\0\0\0\0" + lines(1) + b"\0\0\n")
    batch = read_batch(seg, seg.end, 100, durable=False)
    assert ids(batch) == ["req-1"]
    assert not seg.bad.exists()
    seg.close()


def test_a_batch_stops_at_max_events(tmp_path: Path) -> None:
    """read_batch returns at most max_events, and the offset right after the last one."""
    seg = dead_segment(tmp_path, lines(1, 2, 3, 4, 5))
    batch = read_batch(seg, seg.end, 2, durable=False)
    assert ids(batch) == ["req-1", "req-2"]
    assert batch.end == len(lines(1, 2))
    seg.close()


def test_adoption_takes_dead_segments_from_their_checkpoint(tmp_path: Path) -> None:
    """A segment nobody holds is adopted at its checkpoint; a held one is left alone."""
    held = create_segment(tmp_path, "2-live", 0, durable=False)
    (tmp_path / "1-dead-000000.seg").write_bytes(lines(1, 2))
    (tmp_path / "1-dead-000000.seg.ckpt").write_text(f"{len(lines(1))}\n")
    (seg,) = adopt_orphans(tmp_path, set())
    assert (seg.path.name, seg.drained, seg.end, seg.sealed) == (
        "1-dead-000000.seg",
        len(lines(1)),
        len(lines(1, 2)),
        True,
    )
    assert ids(read_batch(seg, seg.end, 10, durable=False)) == ["req-2"]
    assert adopt_orphans(tmp_path, set()) == []  # now held by `seg`
    seg.close()
    held.close()


def test_adoption_tidies_orphan_checkpoints_and_stale_temporaries(tmp_path: Path) -> None:
    """A checkpoint without its segment and an old temporary file are removed; a fresh
    temporary file (a segment being created) is kept."""
    (tmp_path / "1-gone-000000.seg.ckpt").write_text("10\n")
    stale = tmp_path / "1-x-000001.seg.tmp"
    stale.write_bytes(b"")
    old = time.time() - STALE_TMP_S - 10
    os.utime(stale, (old, old))
    (tmp_path / "1-y-000001.seg.tmp").write_bytes(b"")
    assert adopt_orphans(tmp_path, set()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1-y-000001.seg.tmp"]


def test_a_spool_with_segments_belongs_to_one_ledger_url(tmp_path: Path) -> None:
    """While it holds segments, a spool belongs to its ledger URL: the same database under
    another spelling is accepted, another database is refused."""
    check_owner(tmp_path, "sqlite:///" + str(tmp_path / "a.db"))
    (tmp_path / "1-dead-000000.seg").write_bytes(lines(1))
    check_owner(tmp_path, "sqlite:////" + str(tmp_path / "a.db").lstrip("/"))
    with pytest.raises(ConfigError, match="holds events for"):
        check_owner(tmp_path, "sqlite:///" + str(tmp_path / "b.db"))


def test_the_spool_marker_holds_no_password(tmp_path: Path) -> None:
    """The URL recorded in spool.json has its password redacted."""
    url = "postgresql://app:s3cret@db.example:5433/costs?schema=ledger"
    check_owner(tmp_path, url)
    recorded = json.loads((tmp_path / "spool.json").read_text())["url"]
    assert recorded == redacted_url(url)
    assert recorded == "postgresql://app:***@db.example:5433/costs?schema=ledger"
    check_owner(tmp_path, url.replace("s3cret", "rotated"))  # a new password, same database


@pytest.mark.skipif(not MAPPED, reason="segments are memory-mapped on Linux only")
def test_appends_copy_into_space_reserved_ahead(tmp_path: Path) -> None:
    """A live segment's file is reserved ahead (zero bytes after the last line); sealing cuts
    it at its last line."""
    seg = create_segment(tmp_path, "1-abc", 0, durable=False)
    data = lines(1, 2)
    assert seg.append(data, limit=1 << 20)
    assert seg.path.stat().st_size > len(data)
    assert seg.path.read_bytes().rstrip(b"\0") == data
    seg.seal()
    assert seg.path.read_bytes() == data
    seg.close()


def test_an_append_past_the_limit_asks_for_the_next_segment(tmp_path: Path) -> None:
    """A line that would take a non-empty segment past its limit is refused (the writer
    rotates); a first line longer than the limit still goes in."""
    seg = create_segment(tmp_path, "1-abc", 0, durable=False)
    big = lines(1, 2, 3)
    assert seg.append(big, limit=10)
    assert not seg.append(lines(4), limit=10)
    assert seg.end == len(big)
    seg.close()


def test_a_dead_writer_reserved_tail_is_not_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A writer killed before sealing leaves zero bytes after its last line: adoption ends the
    segment at its last line, with no torn-line warning."""
    name = "1-dead-000000.seg"
    seg = dead_segment(tmp_path, lines(1, 2) + bytes(1 << 16), name)
    assert seg.end == len(lines(1, 2))
    batch = read_batch(seg, seg.end, 100, durable=False)
    assert ids(batch) == ["req-1", "req-2"]
    assert "torn" not in caplog.text
    seg.close()


def test_a_torn_line_before_the_reserved_tail_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A copy cut off by a crash (part of a line, then zeros) is the torn last line."""
    data = lines(1) + event(2).to_json().encode()[:40]
    seg = dead_segment(tmp_path, data + bytes(5000))
    batch = read_batch(seg, seg.end, 100, durable=False)
    assert ids(batch) == ["req-1"]
    assert "torn last line" in caplog.text
    seg.close()
