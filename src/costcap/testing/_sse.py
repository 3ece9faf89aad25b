"""Server-sent events: encoding, and an ASGI response that notices when the client goes away."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import anyio
from anyio.lowlevel import checkpoint
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

__all__ = ["SSEResponse", "StreamOutcome", "dumps", "sse"]


def dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def sse(data: Mapping[str, Any] | str, *, event: str | None = None) -> bytes:
    """One SSE event: an optional ``event:`` line, one ``data:`` line, a blank line."""
    payload = data if isinstance(data, str) else dumps(data)
    if event is None:
        return f"data: {payload}\n\n".encode()
    return f"event: {event}\ndata: {payload}\n\n".encode()


@dataclass(frozen=True, slots=True)
class StreamOutcome:
    """How a stream ended: how many units of output were sent, and who cut it short, if anyone."""

    units_sent: int
    completed: bool
    disconnect: Literal["client", "server"] | None


class SSEResponse(Response):
    """Sends ``(event bytes, cumulative units of output)`` pairs as an SSE stream.

    An event whose unit count grows is a content chunk: ``chunk_delay_s`` is slept before each,
    and after ``disconnect_after`` of them the connection is dropped without finishing the body
    (the client sees a broken chunked response, as on a real network failure). A client that
    disconnects stops the generation at once. ``on_finish`` is called exactly once, whatever
    happens, with what was actually sent: before the last event goes out when the stream
    completes (so the record is there when the client sees the end), else when it is cut.
    """

    def __init__(
        self,
        events: Sequence[tuple[bytes, int]],
        *,
        headers: Mapping[str, str],
        chunk_delay_s: float,
        disconnect_after: int | None,
        on_finish: Callable[[StreamOutcome], None],
    ) -> None:
        self.status_code = 200
        self.background = None
        self._events = events
        self.raw_headers = [(b"content-type", b"text/event-stream; charset=utf-8")]
        self.raw_headers.append((b"cache-control", b"no-cache"))
        self.raw_headers.extend(
            (k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
        )
        self._chunk_delay_s = chunk_delay_s
        self._disconnect_after = disconnect_after
        self._on_finish = on_finish

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        units_sent = 0
        completed = False
        finished = False

        def finish(outcome: StreamOutcome) -> None:
            nonlocal finished
            if not finished:
                finished = True
                self._on_finish(outcome)

        disconnect: Literal["client", "server"] | None = None
        try:
            async with anyio.create_task_group() as group:

                async def watch_disconnect() -> None:
                    nonlocal disconnect
                    while True:
                        message: Message = await receive()
                        if message["type"] == "http.disconnect":
                            disconnect = "client"
                            group.cancel_scope.cancel()
                            return

                group.start_soon(watch_disconnect)
                await send(
                    {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
                )
                chunks = 0
                last = len(self._events) - 1
                for index, (data, units) in enumerate(self._events):
                    if units > units_sent:
                        if self._disconnect_after is not None and chunks >= self._disconnect_after:
                            disconnect = "server"
                            break
                        chunks += 1
                        if self._chunk_delay_s > 0:
                            await anyio.sleep(self._chunk_delay_s)
                    if index == last and units <= units_sent:
                        # All output is out; record before the client can see the stream end,
                        # so a test reading the record right after the stream finds it.
                        completed = True
                        finish(StreamOutcome(units_sent, True, None))
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                    units_sent = max(units, units_sent)
                    await checkpoint()  # lets the disconnect watcher run between events
                else:
                    completed = True
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                group.cancel_scope.cancel()
        finally:
            finish(StreamOutcome(units_sent, completed, None if completed else disconnect))
        # Returning with the body unfinished makes the server drop the connection.
