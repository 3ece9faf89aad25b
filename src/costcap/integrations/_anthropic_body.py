"""What an Anthropic response body says about its call's cost, read through
``with_streaming_response`` (see :mod:`costcap.integrations._metered_body`).

Each SSE event is built into the SDK's own raw stream event (``RawMessageStreamEvent``, or its
Beta twin) and shown to the :class:`~costcap.integrations._anthropic_runs.EventMeter` a plain
stream uses; a JSON body is built into the SDK's ``Message`` (``BetaMessage``) and settled with
its usage, like a plain answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from anthropic._models import construct_type
from anthropic.types import Message, RawMessageStreamEvent
from anthropic.types.beta import BetaMessage, BetaRawMessageStreamEvent

from costcap.integrations._anthropic_runs import EventMeter
from costcap.integrations._body_account import BodyAccount, TallyReader
from costcap.service_tiers import anthropic_served_tier
from costcap.ticket import Ticket

__all__ = ["BETA", "MESSAGES", "AnthropicBody", "Shapes", "body_usage"]


@dataclass(frozen=True, slots=True)
class Shapes:
    """The SDK types a resource's bodies are built into."""

    event: object
    message: type[Any]


MESSAGES = Shapes(RawMessageStreamEvent, Message)
BETA = Shapes(BetaRawMessageStreamEvent, BetaMessage)


class AnthropicBody(TallyReader[EventMeter]):
    """The :class:`~costcap.integrations._body_account.BodyReader` of one Anthropic call."""

    __slots__ = ("_shapes",)

    def __init__(self, tally: EventMeter, shapes: Shapes) -> None:
        super().__init__(tally)
        self._shapes = shapes

    def event(self, data: str) -> None:
        value = json.loads(data)
        if isinstance(value, dict) and value.get("type") not in (None, "error", "ping"):
            self._tally.see(construct_type(value=value, type_=self._shapes.event))  # type: ignore[arg-type]

    def result(self, body: bytes) -> tuple[object, str | None]:
        return body_usage(body, self._shapes)


def body_usage(body: bytes, shapes: Shapes) -> tuple[object, str | None]:
    """The usage and served tier of a non-streamed answer's JSON body."""
    message = construct_type(value=json.loads(body), type_=shapes.message)
    usage = message.usage  # type: ignore[attr-defined]
    return usage, anthropic_served_tier(usage)


def account(ticket: Ticket, lease_s: float, shapes: Shapes) -> Callable[[bool, str], BodyAccount]:
    """``account_for`` of :func:`~costcap.integrations._metered_body.meter_body`."""

    def account_for(sse: bool, content_encoding: str) -> BodyAccount:
        reader = AnthropicBody(EventMeter(ticket, lease_s), shapes)
        return BodyAccount(reader, sse=sse, content_encoding=content_encoding)

    return account_for
