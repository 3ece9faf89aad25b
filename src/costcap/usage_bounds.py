"""Usage a provider reports beyond what a request allows is flagged, and never taken at face
value past what the model can do.

A call admitted with ``max_tokens`` should not produce more output than that; its input should
not be much larger than what costcap counted before sending it. A report past those limits (a
provider or proxy that ignored the cap, a bug, corrupt usage) is flagged on the event
(``CostEvent.flag = "usage_beyond_request"``), logged and alerted, and charged as reported up to
what the model can physically do — 10^15 tokens would otherwise lock a budget for its period:

* output: as reported up to the model's maximum output (16 x the call's ``max_tokens`` when the
  price data has none); flagged above ``max_tokens``;
* input: as reported up to the larger of the model's context window and ten times the input
  costcap counted plus 10,000 (the counted input may be an estimate; images and framing add to
  it); flagged above that bound, where it is also cut;
* a call admitted with a dollar amount (no count; its ``max_tokens`` may not have been sent):
  each count up to :data:`MAX_TOKENS`, flagged above it.

Cache reads and writes, audio and image tokens are parts of the input (or output) and are cut
with it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from costcap.alerts import Alert
from costcap.money import usd_from_pico
from costcap.pricing import Usage
from costcap.ticket import Ticket

__all__ = [
    "BEYOND_REQUEST",
    "INPUT_MARGIN",
    "MAX_TOKENS",
    "OUTPUT_FACTOR",
    "beyond_alert",
    "bounded_usage",
]

BEYOND_REQUEST = "usage_beyond_request"  # the flag on the event
MAX_TOKENS = 10**9  # no call reads or writes a billion tokens
INPUT_MARGIN = (10, 10_000)  # input bound: 10 x counted + 10,000 (or the context window)
OUTPUT_FACTOR = 16  # output bound when the price data has no maximum: 16 x max_tokens


def _bounds(ticket: Ticket) -> tuple[int, int, int]:
    """The most input charged, the output above which the call is flagged, and the most output
    charged."""
    if ticket.counted is None:
        return MAX_TOKENS, MAX_TOKENS, MAX_TOKENS
    factor, extra = INPUT_MARGIN
    window = ticket.price.context_window or 0
    most_in = min(MAX_TOKENS, max(window, ticket.input_tokens * factor + extra))
    model_most = ticket.price.max_output_tokens or ticket.max_tokens * OUTPUT_FACTOR
    return most_in, ticket.max_tokens, min(MAX_TOKENS, max(ticket.max_tokens, model_most))


def bounded_usage(ticket: Ticket, usage: Usage) -> tuple[Usage, str | None]:
    """``usage`` as it is charged for ``ticket``, and what was beyond the request (None: the
    usage is within it and charged as reported)."""
    most_in, flag_out, most_out = _bounds(ticket)
    if usage.input_tokens <= most_in and usage.output_tokens <= flag_out:
        return usage, None
    beyond = []
    if usage.output_tokens > flag_out:
        beyond.append(f"output {usage.output_tokens:,} > max_tokens {flag_out:,}")
    if usage.input_tokens > most_in:
        beyond.append(f"input {usage.input_tokens:,} > {most_in:,}")
    if usage.input_tokens <= most_in and usage.output_tokens <= most_out:
        return usage, "; ".join(beyond)  # past the request, within what the model can do
    charged = usage.bounded(most_in, most_out)  # its cache, audio and image parts cut with it
    cut = f"; charged as input {charged.input_tokens:,}, output {charged.output_tokens:,}"
    return charged, "; ".join(beyond) + cut


def beyond_alert(ticket: Ticket, now: datetime) -> tuple[str, Alert]:
    """The ``anomaly`` alert for a call settled beyond its request, and its marker: once per
    model and clock hour (a provider that misreports does so for many calls)."""
    hour = now.astimezone(UTC).strftime("%Y-%m-%dT%H")
    cost = ticket.cost.total_pico if ticket.cost is not None else 0
    alert = Alert(
        kind="anomaly",
        budget="",
        member=f"model:{ticket.model}",
        mode="",
        period=hour,
        threshold_pct=Decimal(0),
        spent_usd=usd_from_pico(cost),
        limit_usd=Decimal(0),
        resets_at=now,
        detail=(
            f"call {ticket.id} to {ticket.model} reported usage beyond its request "
            f"({ticket.beyond}); flagged {BEYOND_REQUEST}"
        ),
    )
    return f"anomaly:{BEYOND_REQUEST}:{ticket.model}:{hour}", alert
