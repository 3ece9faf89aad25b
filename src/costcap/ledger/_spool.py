"""The spool: append-only segment files of JSON lines, their checkpoints, and adoption.

A spool directory holds, per segment ``<pid>-<random>-<seq>.seg``:

``X.seg``       one :meth:`CostEvent.to_json` line per event (or :meth:`InFlight.to_json` per
                call admitted or renewed, :mod:`costcap.ledger._inflight`, or
                :meth:`FiredAlert.to_json` per alert fired, :mod:`costcap.ledger._fired`),
                copied by its writer into a shared memory map of the file (space reserved
                ahead with ``posix_fallocate``, so a full disk is an ``OSError`` when
                reserving, never a ``SIGBUS``); the reserved tail reads as zero bytes until it
                is cut when the segment is sealed (Linux; elsewhere each line is written with
                ``pwrite``).
                Whoever is responsible for a segment (its writer, or a process that adopted
                it) holds an exclusive ``fcntl.flock`` on it.
``X.seg.ckpt``  the byte offset up to which the segment is in the sink, replaced atomically
                (write a temporary file, fsync, ``os.replace``). Missing or unreadable: 0, the
                segment is replayed from its start (the sink ignores events it already has).
``X.seg.bad``   lines moved aside, each logged as an error (never silently dropped): complete
                lines that are not events (:meth:`CostEvent.from_json`), and events the sink
                refuses for their data (:mod:`costcap.ledger._drain`); one JSON line each.

Why a memory map and not ``os.write``: a ``write`` system call gives up the GIL, and a busy
drain thread then takes it for up to the interpreter's switch interval before the caller gets
it back — measured on the call path at ~40 µs per ``record`` against ~16 µs with the copy
(``benchmarks/results/wrap.md``). The copy lands in the same page cache a ``write`` would, so
a crash of the process loses nothing and ``fdatasync`` makes it durable the same way.

and ``spool.json``, naming the ledger URL the spool belongs to (a spool never feeds two ledgers).
A segment is created as ``X.seg.tmp``, locked, then renamed, so nobody can take the lock of a
segment between its creation and its writer's lock. A segment whose lock can be taken has no
live writer: its last line, if it has no newline, was torn by a write that never returned
(never acknowledged) and is skipped unless it happens to be complete.
"""

from __future__ import annotations

import contextlib
import json
import logging
import mmap
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from costcap.errors import ConfigError
from costcap.ledger._event import CostEvent
from costcap.ledger._fired import MARKER as ALERT_MARKER
from costcap.ledger._fired import FiredAlert
from costcap.ledger._inflight import MARKER, InFlight
from costcap.ledger._sinks import sqlite_path

__all__ = [
    "Batch",
    "Segment",
    "adopt_orphans",
    "check_owner",
    "create_segment",
    "move_aside",
    "read_batch",
    "redacted_url",
    "retire",
    "write_checkpoint",
]

log = logging.getLogger("costcap.ledger")

SEGMENT_SUFFIX = ".seg"
TMP_SUFFIX = ".tmp"
STALE_TMP_S = 60.0  # a temporary file older than this has no writer left
_READ_CHUNK = 1 << 20
MAP_CHUNK = 1 << 20  # a live segment's reserved space grows by this much at a time
# Memory-mapped appends need space reserved on disk (posix_fallocate) and a map that can grow
# (mremap): Linux has both; elsewhere (macOS) lines are written with pwrite, as before.
MAPPED = hasattr(os, "posix_fallocate") and sys.platform.startswith("linux")
_sync = getattr(os, "fdatasync", os.fsync)


@dataclass(eq=False)
class Segment:
    """One segment file this process is responsible for (it holds the flock on ``fd``).

    ``end``: bytes known complete (own segments: acknowledged by ``record``; adopted: the file
    size). ``drained``: bytes in the sink (the checkpoint). ``synced``: bytes fsynced.
    ``sealed``: nothing more will be appended (rotated, or adopted from a dead writer).
    """

    path: Path
    fd: int
    own: bool
    end: int = 0
    drained: int = 0
    synced: int = 0
    sealed: bool = False
    bad_upto: int = 0  # lines before this offset were already moved to the .bad file
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    map: mmap.mmap | None = None  # own live segments: the file's reserved space, mapped

    def append(self, data: bytes, limit: int) -> bool:
        """Copy ``data`` after the last line (the writer's lock held); False if the segment
        would grow past ``limit`` bytes (rotate). ``OSError``: no space could be reserved, and
        nothing was written."""
        start = self.end
        end = start + len(data)
        if start and end > limit:
            return False
        if not MAPPED:
            return self._write(data, start)
        mapped = self.map
        if mapped is None or end > len(mapped):
            grown = (len(mapped) if mapped is not None else 0) + MAP_CHUNK
            mapped = self._reserve(max(end, min(grown, limit)))
        mapped[start:end] = data
        self.end = end
        return True

    def _write(self, data: bytes, start: int) -> bool:
        try:
            written = os.pwrite(self.fd, data, start)
            while written < len(data):  # short writes happen only on a full disk or a signal
                written += os.pwrite(self.fd, data[written:], start + written)
        except OSError:
            with contextlib.suppress(OSError):  # no partial line left behind
                os.ftruncate(self.fd, start)
            raise
        self.end = start + len(data)
        return True

    def _reserve(self, size: int) -> mmap.mmap:
        os.posix_fallocate(self.fd, 0, size)  # blocks on disk now: no SIGBUS when copied into
        if self.map is None:
            self.map = mmap.mmap(self.fd, size, access=mmap.ACCESS_WRITE)
        else:
            self.map.resize(size)
        return self.map

    def seal(self) -> None:
        """Nothing more will be appended: unmap, and cut the reserved tail so the file ends at
        its last line."""
        with self.lock:
            self._unmap()
        self.sealed = True

    def _unmap(self) -> None:
        if self.map is not None:
            self.map.close()
            self.map = None
            if not self.closed:
                with contextlib.suppress(OSError):  # the zero tail is harmless to readers
                    os.ftruncate(self.fd, self.end)

    @property
    def checkpoint(self) -> Path:
        return self.path.with_name(self.path.name + ".ckpt")

    @property
    def bad(self) -> Path:
        return self.path.with_name(self.path.name + ".bad")

    def sync_to(self, end: int) -> None:
        """fsync until at least ``end`` bytes are on disk; one fsync serves every thread waiting
        (group commit). A closed segment was drained into the sink: nothing left to protect."""
        if self.synced >= end:
            return
        with self.lock:
            if self.synced >= end or self.closed:
                return
            target = self.end
            _sync(self.fd)
            self.synced = max(self.synced, target)

    def forget(self) -> None:
        """In a forked child: drop this process's view (map and descriptor) without cutting
        the file or releasing the parent's lock (the parent's descriptor keeps it)."""
        self.closed = True  # first: the unmap below must not cut the parent's file
        self._unmap()
        with contextlib.suppress(OSError):
            os.close(self.fd)

    def close(self) -> None:
        """Close the descriptor, which releases the lock."""
        with self.lock:
            if not self.closed:
                self._unmap()
                self.closed = True
                os.close(self.fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_segment(spool: Path, writer: str, seq: int, *, durable: bool) -> Segment:
    """A new, empty, locked segment of ``writer``; ``durable``: its directory entry is fsynced."""
    path = spool / f"{writer}-{seq:06d}{SEGMENT_SUFFIX}"
    tmp = path.with_name(path.name + TMP_SUFFIX)
    import fcntl  # POSIX only: imported here so that importing costcap works everywhere

    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)  # written through a map
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(tmp, path)
        if durable:
            fsync_dir(spool)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return Segment(path=path, fd=fd, own=True)


def read_checkpoint(segment: Path) -> int:
    ckpt = segment.with_name(segment.name + ".ckpt")
    try:
        return max(0, int(ckpt.read_text().strip() or 0))
    except FileNotFoundError:
        return 0
    except (OSError, ValueError) as exc:  # a torn checkpoint: replaying is safe, losing is not
        log.warning(
            "checkpoint %s unreadable (%s); replaying %s from its start", ckpt, exc, segment
        )
        return 0


def write_checkpoint(segment: Segment, offset: int, *, durable: bool) -> None:
    """Record durably that ``segment`` is in the sink up to ``offset`` (tmp, fsync, replace)."""
    ckpt = segment.checkpoint
    tmp = ckpt.with_name(ckpt.name + TMP_SUFFIX)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        os.write(fd, f"{offset}\n".encode())
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, ckpt)


def retire(segment: Segment) -> None:
    """Delete a segment that is entirely in the sink (the segment first: a checkpoint without
    its segment is an orphan anyone may remove), then release it."""
    with contextlib.suppress(FileNotFoundError):
        segment.path.unlink()
    with contextlib.suppress(FileNotFoundError):
        segment.checkpoint.unlink()
    segment.close()


def _try_lock(path: Path) -> int | None:
    """A descriptor holding the lock of ``path``, or None if a live process holds it."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(fd).st_ino != os.stat(path).st_ino:  # retired (and replaced) meanwhile
            raise FileNotFoundError(path)
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def adopt_orphans(spool: Path, known: set[str]) -> list[Segment]:
    """Lock and return the segments whose writer died; tidy stale temporary files and orphan
    checkpoints. ``known``: names of segments this process already holds."""
    adopted: list[Segment] = []
    now = time.time()
    for entry in sorted(os.scandir(spool), key=lambda e: e.name):
        name = entry.name
        path = spool / name
        if name.endswith(SEGMENT_SUFFIX) and name not in known:
            fd = _try_lock(path)
            if fd is not None:
                drained = read_checkpoint(path)
                size = data_end(fd)
                adopted.append(
                    Segment(path=path, fd=fd, own=False, end=size, drained=drained, sealed=True)
                )
                log.info("adopted %s (%d bytes, %d already drained)", path, size, drained)
        elif name.endswith(TMP_SUFFIX):
            with contextlib.suppress(FileNotFoundError):
                if now - entry.stat().st_mtime > STALE_TMP_S:
                    path.unlink()
        elif name.endswith(SEGMENT_SUFFIX + ".ckpt") and not (spool / name[:-5]).exists():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return adopted


def data_end(fd: int) -> int:
    """Where a segment's data ends: its size, less the zero bytes reserved after its last line
    (a writer that died never cut them)."""
    end = os.fstat(fd).st_size
    while end > 0:
        chunk = os.pread(fd, min(end, _READ_CHUNK), end - min(end, _READ_CHUNK))
        kept = len(chunk.rstrip(b"\0"))
        if kept:
            return end - len(chunk) + kept
        end -= len(chunk)
    return 0


@dataclass
class Batch:
    """Events (and in-flight records) read from a segment, and the offset after them;
    ``unreadable``: the lines that were neither, moved to the ``.bad`` file while reading."""

    events: list[CostEvent | InFlight | FiredAlert]
    end: int
    unreadable: int = 0


def _lines(data: bytes, start: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line without newline) of each complete line of ``data`` read at ``start``."""
    pos = 0
    while (nl := data.find(b"\n", pos)) >= 0:
        yield start + pos, data[pos:nl]
        pos = nl + 1


def _parse(line: bytes) -> CostEvent | InFlight | FiredAlert | str:
    """The event (or in-flight record, or alert) of a spool line, or why it is not one (any
    line: nothing else escapes)."""
    line = line.lstrip(b"\0")
    try:
        if line.startswith(MARKER):
            return InFlight.from_json(line.decode())
        if line.startswith(ALERT_MARKER):
            return FiredAlert.from_json(line.decode())
        return CostEvent.from_json(line.decode())
    except ValueError as exc:  # not UTF-8, not JSON, not an event (CostEvent.from_json)
        return str(exc)


def read_batch(segment: Segment, limit: int, max_events: int, *, durable: bool) -> Batch:
    """Up to ``max_events`` events of ``segment`` from its checkpoint, reading no further than
    ``limit``. A trailing line without newline is left for later unless the segment is sealed
    (then it was torn). Complete lines that are not events (whatever they hold) go to the
    ``.bad`` file before the batch is returned, so the checkpoint may move past them."""
    start = segment.drained
    events: list[CostEvent | InFlight | FiredAlert] = []
    bad: list[tuple[bytes, str]] = []
    size = min(_READ_CHUNK, limit - start)
    data = os.pread(segment.fd, size, start) if size > 0 else b""
    while b"\n" not in data and len(data) == size and start + size < limit:
        size *= 2  # one very long line
        data = os.pread(segment.fd, size, start)
    offset = start
    for at, line in _lines(data, start):
        if len(events) >= max_events:
            break
        offset = at + len(line) + 1
        if not line.strip(b"\0 \t\r"):
            continue
        event = _parse(line)
        if not isinstance(event, str):
            events.append(event)
        elif at >= segment.bad_upto:
            bad.append((line, f"line at byte {at} unparseable ({event})"))
    tail = len(events) < max_events and start + len(data) >= limit
    if tail and segment.sealed and offset < limit:
        torn = data[offset - start :]
        whole = _parse(torn) if torn.strip(b"\0") else None
        if whole is not None and not isinstance(whole, str):
            events.append(whole)
        elif whole is not None:
            log.warning(
                "%s: torn last line of %d bytes skipped (its record() never returned)",
                segment.path,
                len(torn),
            )
        offset = limit
    if bad:
        move_aside(segment, bad, durable=durable)
    segment.bad_upto = max(segment.bad_upto, offset)
    return Batch(events, offset, len(bad))


def move_aside(segment: Segment, lines: list[tuple[bytes, str]], *, durable: bool) -> None:
    """Append each ``(line, why)`` line to the segment's ``.bad`` file (kept for a human, or
    for replaying once fixed) and log an error for each, with why and the start of the line."""
    fd = os.open(segment.bad, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        data = memoryview(b"".join(line + b"\n" for line, _ in lines))
        while data:
            data = data[os.write(fd, data) :]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    for line, why in lines:
        log.error("%s: %s; moved to %s: %r", segment.path, why, segment.bad, line[:300])


def redacted_url(url: str) -> str:
    """The URL without its password; SQLite paths made absolute (one database, one name)."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "sqlite":
        path = sqlite_path(url)
        return url if path == ":memory:" else f"sqlite:///{Path(path).resolve()}"
    if parts.password is not None:
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        user = parts.username or ""
        parts = parts._replace(netloc=f"{user}:***@{host}{port}")
    return urlunsplit(parts)


def check_owner(spool: Path, url: str) -> None:
    """Claim ``spool`` for the ledger at ``url``. Raise ConfigError if it holds segments of
    another ledger URL (adopting them would write their events to the wrong database); an
    empty spool may change hands."""
    marker = spool / "spool.json"
    mine = redacted_url(url)
    try:
        found = json.loads(marker.read_text())["url"]
    except FileNotFoundError:
        found = None
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"ledger spool {spool}: {marker.name} is unreadable ({exc})") from None
    if found == mine:
        return
    if found is None or not any(
        name.endswith((SEGMENT_SUFFIX, SEGMENT_SUFFIX + TMP_SUFFIX)) for name in os.listdir(spool)
    ):
        tmp = spool / f"spool.json.{os.getpid()}-{os.urandom(4).hex()}{TMP_SUFFIX}"
        tmp.write_text(json.dumps({"version": 1, "url": mine}) + "\n")
        os.replace(tmp, marker)
        return
    if found != mine:
        raise ConfigError(
            f"ledger spool {spool} holds events for {found}, not {mine}: drain it with "
            f"Ledger({found!r}, spool_dir=...) first, or give this ledger another spool_dir"
        )
