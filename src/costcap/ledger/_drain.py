"""The drain: spooled events → sink batches → checkpoints → deleted segments.

Runs in the Ledger's drain thread only. Own segments are drained oldest first, from the
in-memory copy of their events when it is contiguous with the checkpoint, else by reading the
file back; adopted segments (dead writers) from their files. A batch goes to the sink in one
transaction and the checkpoint moves past it only after the commit; a batch the sink failed
is kept and retried as is — unless the sink refused it for good for the data of some of its
events (:class:`EventsRefused`): those are isolated by bisection, moved to the segment's
``.bad`` file, and the rest is written. Spool lines that are not events never reach the sink
(:func:`costcap.ledger._spool.read_batch` moves them aside as it reads). In-flight records
(:mod:`costcap.ledger._inflight`) and alerts fired (:mod:`costcap.ledger._fired`) travel with
the events, in spool order; :meth:`Drain.convert`
turns the calls in flight of processes that died into ``lost`` events.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from costcap.ledger._event import CostEvent, EventsRefused
from costcap.ledger._fired import FiredAlert
from costcap.ledger._inflight import InFlight
from costcap.ledger._sinks import LedgerSink, open_sink
from costcap.ledger._spool import Batch, Segment, move_aside, read_batch, retire, write_checkpoint

__all__ = ["LEASE_GRACE_S", "Drain", "Pending", "Record", "utc_now"]

log = logging.getLogger("costcap.ledger")

LEASE_GRACE_S = 60.0  # how long after its lease's end a call in flight is recorded as lost
Record = CostEvent | InFlight | FiredAlert  # what a spool line holds


def utc_now() -> datetime:
    return datetime.now(UTC)


Pending = tuple[Record, Segment, int, int]  # record, segment, start offset, end offset


class Drain:
    """The drain state: the sink, batches waiting for a retry, bytes of own segments drained.

    ``pending``, ``own`` and ``adopted`` are shared with the Ledger: it appends to ``pending``
    and ``own`` under its lock; only the drain pops from them (deque ends are thread-safe).
    """

    def __init__(
        self,
        url: str,
        *,
        batch_size: int,
        durable: bool,
        pending: deque[Pending],
        own: deque[Segment],
        adopted: list[Segment],
        grace: timedelta = timedelta(seconds=LEASE_GRACE_S),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.url = url
        self.drained = 0  # bytes of own segments in the sink
        self._batch_size = batch_size
        self._durable = durable
        self._pending = pending
        self._own = own
        self._adopted = adopted
        self._grace = grace
        self._clock = clock
        self._held: dict[Segment, Batch] = {}  # a batch the sink failed, retried as is
        self._sink: LedgerSink | None = None
        self.refused = 0  # events the sink refused for good, moved to .bad files
        self.unreadable = 0  # spool lines that were not events, moved to .bad files

    def step(self) -> bool:
        """One batch of the oldest own segment, one of the oldest adopted one; True if there is
        more to drain at once: a full batch was written, a segment retired, a backlog read back
        from a file. A batch that caught up with the calls ends the drain round — events
        recorded while it was written wait for the next round, in one batch (looping on them
        kept the drain running without pause under steady traffic, one small batch, one commit
        and its fsync after another, and the calls paid for every GIL handoff it asked for)."""
        more = self._drain_own(self._own[0])
        if self._adopted:
            seg = self._adopted[0]
            batch = self._held.get(seg) or self._read(seg)
            more |= self._commit(seg, batch)
            if seg.drained >= seg.end:
                retire(seg)
                self._adopted.remove(seg)
                more = True
        return more

    def _drain_own(self, seg: Segment) -> bool:
        batch = self._held.get(seg) or self._from_memory(seg)
        backlog = False
        if not batch.events and seg.drained < seg.end:  # overflowed the memory copy
            batch = self._read(seg)
            self._drop_pending(seg, batch.end)
            backlog = True
        more = self._commit(seg, batch) and (
            len(batch.events) >= self._batch_size or (backlog and seg.drained < seg.end)
        )
        if seg.sealed and seg.drained >= seg.end and len(self._own) > 1:
            retire(seg)
            self._own.popleft()
            self._drop_pending(seg, seg.end)
            more = True
        return more

    def _read(self, seg: Segment) -> Batch:
        """The next batch of ``seg`` read back from its file."""
        batch = read_batch(seg, seg.end, self._batch_size, durable=self._durable)
        self.unreadable += batch.unreadable
        return batch

    def _from_memory(self, seg: Segment) -> Batch:
        """The contiguous run of in-memory events that starts at the checkpoint of ``seg``."""
        self._drop_pending(seg, seg.drained)
        pending, offset = self._pending, seg.drained
        events: list[Record] = []
        while pending and len(events) < self._batch_size:
            event, owner, start, end = pending[0]
            if owner is not seg or start != offset:
                break
            pending.popleft()
            events.append(event)
            offset = end
        return Batch(events, offset)

    def _drop_pending(self, seg: Segment, upto: int) -> None:
        """Forget in-memory events already in the sink (or read back from the file)."""
        pending = self._pending
        while pending:
            _, owner, _, end = pending[0]
            if not (owner.closed or (owner is seg and end <= upto)):
                return
            pending.popleft()

    def _commit(self, seg: Segment, batch: Batch) -> bool:
        """Write ``batch`` to the sink, then move the checkpoint past it."""
        if batch.end <= seg.drained and not batch.events:
            return False
        self._held[seg] = batch
        if batch.events:
            self._write(seg, batch)
        write_checkpoint(seg, batch.end, durable=self._durable)
        del self._held[seg]
        if seg.own:
            self.drained += batch.end - seg.drained
        seg.drained = batch.end
        return True

    def _write(self, seg: Segment, batch: Batch) -> None:
        """Write the events of ``batch`` to the sink. If the sink refuses them for good
        (``EventsRefused``: a NULL in a required column, a value out of range, a constraint),
        find the events it refuses by bisection — a batch of n with k bad events takes about
        2k·log2(n) writes, against n one by one — move them to the segment's ``.bad`` file,
        and write the rest: one bad event must not stall the ledger. Anything else (the sink
        is down, locked, …) propagates, and the batch is retried — without the events already
        moved aside."""
        if self._sink is None:
            self._sink = open_sink(self.url)
        try:
            self._sink.write(batch.events)
            return
        except EventsRefused as exc:
            log.warning("%s refused a batch (%s); isolating the bad events", self.url, exc)
            refusal = exc
        moved: list[Record] = []
        try:
            self._isolate(seg, batch.events, refusal, moved)
        finally:  # a retry after a transient error must not move them aside twice
            if moved:
                gone = {id(event) for event in moved}
                batch.events = [event for event in batch.events if id(event) not in gone]

    def _isolate(
        self, seg: Segment, events: list[Record], exc: EventsRefused, moved: list[Record]
    ) -> None:
        """``events``, which the sink refused as a whole (``exc``): a single event goes to the
        ``.bad`` file (and to ``moved``); a run is written half by half, each half the sink
        refuses isolated in turn."""
        if len(events) == 1:
            (event,) = events
            named = (
                f"alert {event.alert_id!r}"
                if isinstance(event, FiredAlert)
                else f"event {event.request_id!r}"
            )
            why = f"{named} refused by the sink ({exc})"
            move_aside(seg, [(event.to_json().encode(), why)], durable=self._durable)
            moved.append(event)
            self.refused += 1
            return
        assert self._sink is not None
        half = len(events) // 2
        for part in (events[:half], events[half:]):
            try:
                self._sink.write(part)
            except EventsRefused as refused:
                self._isolate(seg, part, refused, moved)

    def convert(self) -> tuple[int, int]:
        """Turn the calls in flight whose lease ended more than the grace ago into ``lost``
        events (any process's: see :mod:`costcap.ledger._lost`); how many, and their cost."""
        if self._sink is None:
            self._sink = open_sink(self.url)
        return self._sink.convert_lost(self._clock() - self._grace)

    def drop_sink(self) -> None:
        sink, self._sink = self._sink, None
        if sink is not None:
            try:
                sink.close()
            except Exception as exc:  # noqa: BLE001 - a broken connection may fail to close
                log.debug("%s: closing the sink failed: %s", self.url, exc)
