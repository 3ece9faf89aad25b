"""Metering a stream while it flows, and settling whatever happened to it.

A :class:`Meter` follows one admitted streamed call. The wrapper feeds it the text as it
arrives (``add_text``) and the provider's usage when it shows it (``set_usage``). It raises
:class:`StreamCut` the moment the output counted so far would pass what was reserved (the
wrapper then closes the upstream connection). When the stream ends — completed, cut, abandoned
by the consumer, cancelled — ``final_usage()`` gives what to settle: the provider's own usage when
its final figure arrived, else the input the provider reported (or costcap counted at admission)
plus costcap's count of the text actually streamed. A stream that produced tokens is never $0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from costcap.errors import CostcapError
from costcap.pricing import Usage, usage_from
from costcap.ticket import Ticket
from costcap.tokens import count_text

__all__ = ["Meter", "StreamCut"]


class StreamCut(CostcapError):
    """costcap stopped a stream: its output reached what was reserved for it. The partial
    cost was settled; ``tokens`` is how many output tokens had streamed."""

    def __init__(self, ticket_id: str, tokens: int, limit: int) -> None:
        self.ticket_id, self.tokens, self.limit = ticket_id, tokens, limit
        super().__init__(
            f"stream cut by costcap after {tokens} output tokens: the call was admitted for "
            f"{limit} (its reservation); the partial cost was settled"
        )


@dataclass
class Meter:
    ticket: Ticket
    lease_s: float
    output_tokens: int = 0  # costcap's count of streamed text
    provider_usage: Usage | None = None
    final: bool = False  # provider_usage is the provider's final figure
    cut: bool = False
    _text: list[str] = field(default_factory=list)
    _renewed: float = field(default_factory=time.monotonic)

    def add_text(self, text: str) -> None:
        """Count streamed output; raise StreamCut if it would pass the reservation."""
        if not text:
            return
        self.output_tokens += count_text(text, self.ticket.model)
        if self.output_tokens > self.ticket.max_tokens:
            self.cut = True
            raise StreamCut(self.ticket.id, self.output_tokens, self.ticket.max_tokens)

    def set_usage(self, usage: object, *, final: bool) -> None:
        self.provider_usage = usage_from(usage)
        self.final = self.final or final

    def lease_due(self) -> bool:
        """True about every half lease: time to renew it so a long stream is not charged in full
        as if its holder had died."""
        now = time.monotonic()
        if now - self._renewed < self.lease_s / 2:
            return False
        self._renewed = now
        return True

    def final_usage(self) -> Usage:
        if self.final and self.provider_usage is not None:
            return self.provider_usage
        reported = self.provider_usage
        counted_input = self.ticket.worst_case.input_tokens if self.ticket.worst_case else 0
        output = max(self.output_tokens, reported.output_tokens if reported else 0)
        if reported is not None and reported.input_tokens:
            return Usage(
                input_tokens=reported.input_tokens,
                output_tokens=output,
                cache_read_tokens=reported.cache_read_tokens,
                cache_write_tokens=reported.cache_write_tokens,
                cache_write_1h_tokens=reported.cache_write_1h_tokens,
            )
        return Usage(input_tokens=counted_input, output_tokens=output)

    @property
    def status(self) -> str:
        return "ok" if self.final and not self.cut else "cut"
