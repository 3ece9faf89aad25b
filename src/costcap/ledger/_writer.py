"""The ledger writer: every event durable in a local spool before ``record`` returns, drained in
batches to the sink by a background thread.

::

    record(event) ──► one JSON line copied ──► spool segment (memory-mapped, flock'd)
          │                                            │
          └──► in-memory copy (bounded) ──┐            │ (replayed from here after a crash,
                                          ▼            ▼  or when the memory copy overflowed)
                                 drain thread ──► sink.write(batch) ──► checkpoint ──► delete

Each segment has a checkpoint (the byte offset in the sink) and is deleted once drained and
rotated; segments of dead writers are adopted (:mod:`costcap.ledger._spool`). The durability
of each ``fsync`` policy is in the :class:`Ledger` docstring. Calls in flight take the same
path (``on_in_flight``), and the drain thread turns those of dead processes into ``lost``
events once their lease ended ``lease_grace_s`` ago (:mod:`costcap.ledger._lost`).
"""

from __future__ import annotations

import atexit
import functools
import itertools
import logging
import math
import os
import random
import shutil
import tempfile
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Literal
from urllib.parse import urlsplit

from costcap.alerts import Alert
from costcap.errors import ConfigError, StoreUnavailable
from costcap.ledger._drain import LEASE_GRACE_S, Drain, Pending, Record, utc_now
from costcap.ledger._event import CostEvent
from costcap.ledger._fired import FiredAlert
from costcap.ledger._inflight import InFlight
from costcap.ledger._sinks import sqlite_path
from costcap.ledger._spool import (
    Segment,
    adopt_orphans,
    check_owner,
    create_segment,
    retire,
)
from costcap.ledger._urls import check_ledger_url
from costcap.money import usd_text

__all__ = ["FSYNC_POLICIES", "FsyncPolicy", "Ledger", "default_spool_dir"]

log = logging.getLogger("costcap.ledger")
costs_log = logging.getLogger("costcap.costs")

FsyncPolicy = Literal["always", "interval", "never"]
FSYNC_POLICIES: tuple[FsyncPolicy, ...] = ("always", "interval", "never")
BACKOFF_S = (0.1, 5.0)  # first and longest wait between attempts while the sink is down
ATEXIT_TIMEOUT_S = 5.0
# events kept in memory as well, so the drain thread need not read them back (~0.7 KB each);
# beyond that the spool file is read back, slower but bounded
MEMORY_EVENTS = 50_000
# Letting the background threads in. ``record`` gives up the GIL nowhere (the spool is a memory
# map), and a thread waiting for the GIL is starved as long as the calling thread releases and
# re-takes it briefly more often than the switch interval (CPython's drop request is only made
# when no switch happened during a whole interval — any short system call in the app counts as
# one): measured, a drain thread waiting to open its sink made no progress in 7 s of back-to-back
# SDK calls. So while a drain is under way or the fsync is overdue, ``record`` sleeps briefly, at
# most once per HANDOFF_EVERY_S: the waiting thread takes the GIL and runs until its next system
# call. A handoff costs that one call the sleep plus the thread's run (typically < 1 ms).
HANDOFF_EVERY_S = 0.005
HANDOFF_SLEEP_S = 0.0001


def default_spool_dir(url: str) -> Path | None:
    """``sqlite:///path/x.db`` → ``path/x.db.spool/``; PostgreSQL → ``./.costcap-spool/``
    (absolute, from the working directory at construction); in-memory SQLite → None (a
    temporary directory)."""
    if urlsplit(url).scheme.lower() == "sqlite":
        path = sqlite_path(url)
        return None if path == ":memory:" else Path(f"{path}.spool").resolve()
    return Path(".costcap-spool").resolve()


def _check_positive(**settings: float) -> None:
    for name, value in settings.items():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or not value > 0:
            raise ConfigError(f"Ledger {name}={value!r}: must be a positive number")


def _grace(seconds: float) -> timedelta:
    number = isinstance(seconds, int | float) and not isinstance(seconds, bool)
    if not number or not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(f"Ledger lease_grace_s={seconds!r}: must be a number of seconds >= 0")
    return timedelta(seconds=seconds)


def _after_fork_in_child(ref: weakref.ref[Ledger]) -> None:
    ledger = ref()
    if ledger is not None:
        ledger._forget_after_fork()


class Ledger:
    """The durable, batched cost ledger; also a Guard observer (``observers=[ledger]``).

    ``record(event)`` copies one JSON line into this ledger's spool segment and returns (~5 µs);
    a background thread writes batches of up to ``batch_size`` events to the sink at ``url``
    (one transaction each, at least every ``flush_interval_s``), checkpoints how far it got,
    and deletes segments once drained and rotated (every ``segment_bytes``). A sink that is
    down is retried with backoff while events wait in the spool; ``record`` never waits for
    the database. Bigger batches drain bursts faster (SQLite: ~2× at 5,000) but hold the
    database's write lock longer: give the ledger its own SQLite file, not the Guard's store.
    ``flush_interval_s`` (1 s) is how stale reports can be; a shorter one means smaller
    batches, more work per event in the drain thread, and that work competes with the app's
    own threads for the CPU (measured in ``benchmarks/results/wrap.md``: at 0.2 s a wrapped
    call cost ~40 µs more than at 1 s).

    Alerts: as a Guard observer the Ledger also spools each alert the Guard fires
    (``on_alert``), drained with the events into ``costcap_alerts``; ``costcap report alerts``
    lists them.

    Calls in flight: as a Guard observer the Ledger also spools a short line when a call is
    admitted and when its lease is renewed (``on_in_flight``, ~2 µs), kept in
    ``costcap_inflight`` until the call's event deletes it. A call whose lease ended more than
    ``lease_grace_s`` (60 s) ago with no event belongs to a process that died with it in flight:
    the drain (of any process on the database) records it as a ``lost`` event charged its
    reservation — what the store's lease charged the budget. An event that arrives later (a
    live process whose drain was slow) replaces it. ``clock`` (UTC ``datetime``) is for tests.

    ``spool_dir`` defaults to ``<db path>.spool/`` for ``sqlite:///<db path>`` and to
    ``./.costcap-spool/`` for PostgreSQL. Several processes may share a spool directory (it
    belongs to one ledger URL): each writes its own segments under an exclusive ``flock``; at
    start and every ``adopt_interval_s`` a ledger adopts and drains the segments of writers
    that died.

    Durability, by ``fsync`` policy (figures: ``benchmarks/results/ledger.md``):

    ``"always"``   each ``record`` fsyncs its line before returning (concurrent records share
                   one fsync). Survives a process crash and a power loss. Costs an fsync per
                   call: ~0.14 ms median per record (vs ~5 µs) on the reference VM's disk,
                   ~5,000 records/s from one thread — for audit trails, not hot paths.
    ``"interval"`` (default) the line is in the OS page cache when ``record`` returns and a
                   background thread fsyncs at most every ``fsync_interval_s``. A process crash
                   (``kill -9``, OOM kill) loses nothing; a power loss or kernel panic can lose
                   the records of the last ``fsync_interval_s``.
    ``"never"``    no fsync at all (segments, checkpoints): a process crash loses nothing; a
                   power loss loses what the OS had not written back (typically up to ~30 s).

    Whatever the policy, a batch is committed in the sink (SQLite ``synchronous=FULL``,
    PostgreSQL ``synchronous_commit``) before the checkpoint moves past it, and a replay
    re-sends what may already be there: the sink keeps one row per ``request_id``, so nothing
    counts twice. Memory: at most ~50,000 events (~35 MB) are also kept in memory to spare
    the drain reading them back; a longer backlog is read back from the spool.

    Create the Ledger in the process that uses it: after ``fork`` a child's copy refuses to
    record (the parent keeps its segments). ``close()`` (or ``with``) drains before exit; an
    ``atexit`` hook does it too, for at most five seconds — what remains stays spooled for the
    next Ledger on the same ``spool_dir``.
    """

    def __init__(
        self,
        url: str = "sqlite:///costcap-ledger.db",  # not the guard's file: no shared lock
        *,
        spool_dir: str | os.PathLike[str] | None = None,
        fsync: FsyncPolicy = "interval",
        fsync_interval_s: float = 0.1,
        batch_size: int = 5000,
        flush_interval_s: float = 1.0,
        segment_bytes: int = 64 * 2**20,
        adopt_interval_s: float = 5.0,
        lease_grace_s: float = LEASE_GRACE_S,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if os.name != "posix":
            raise ConfigError("the Ledger's spool needs a POSIX system (flock, pread, fork)")
        if fsync not in FSYNC_POLICIES:
            raise ConfigError(f"Ledger fsync={fsync!r}: use one of {FSYNC_POLICIES}")
        _check_positive(
            fsync_interval_s=fsync_interval_s,
            batch_size=batch_size,
            flush_interval_s=flush_interval_s,
            segment_bytes=segment_bytes,
            adopt_interval_s=adopt_interval_s,
        )
        grace = _grace(lease_grace_s)
        check_ledger_url(url)
        self.url = url
        self.fsync: FsyncPolicy = fsync
        self._durable = fsync != "never"
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._fsync_interval_s = fsync_interval_s
        self._segment_bytes = segment_bytes
        self._adopt_interval_s = adopt_interval_s
        self._lost_logged = 0.0  # when a failed conversion was last logged
        chosen = Path(spool_dir).resolve() if spool_dir is not None else default_spool_dir(url)
        self._temporary = chosen is None
        if chosen is None:
            chosen = Path(tempfile.mkdtemp(prefix="costcap-spool-"))
        self.spool_dir = chosen
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        check_owner(self.spool_dir, url)

        self._pid = os.getpid()
        self._writer = f"{self._pid}-{os.urandom(4).hex()}"
        self._lock = threading.Lock()  # the write path: live segment, offsets, pending order
        # segments, and alerts (ids numbered in firing order: the report's order among alerts
        # fired at one instant)
        self._seq, self._alerts = 0, itertools.count(1)
        self._adopted = adopt_orphans(self.spool_dir, set())  # dead writers' segments
        try:
            self._live = create_segment(self.spool_dir, self._writer, 0, durable=self._durable)
        except BaseException:
            for seg in self._adopted:
                seg.close()
            raise
        self._own: deque[Segment] = deque([self._live])
        self._pending: deque[Pending] = deque()
        self._max_pending = max(10 * batch_size, MEMORY_EVENTS)
        self._recorded = 0  # bytes appended to own segments
        self._draining = False  # the drain thread is in a drain (it may be waiting for the GIL)
        self._failing = False  # the sink failed the last round: the drain is backing off
        self._synced_at = time.monotonic()  # the fsync thread's last round
        self._next_handoff = 0.0
        self._closed: str | None = None  # why record() refuses
        self._drain = Drain(
            url,
            batch_size=batch_size,
            durable=self._durable,
            pending=self._pending,
            own=self._own,
            adopted=self._adopted,
            grace=grace,
            clock=clock,
        )
        self._outage_logged = 0.0
        self._progress = threading.Condition()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._drainer = threading.Thread(
            target=self._drain_loop, name="costcap-ledger-drain", daemon=True
        )
        self._syncer: threading.Thread | None = None
        self._start()

    def _start(self) -> None:
        if self.fsync == "interval":
            self._syncer = threading.Thread(
                target=self._sync_loop, name="costcap-ledger-fsync", daemon=True
            )
            self._syncer.start()
        self._drainer.start()
        atexit.register(self._close_at_exit)
        # never unregistered (os offers no way): a weak reference keeps the Ledger collectable
        forget = functools.partial(_after_fork_in_child, weakref.ref(self))
        os.register_at_fork(after_in_child=forget)

    def __repr__(self) -> str:
        return f"Ledger({self.url!r}, spool_dir={str(self.spool_dir)!r}, fsync={self.fsync!r})"

    # -- the call path ---------------------------------------------------------------------

    @property
    def failing(self) -> bool:
        """True while the sink is failing: the last drain round could not write to it (events
        wait in the spool and are retried)."""
        return self._failing

    def record(self, event: CostEvent) -> None:
        """Append ``event`` to the spool; when this returns it survives a crash of the process
        (and a power loss too with ``fsync="always"``). Also logs it as one JSON line on the
        ``costcap.costs`` logger at INFO, when that logger is enabled. Raises ``OSError`` if the
        spool cannot be written (disk full): the event was NOT recorded."""
        line = event.to_json()
        self._append(event, line)
        if costs_log.isEnabledFor(logging.INFO):
            costs_log.info(line)

    on_event = record  # the observer protocol: Guard(..., observers=[ledger])

    def on_in_flight(self, call: InFlight) -> None:
        """Spool that ``call`` was admitted, or that its lease was renewed (the Guard calls
        this): until its event arrives, the ledger can tell it was in flight. ``OSError`` as
        for :meth:`record`."""
        self._append(call, call.to_json())

    def on_alert(self, alert: Alert, at: datetime) -> None:
        """Spool that ``alert`` fired at ``at`` (the Guard calls this once for each alert it
        sends to its notifiers); the drain writes it to ``costcap_alerts`` with the events
        (:mod:`costcap.ledger._fired`). ``OSError`` as for :meth:`record`."""
        record = FiredAlert.of(alert, at=at, alert_id=f"{self._writer}-{next(self._alerts):012d}")
        self._append(record, record.to_json())

    def _append(self, record: Record, line: str) -> None:
        data = (line + "\n").encode()
        if self._closed is not None:
            raise RuntimeError(f"{self!r} {self._closed}")
        with self._lock:
            if self._closed is not None:
                raise RuntimeError(f"{self!r} {self._closed}")
            seg = self._live
            start = seg.end
            if not seg.append(data, self._segment_bytes):  # full: the next segment
                seg = self._rotate()
                start = 0
                seg.append(data, self._segment_bytes)
            end = seg.end
            self._recorded += len(data)
            if len(self._pending) < self._max_pending:
                self._pending.append((record, seg, start, end))
        if self.fsync == "always":
            seg.sync_to(end)
        if len(self._pending) >= self._batch_size and not self._wake.is_set():
            self._wake.set()
        now = time.monotonic()
        if now >= self._next_handoff:
            self._next_handoff = now + HANDOFF_EVERY_S
            if self._draining or (
                self._syncer is not None and now - self._synced_at > 2 * self._fsync_interval_s
            ):
                time.sleep(HANDOFF_SLEEP_S)

    def _rotate(self) -> Segment:
        """Seal the live segment and start the next one (under ``self._lock``); ``OSError``
        (no space for it) leaves the live segment as it was."""
        fresh = create_segment(self.spool_dir, self._writer, self._seq + 1,
                               durable=self._durable)  # fmt: skip
        self._seq += 1
        self._live.seal()
        self._own.append(fresh)
        self._live = fresh
        return fresh

    # -- flush and close ------------------------------------------------------------------

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every event recorded so far (and every segment adopted so far) is in the
        sink; False if ``timeout`` seconds passed first (the events stay spooled)."""
        with self._lock:
            target = self._recorded
        adopted = list(self._adopted)
        deadline = None if timeout is None else time.monotonic() + timeout
        self._wake.set()
        with self._progress:
            while self._drain.drained < target or any(s in self._adopted for s in adopted):
                remaining = None if deadline is None else deadline - time.monotonic()
                if not self._drainer.is_alive() or (remaining is not None and remaining <= 0):
                    return False
                self._progress.wait(remaining)
                if not self._failing:  # a round ends once it caught up: ask for the rest
                    self._wake.set()
        return True

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop recording, drain for at most ``timeout`` seconds, release the spool. Events not
        drained by then stay in the spool for the next Ledger on this ``spool_dir``."""
        with self._lock:
            if self._closed is not None:
                return
            self._closed = "is closed"
        atexit.unregister(self._close_at_exit)
        started = time.monotonic()
        drained = self.flush(timeout)
        self._stop.set()
        self._wake.set()
        spent = time.monotonic() - started
        self._drainer.join(None if timeout is None else max(1.0, timeout - spent))
        if self._syncer is not None:
            self._syncer.join()
        if self._drainer.is_alive():  # stuck in the sink: leave it the descriptors it uses
            log.warning("%r: the drain thread did not stop; the spool stays as it is", self)
            return
        for seg in [*self._own, *self._adopted]:
            if self._durable and seg.own:
                seg.sync_to(seg.end)
            if seg.drained >= seg.end:
                retire(seg)
            else:
                seg.close()
        self._pending.clear()
        self._drain.drop_sink()
        if not drained:
            log.warning(
                "%r closed with %d bytes not yet in the sink; they stay in the spool and the "
                "next Ledger on %s drains them",
                self,
                self._recorded - self._drain.drained,
                self.spool_dir,
            )
        elif self._temporary:
            shutil.rmtree(self.spool_dir, ignore_errors=True)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _close_at_exit(self) -> None:
        self.close(ATEXIT_TIMEOUT_S)

    def _forget_after_fork(self) -> None:
        """In a forked child: drop the parent's descriptors without unlocking (the locks stay
        with the parent) and refuse to record."""
        self._closed = f"was created in process {self._pid}; create a Ledger after fork"
        self._lock = threading.Lock()  # a parent thread may have held these at fork
        self._progress = threading.Condition()
        for seg in [*self._own, *self._adopted]:
            seg.forget()
        self._pending.clear()

    # -- background threads ---------------------------------------------------------------

    def _sync_loop(self) -> None:
        while not self._stop.wait(self._fsync_interval_s):
            with self._lock:
                segments = list(self._own)
            for seg in segments:
                try:
                    seg.sync_to(seg.end)
                except OSError:
                    log.exception("%r: fsync of %s failed", self, seg.path)
            self._synced_at = time.monotonic()

    def _drain_loop(self) -> None:
        failures = 0
        delay = self._flush_interval_s
        next_adoption = time.monotonic() + self._adopt_interval_s
        next_conversion = 0.0
        while True:
            self._wake.wait(delay)
            self._wake.clear()
            if self._stop.is_set():
                return
            self._draining = True
            try:
                if time.monotonic() >= next_adoption:
                    next_adoption = time.monotonic() + self._adopt_interval_s
                    self._adopt()
                failures = self._drain_all(failures)
                if not failures and time.monotonic() >= next_conversion:
                    next_conversion = time.monotonic() + self._flush_interval_s
                    self._convert_lost()
            finally:
                self._draining = False
            self._failing = failures > 0
            with self._progress:
                self._progress.notify_all()
            if failures:
                first, longest = BACKOFF_S
                delay = min(longest, first * 2 ** min(failures, 16)) * random.uniform(0.5, 1.0)
            else:
                delay = self._flush_interval_s

    def _drain_all(self, failures: int) -> int:
        """Drain until caught up with the calls (``Drain.step``: events recorded during the
        last batch wait for the next round) or the sink fails; the count of failures in a row."""
        try:
            while self._drain.step() and not self._stop.is_set():
                with self._progress:
                    self._progress.notify_all()
        except Exception as exc:  # noqa: BLE001 - logged; the events stay spooled, retried
            self._drain.drop_sink()
            self._log_outage(exc, failures)
            return failures + 1
        if failures:
            log.warning("%r: sink reachable again; spooled events drained", self)
        return 0

    def _convert_lost(self) -> None:
        """Record the calls in flight whose lease ended ``lease_grace_s`` ago as ``lost``
        (after the drain caught up: this process's own events land first). A failure is logged
        (at most once a minute) and tried again next round; it never holds the events back."""
        try:
            count, pico = self._drain.convert()
        except Exception as exc:  # noqa: BLE001 - logged; the rows stay, tried again
            self._drain.drop_sink()
            now = time.monotonic()
            if now - self._lost_logged > 60:
                self._lost_logged = now
                log.warning("%r: recording lost calls in flight failed: %s", self, exc)
            return
        if count:
            log.warning(
                "%r: %d call(s) in flight in processes that died recorded as lost, charged "
                "their reservations ($%s, what the store's leases charged)",
                self, count, usd_text(pico),
            )  # fmt: skip

    def _log_outage(self, exc: Exception, failures: int) -> None:
        now = time.monotonic()
        if isinstance(exc, StoreUnavailable):
            if failures == 0 or now - self._outage_logged > 60:
                self._outage_logged = now
                log.warning("%r: %s; events stay spooled, retrying", self, exc)
        else:
            log.exception("%r: draining failed; events stay spooled, retrying", self)

    def _adopt(self) -> None:
        with self._lock:
            known = {seg.path.name for seg in self._own}
        known |= {seg.path.name for seg in self._adopted}
        try:
            self._adopted.extend(adopt_orphans(self.spool_dir, known))
        except OSError:
            log.exception("%r: scanning %s for orphan segments failed", self, self.spool_dir)
