"""Metering a stream while it flows, and settling whatever happened to it.

A :class:`Meter` follows one admitted streamed call. The wrapper feeds it the text as it
arrives (``add_text``), a tool call's name when the event naming the tool arrives
(``add_name``), and the provider's usage when it shows it (``set_usage``). It raises
:class:`StreamCut` the moment the output counted so far would pass what was reserved (the
wrapper then closes the upstream connection). When the stream ends — completed, cut, abandoned
by the consumer, cancelled — ``final_usage()`` gives what to settle: the provider's own usage when
its final figure arrived, else the input the provider reported (or costcap counted at admission)
plus costcap's count of the text actually streamed. A stream that produced tokens is never $0.

Under ``Guard(strict=True)`` a stream that ends without the provider's final usage is charged
its whole output reservation (``max_tokens``) instead of what was read: a provider running ahead
of its reader bills chunks that never reached costcap, and only ``max_tokens`` bounds them. The
event is flagged :data:`UNREAD_CHARGED` when that charged more than was read.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Literal

from costcap.errors import CostcapError
from costcap.pricing import Usage, usage_from
from costcap.ticket import Ticket
from costcap.tokens import EncodingName, encoding_for_model
from costcap.tokens._encodings import count_encoded
from costcap.tokens._estimate import class_extra, estimate_factor

__all__ = ["NAMED_CALLS", "UNREAD_CHARGED", "Meter", "StreamCut"]

UNREAD_CHARGED = "unread_output_charged"  # the flag on a strict stream charged its reservation
#: The Responses output items and Anthropic content blocks that open with the name of the tool
#: called (``response.output_item.added``, ``content_block_start``): the model generates the
#: name, and the provider bills it as output, as it does the arguments streamed after it.
NAMED_CALLS = frozenset({"function_call", "custom_tool_call", "tool_use", "server_tool_use"})


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
    # A model without a public tokenizer: o200k_base tokens of all the text (what cuts), the
    # estimate of the parts before the current one, and the current part's o200k_base tokens,
    # UTF-8 bytes and per-script tokens (class_extra). A tool's name is a part on its own.
    _o200k: int = 0
    _closed: int = 0
    _part: int = 0
    _bytes: int = 0
    _extra: float = 0.0
    _encoding: EncodingName | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        # Resolved once per stream, not per piece (the lookup costs more than counting " hello").
        self._encoding = encoding_for_model(self.ticket.model)

    def add_text(self, text: str) -> None:
        """Count streamed output; raise StreamCut if it would pass the reservation.

        An OpenAI model's text is counted exactly, piece by piece. For a model without a public
        tokenizer (Claude, Gemini) ``output_tokens`` is the estimate of the WHOLE text so far
        (what ``count_text`` gives for it; a tool's name apart, see ``add_name``), not a sum of
        per-piece estimates, which would round every small delta up; and the stream is cut
        only when the plain o200k_base count passes the reservation: those tokenizers produce
        more tokens than o200k_base for the same text (1.1-1.35x on English), so an
        over-estimate does not cut a stream that the provider itself kept within
        ``max_tokens`` (the provider enforces it; the cut is the backstop).
        """
        if not text:
            return
        if self._encoding is not None:  # count_text(text, model) for an OpenAI model
            self.output_tokens += count_encoded(text, self._encoding)
            certain = self.output_tokens
        else:
            o200k = count_encoded(text, "o200k_base")
            self._o200k += o200k
            self._part += o200k
            if text.isascii():
                self._bytes += len(text)
            else:  # the per-script part of the estimate adds up piece by piece
                utf8 = text.encode("utf-8", "surrogatepass")
                self._bytes += len(utf8)
                self._extra += class_extra(utf8, self.ticket.model)
            guess = self._part * estimate_factor(self.ticket.model) + self._extra
            self.output_tokens = self._closed + min(math.ceil(guess), self._bytes + 1)
            certain = self._o200k
        if certain > self.ticket.max_tokens:
            self.cut = True
            raise StreamCut(self.ticket.id, self.output_tokens, self.ticket.max_tokens)

    def add_name(self, name: str) -> None:
        """Count the name of a tool the model calls: output, as its arguments are (raises
        StreamCut as ``add_text`` does).

        For a model without a public tokenizer the name is estimated on its own —
        ``count_text(name)`` — apart from the text before it and the arguments after it (each
        estimated whole), as the provider generates it: a field of its own, not text run on
        into its neighbours."""
        if not name:
            return
        if self._encoding is not None:
            self.add_text(name)
            return
        self._close_part()
        self.add_text(name)
        self._close_part()

    def _close_part(self) -> None:
        self._closed = self.output_tokens
        self._part = self._bytes = 0
        self._extra = 0.0

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
        counted_input = self.ticket.input_tokens
        output = max(self.output_tokens, reported.output_tokens if reported else 0)
        if self.ticket.strict and output < self.ticket.max_tokens:
            output = self.ticket.max_tokens
            self.ticket.flag = UNREAD_CHARGED
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
    def status(self) -> Literal["ok", "cut"]:
        return "ok" if self.final and not self.cut else "cut"
