"""What an OpenAI response body says about its call's cost, read through
``with_streaming_response`` (see :mod:`costcap.integrations._metered_body`).

Each SSE event is built into the SDK's own ``ChatCompletionChunk`` or Responses stream event and
shown to the :class:`~costcap.integrations._openai_stream.Tap` a plain stream uses; a JSON body
is built into the SDK's ``ChatCompletion`` / ``Response`` and settled like a plain answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from openai._models import construct_type
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent

from costcap.integrations._body_account import BodyAccount, TallyReader
from costcap.integrations._openai_request import Call, Kind, result_usage, served_tier
from costcap.integrations._openai_stream import Tap
from costcap.ticket import Ticket

__all__ = ["OpenAIBody", "account", "body_usage"]

_EVENTS: dict[str, object] = {"chat": ChatCompletionChunk, "responses": ResponseStreamEvent}
_RESULTS: dict[str, type[Any]] = {"chat": ChatCompletion, "responses": Response}


class OpenAIBody(TallyReader[Tap]):
    """The :class:`~costcap.integrations._body_account.BodyReader` of one OpenAI call."""

    __slots__ = ("_call",)

    def __init__(self, tap: Tap, call: Call) -> None:
        super().__init__(tap)
        self._call = call

    def event(self, data: str) -> None:
        if data.startswith("[DONE]"):
            return
        value = json.loads(data)
        if not isinstance(value, dict) or value.get("error"):  # the SDK raises it: no output
            return
        self._tally.see(construct_type(value=value, type_=_EVENTS[self._call.kind]))

    def result(self, body: bytes) -> tuple[object, str | None]:
        return body_usage(body, self._tally.ticket, self._call.kind)


def body_usage(body: bytes, ticket: Ticket, kind: Kind) -> tuple[object, str | None]:
    """The usage and served tier of a non-streamed answer's JSON body."""
    answer = construct_type(value=json.loads(body), type_=_RESULTS[kind])
    return result_usage(answer, ticket, kind), served_tier(answer)


def account(tap: Tap, call: Call) -> Callable[[bool, str], BodyAccount]:
    """``account_for`` of :func:`~costcap.integrations._metered_body.meter_body`: the body's
    events go to ``tap``."""

    def account_for(sse: bool, content_encoding: str) -> BodyAccount:
        return BodyAccount(OpenAIBody(tap, call), sse=sse, content_encoding=content_encoding)

    return account_for
