"""What a response body read so far says about its call's cost (pure: no I/O).

A :class:`BodyAccount` is shown the body of one admitted call, chunk by chunk, as the caller of
``with_streaming_response`` reads it. It undoes a content encoding the server applied anyway
(costcap asks for none), then:

* an SSE body (a streamed call): splits it into events and shows each event's data to the SDK's
  :class:`BodyReader`, which builds the SDK's own chunk or event object and meters it exactly as a
  plain stream is metered (text counted, the provider's usage kept, ``StreamCut`` past the
  reservation);
* a JSON body: keeps it whole; at its end the reader reads the provider's usage from it.

:meth:`BodyAccount.settlement` says what to settle when the body ends, however it ends.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar

from costcap.integrations._meter import Meter
from costcap.ledger import Status
from costcap.pricing import Usage

__all__ = ["BodyAccount", "BodyReader", "Ending", "Settlement", "SseEvents", "TallyReader"]

log = logging.getLogger("costcap.integrations")

Ending = Literal["completed", "stopped", "cut", "failed"]


class BodyReader(Protocol):
    """What one SDK makes of a body: its events metered, its whole JSON priced."""

    @property
    def meter(self) -> Meter: ...

    @property
    def served(self) -> str | None:
        """The service tier the events seen so far say the call is served at."""

    def event(self, data: str) -> None:
        """Meter one SSE event's data; raises StreamCut past the reservation."""

    def result(self, body: bytes) -> tuple[object, str | None]:
        """The usage and served tier a whole JSON body reports."""


class Tally(Protocol):
    """What meters a plain stream's items (a Tap, an EventMeter): its meter, the tier seen."""

    @property
    def meter(self) -> Meter: ...

    @property
    def served(self) -> str | None: ...


T = TypeVar("T", bound=Tally)


class TallyReader(Generic[T]):
    """Base of an SDK's BodyReader: its events go to ``tally``, the one a plain stream uses."""

    __slots__ = ("_tally",)

    def __init__(self, tally: T) -> None:
        self._tally = tally

    @property
    def meter(self) -> Meter:
        return self._tally.meter

    @property
    def served(self) -> str | None:
        return self._tally.served


@dataclass(frozen=True, slots=True)
class Settlement:
    usage: object
    status: Status
    service_tier: str | None


class SseEvents:
    """Server-sent events split from bytes that arrive in arbitrary pieces: ``feed`` returns the
    data of every event completed by the piece (comments and fields other than ``data`` are
    dropped, as the SDKs drop them for a response's events)."""

    __slots__ = ("_data", "_pending")

    def __init__(self) -> None:
        self._pending = bytearray()
        self._data: list[str] = []

    def feed(self, piece: bytes) -> list[str]:
        pending = self._pending
        pending += piece
        # Whole lines end at the last "\n", or at a "\r" that is not the last byte (it may be
        # the first half of a "\r\n" still to come).
        cut = max(pending.rfind(b"\n"), pending.rfind(b"\r", 0, len(pending) - 1))
        if cut < 0:
            return []
        lines = bytes(pending[: cut + 1]).splitlines()
        del pending[: cut + 1]
        return self._lines(lines)

    def end(self) -> list[str]:
        """The events left when the body ends (a last event without its blank line too)."""
        rest = bytes(self._pending).splitlines()
        self._pending.clear()
        return self._lines([*rest, b""])

    def _lines(self, lines: list[bytes]) -> list[str]:
        events: list[str] = []
        data = self._data
        for raw in lines:
            if not raw:  # a blank line dispatches the event
                if data:
                    events.append("\n".join(data))
                    data.clear()
                continue
            field, _, value = raw.decode("utf-8", "replace").partition(":")
            if field == "data":
                data.append(value[1:] if value.startswith(" ") else value)
        return events


def _decoder(encoding: str) -> zlib._Decompress | None:
    """A decoder for the body's content encoding; None for an encoding costcap cannot read."""
    if encoding == "gzip":
        return zlib.decompressobj(zlib.MAX_WBITS | 16)
    if encoding == "deflate":
        return zlib.decompressobj()
    return None


class BodyAccount:
    """One body's running account; ``sse`` tells an event stream from a JSON body."""

    __slots__ = ("_decoder", "_events", "_parts", "_readable", "_reader", "ended", "sse")

    def __init__(self, reader: BodyReader, *, sse: bool, content_encoding: str = "") -> None:
        self._reader = reader
        self.sse = sse
        self.ended = False  # the whole body was shown
        encoding = content_encoding.strip().lower()
        plain = encoding in ("", "identity")
        self._decoder = None if plain else _decoder(encoding)
        self._readable = plain or self._decoder is not None
        if not self._readable:
            log.warning("a body in content encoding %r cannot be metered; call %s is charged its "
                        "reservation", encoding, reader.meter.ticket.id)  # fmt: skip
        self._events = SseEvents()
        self._parts: list[bytes] = []

    @property
    def meter(self) -> Meter:
        return self._reader.meter

    @property
    def needs_rest(self) -> bool:
        """A JSON body not read to its end: the provider generated (and billed) all of it, and
        its usage is in its last bytes."""
        return not self.sse and not self.ended and self._readable

    def feed(self, piece: bytes) -> None:
        """Show the next piece of the body; raises StreamCut past the reservation."""
        if not self._readable or not piece:
            return
        if self._decoder is not None:
            piece = self._decoder.decompress(piece)
        if not self.sse:
            self._parts.append(piece)
            return
        for data in self._events.feed(piece):
            self._reader.event(data)

    def end(self) -> None:
        """The body ended: show what was held back."""
        if self._readable:
            tail = self._decoder.flush() if self._decoder is not None else b""
            if self.sse:
                for data in [*self._events.feed(tail), *self._events.end()]:
                    self._reader.event(data)
            else:
                self._parts.append(tail)
        self.ended = True

    def settlement(self, ending: Ending) -> Settlement:
        """What to settle the call with, the body having ended as ``ending``."""
        reader, meter = self._reader, self._reader.meter
        if self.sse and self._readable:  # as a plain stream that ended the same way
            status: Status = "ok" if ending == "completed" or meter.final else "cut"
            if ending == "failed":
                status = "error"
            return Settlement(meter.final_usage(), status, reader.served)
        if self.ended and self._readable:
            try:
                usage, served = reader.result(b"".join(self._parts))
            except Exception:  # not the JSON the SDK reads: priced as an unread body
                log.exception("could not read the usage of call %s from its body",
                              meter.ticket.id)  # fmt: skip
            else:
                return Settlement(usage, "ok", served)
        # Unread: the provider may have generated all of it; its reservation bounds what it cost.
        ticket = meter.ticket
        worst = Usage(input_tokens=ticket.input_tokens, output_tokens=ticket.max_tokens)
        return Settlement(worst, "error" if ending == "failed" else "cut", None)
