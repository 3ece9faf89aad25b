"""Metering a streamed answer on the wire: the bytes in, the bytes to pass on, the usage.

:class:`WireStream` follows one admitted streamed call. Fed the answer's bytes as they arrive,
it cuts them into server-sent events, shows each to the API's tap — which feeds the same
:class:`~costcap.integrations._meter.Meter` the SDK wrappers use — and returns the bytes to
pass on: every event unchanged, but for the usage chunk costcap asked for on a caller's behalf.
What each tap reads:

* Chat Completions — each chunk's deltas (content, refusal, reasoning, tool-call names and
  arguments), its ``service_tier``, and the final usage-only chunk;
* Responses — every text ``….delta`` event (not audio), the tool's name in a call's
  ``response.output_item.added``, and the usage and tier of ``response.completed`` /
  ``response.incomplete`` / ``response.failed``;
* Anthropic Messages — ``message_start`` (input and cache usage, tier), the tool's name in a
  ``tool_use`` block's ``content_block_start``, each ``content_block_delta`` (text, thinking,
  tool JSON) and ``message_delta`` (the final usage).

When the counted output would pass the reservation, :attr:`WireStream.cut` is set and feeding
stops: the caller's stream is ended cleanly (:meth:`WireStream.closing`) and settled ``cut``.
Pure: no I/O; the HTTP clients' transports (and a gateway) move the bytes and settle.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from costcap.integrations._cache_answers import Keeper
from costcap.integrations._meter import NAMED_CALLS, Meter, StreamCut
from costcap.ledger import Status
from costcap.pricing import Usage
from costcap.ticket import Ticket
from costcap.wire._answers import served_tier
from costcap.wire._routes import Api
from costcap.wire._sse import EventSplitter, event_data

__all__ = ["Ending", "WireStream"]

Ending = Literal["completed", "stopped", "cut", "failed"]
_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
_DELTA_TEXT = {
    "text_delta": "text",
    "thinking_delta": "thinking",
    "input_json_delta": "partial_json",
}


class _Tap:
    """What one API's events say about the call's cost."""

    __slots__ = ("failed", "injected", "meter", "served")

    def __init__(self, meter: Meter, injected: bool) -> None:
        self.meter = meter
        self.injected = injected  # the usage chunk is costcap's: not passed on
        self.served: str | None = None
        self.failed = False  # the provider reported an error inside the stream

    def see(self, data: Mapping[str, Any]) -> bool:
        """Meter one event; False: do not pass it on. Raises StreamCut."""
        raise NotImplementedError

    def _named(self, opened: object) -> None:
        """An output item or content block just opened: a tool call's carries the tool's name."""
        if isinstance(opened, Mapping) and opened.get("type") in NAMED_CALLS:
            self.meter.add_name(_text(opened.get("name")))


class _ChatTap(_Tap):
    __slots__ = ()

    def see(self, data: Mapping[str, Any]) -> bool:
        add, add_name = self.meter.add_text, self.meter.add_name
        tier = data.get("service_tier")
        if isinstance(tier, str):
            self.served = tier
        choices = data.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            delta = choice.get("delta") if isinstance(choice, Mapping) else None
            if not isinstance(delta, Mapping):
                continue
            for name in ("content", "refusal", "reasoning_content"):
                text = delta.get(name)
                if isinstance(text, str):
                    add(text)
            calls = delta.get("tool_calls")
            for call in calls if isinstance(calls, list) else ():
                function = call.get("function") if isinstance(call, Mapping) else None
                if isinstance(function, Mapping):
                    add_name(_text(function.get("name")))  # in the first delta of a call
                    add(_text(function.get("arguments")))
            function_call = delta.get("function_call")
            if isinstance(function_call, Mapping):
                add(_text(function_call.get("arguments")))
        if "error" in data:
            self.failed = True
        usage = data.get("usage")
        if not isinstance(usage, Mapping):
            return True
        # The usage-only chunk (no choices) closes an include_usage stream: the final figure.
        self.meter.set_usage(usage, final=not choices)
        return bool(choices) or not self.injected


class _ResponsesTap(_Tap):
    __slots__ = ()

    def see(self, data: Mapping[str, Any]) -> bool:
        kind = data.get("type")
        if not isinstance(kind, str):
            return True
        if kind.endswith(".delta"):
            delta = data.get("delta")
            if isinstance(delta, str) and "audio" not in kind:
                self.meter.add_text(delta)
        elif kind == "response.output_item.added":  # a call's item opens with the tool's name
            self._named(data.get("item"))
        elif kind in _FINAL_EVENTS:
            response = data.get("response")
            if isinstance(response, Mapping):
                self.served = served_tier("responses", response)
                usage = response.get("usage")
                if isinstance(usage, Mapping):
                    self.meter.set_usage(usage, final=True)
        elif kind == "error":
            self.failed = True
        return True


class _MessagesTap(_Tap):
    __slots__ = ("_start",)

    def __init__(self, meter: Meter, injected: bool) -> None:
        super().__init__(meter, injected)
        self._start: Mapping[str, Any] = {}

    def see(self, data: Mapping[str, Any]) -> bool:
        kind = data.get("type")
        if kind == "content_block_delta":
            delta = data.get("delta")
            if isinstance(delta, Mapping):
                field = _DELTA_TEXT.get(delta.get("type"))  # type: ignore[arg-type]
                if field is not None:
                    self.meter.add_text(_text(delta.get(field)))
        elif kind == "content_block_start":  # a tool_use block opens with the tool's name
            self._named(data.get("content_block"))
        elif kind == "message_start":
            message = data.get("message")
            usage = message.get("usage") if isinstance(message, Mapping) else None
            self._start = usage if isinstance(usage, Mapping) else {}
            self.served = served_tier("messages", {"usage": self._start})
            self.meter.set_usage(_anthropic_usage(self._start, None), final=False)
        elif kind == "message_delta":
            usage = data.get("usage")
            delta = usage if isinstance(usage, Mapping) else {}
            self.meter.set_usage(_anthropic_usage(self._start, delta), final=True)
        elif kind == "error":
            self.failed = True
        return True


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _anthropic_usage(start: Mapping[str, Any], delta: Mapping[str, Any] | None) -> dict[str, Any]:
    """``message_start``'s usage, updated by a ``message_delta``'s (cumulative counts; one it
    omits keeps ``message_start``'s). Before ``message_delta`` the output is 0: the meter adds
    its own count of the text seen (``message_start``'s output count is a placeholder)."""
    later = delta or {}

    def pick(name: str) -> Any:
        value = later.get(name)
        return value if value is not None else start.get(name)

    return {
        "input_tokens": pick("input_tokens") or 0,
        "cache_read_input_tokens": pick("cache_read_input_tokens"),
        "cache_creation_input_tokens": pick("cache_creation_input_tokens"),
        "cache_creation": start.get("cache_creation"),
        "output_tokens": (later.get("output_tokens") or 0) if delta is not None else 0,
    }


_TAPS: dict[Api, type[_Tap]] = {
    "chat": _ChatTap,
    "responses": _ResponsesTap,
    "messages": _MessagesTap,
}


class WireStream:
    """One streamed answer being metered: :meth:`feed` it bytes, pass on what it returns.
    Given a cache miss's ``keeper``, every byte fed is kept for it too (the transport ends the
    keeper once the stream settled)."""

    __slots__ = ("_api", "_events", "_notice", "_tap", "cut", "done", "keeper", "meter")

    def __init__(
        self, api: Api, ticket: Ticket, lease_s: float, *, injected: bool, notice: bool = False,
        keeper: Keeper | None = None,
    ) -> None:  # fmt: skip
        self._api = api
        self._notice = notice  # a cut ends with an error event in the provider's format
        self.meter = Meter(ticket, lease_s)
        self._tap = _TAPS[api](self.meter, injected)
        self._events = EventSplitter()
        self.cut: StreamCut | None = None  # set when the output reached the reservation
        self.done = False  # settled (or being settled): never twice
        self.keeper = keeper

    @property
    def ticket(self) -> Ticket:
        return self.meter.ticket

    @property
    def served(self) -> str | None:
        """The service tier the stream says it is served at."""
        return self._tap.served

    def feed(self, chunk: bytes) -> bytes:
        """The bytes of ``chunk`` to pass on: its whole events, but for a hidden usage chunk
        and anything past a cut (after which :attr:`cut` is set)."""
        if self.cut is not None:
            return b""
        if self.keeper is not None:
            self.keeper.add(chunk)
        passed: list[bytes] = []
        for raw in self._events.feed(chunk):
            try:
                keep = self._see(raw)
            except StreamCut as cut:
                self.cut = cut
                break
            if keep:
                passed.append(raw)
        return b"".join(passed)

    def end(self) -> bytes:
        """The stream ended: what is left of it to pass on (an unterminated last event)."""
        rest = self._events.rest()
        if not rest or self.cut is not None:
            return b""
        try:
            return rest if self._see(rest) else b""
        except StreamCut as cut:
            self.cut = cut
            return b""

    def closing(self) -> bytes:
        """What ends a cut stream for its reader: cleanly (Chat Completions' ``[DONE]``), or,
        given ``notice``, with an error event in the provider's format saying why first."""
        done = b"data: [DONE]\n\n" if self._api == "chat" else b""
        if not self._notice:
            return done
        return _cut_event(self._api, f"costcap: {self.cut}") + done

    def _see(self, raw: bytes) -> bool:
        data = event_data(raw)
        if data is None or data.startswith("[DONE]"):
            return True
        try:
            parsed = json.loads(data)
        except json.JSONDecodeError:
            return True  # not an event costcap reads; the reader decides what it is
        return self._tap.see(parsed) if isinstance(parsed, Mapping) else True

    def settlement(self, ending: Ending) -> Status | None:
        """The status to settle with, once; None when already settled."""
        if self.done:
            return None
        self.done = True
        if ending == "completed":
            return "error" if self._tap.failed and not self.meter.final else "ok"
        if ending == "failed":
            return "error"
        if ending == "cut" or self.cut is not None:
            return "cut"
        return "ok" if self.meter.final else "cut"  # stopped after the final usage: complete

    def final_usage(self) -> Usage:
        return self.meter.final_usage()


def _cut_event(api: Api, message: str) -> bytes:
    """An SSE error event in ``api``'s format (the SDKs raise it as an API error)."""
    kind = "budget_exceeded"
    if api == "messages":
        data = {"type": "error", "error": {"type": kind, "message": message}}
        return b"event: error\ndata: " + json.dumps(data).encode() + b"\n\n"
    error = {"message": message, "type": kind, "param": None, "code": "costcap_stream_cut"}
    if api == "responses":
        event = {"type": "error", "code": "costcap_stream_cut", "message": message, "param": None}
        return b"event: error\ndata: " + json.dumps(event).encode() + b"\n\n"
    return b"data: " + json.dumps({"error": error}).encode() + b"\n\n"
