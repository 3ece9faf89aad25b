"""What the fake provider served and billed: one :class:`ServedRequest` per request."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Endpoint", "RequestLog", "ServedRequest"]

Endpoint = Literal["chat.completions", "responses", "messages", "models"]

#: Request headers kept in :attr:`ServedRequest.headers` (never credentials: the credential
#: sent — ``Authorization: Bearer`` or ``x-api-key`` — is kept as its SHA-256 under
#: :data:`CREDENTIAL_DIGEST`, so a test can tell which key reached the provider).
CREDENTIAL_DIGEST = "x-fake-credential-sha256"
RECORDED_HEADERS: tuple[str, ...] = (
    "user-agent",
    "content-type",
    "anthropic-version",
    "idempotency-key",
    "x-stainless-retry-count",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServedRequest:
    """One request the fake provider answered, and what it billed for it.

    Token fields are what a real provider would bill: ``input_tokens`` is every prompt token as
    counted by :mod:`costcap.tokens`, *including* the ``cached_tokens`` read from and the
    ``cache_write_tokens`` written to the prompt cache (whatever the wire format reports);
    ``output_tokens`` is what was generated (a tool call's name and arguments, each counted on
    its own), up to the disconnect for an abandoned stream,
    ``thinking_tokens`` (thinking or reasoning) included. ``output_text`` is the answer's text,
    or the arguments of its tool call, as far as it was sent; ``tool_calls`` names the tools
    the answer calls (also when its stream was cut).
    A request answered with an error bills nothing (all zero). ``id`` is the id of the object
    answered (``chatcmpl-…``, ``resp_…``, ``msg_01…``; empty for errors and model lists);
    ``request_id`` is the ``x-request-id`` (OpenAI) / ``request-id`` (Anthropic) header sent.
    """

    id: str
    request_id: str
    endpoint: Endpoint
    model: str | None
    stream: bool
    status_code: int
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    service_tier: str | None = None  # the tier served and billed (as the response says)
    output_text: str = ""
    thinking_tokens: int = 0
    tool_calls: tuple[str, ...] = ()
    finish_reason: str | None = None
    usage: Mapping[str, Any] | None = None
    error: str | None = None
    injected: bool = False
    disconnect: Literal["client", "server"] | None = None
    request_key: str | None = None
    attempt: int = 1
    started_at: float = 0.0
    finished_at: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def billed(self) -> bool:
        """Whether the provider billed anything for this request."""
        return self.input_tokens > 0 or self.output_tokens > 0


class RequestLog:
    """A thread-safe, append-only list of served requests plus the fail-first-K counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[ServedRequest] = []
        self._attempts: dict[str, int] = {}

    def append(self, item: ServedRequest) -> None:
        with self._lock:
            self._items.append(item)

    def snapshot(self) -> tuple[ServedRequest, ...]:
        with self._lock:
            return tuple(self._items)

    def next_attempt(self, key: str) -> int:
        """Count one more attempt of the request keyed *key*; returns its 1-based number."""
        with self._lock:
            attempt = self._attempts.get(key, 0) + 1
            self._attempts[key] = attempt
            return attempt

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._attempts.clear()
