"""Server-sent events, cut out of a byte stream whole, each kept as the bytes that carried it
(so an event is passed on unchanged, or dropped, never re-encoded)."""

from __future__ import annotations

import re

__all__ = ["EventSplitter", "event_data"]

#: The blank line that ends an event (LF or CRLF line endings).
_END = re.compile(rb"\r?\n\r?\n")


class EventSplitter:
    """Feed it the bytes of a stream as they arrive; it returns each event once whole."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """The events ``chunk`` completes, each with its terminating blank line."""
        buffer = self._buffer + chunk if self._buffer else chunk
        events: list[bytes] = []
        start = 0
        if b"\r" in buffer:  # CRLF line endings (or a stray CR): the general pattern
            for match in _END.finditer(buffer):
                events.append(buffer[start : match.end()])
                start = match.end()
        else:  # LF, as the providers send: a plain search, several times faster
            end = buffer.find(b"\n\n")
            while end >= 0:
                events.append(buffer[start : end + 2])
                start = end + 2
                end = buffer.find(b"\n\n", start)
        self._buffer = buffer[start:]
        return events

    def rest(self) -> bytes:
        """What the stream ended with after its last whole event (an unterminated event)."""
        rest, self._buffer = self._buffer, b""
        return rest


def event_data(raw: bytes) -> str | None:
    """The ``data`` of one event (its ``data:`` lines joined by newlines), or None without any."""
    if raw.startswith(b"data: ") and raw.find(b"\n") == len(raw) - 2:  # one line, LF: most
        return raw[6:-2].decode("utf-8", "replace")
    lines: list[bytes] = []
    for line in raw.splitlines():
        if line.startswith(b"data:"):
            value = line[5:]
            lines.append(value[1:] if value.startswith(b" ") else value)
    if not lines:
        return None
    return b"\n".join(lines).decode("utf-8", "replace")
