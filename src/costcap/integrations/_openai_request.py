"""Shaping one OpenAI call for costcap: what to admit, and what the outgoing request must carry.

Pure functions over the SDK call's keyword arguments (no I/O), shared by the sync and async
clients. ``kwargs`` is the caller's own dict of keyword arguments, edited in place: the
``costcap_*`` arguments are removed, iterables the admission reads are made lists (so the SDK
still has them to send), and the admitted ``max_tokens`` is written where the API reads it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from openai import NotGiven, Omit

from costcap.integrations._attribution import Attribution, metadata_user, pop_call_attribution
from costcap.pricing import Usage
from costcap.ticket import Ticket
from costcap.tokens import count_text

__all__ = [
    "Call",
    "apply_chat",
    "apply_responses",
    "asks_usage",
    "chat_call",
    "chat_cap",
    "chat_text",
    "counted_usage",
    "interrupted_usage",
    "responses_call",
    "result_usage",
]

log = logging.getLogger("costcap.integrations.openai")

Kind = Literal["chat", "responses"]

#: Chat Completions' output caps, in the order the API prefers them.
CHAT_MAX = ("max_completion_tokens", "max_tokens")
RESPONSES_MAX = "max_output_tokens"


def given(value: object) -> bool:
    """Whether a keyword argument was really passed (``None``, ``omit`` and ``NOT_GIVEN``
    all leave the field out or null on the wire)."""
    return value is not None and not isinstance(value, NotGiven | Omit)


@dataclass(slots=True)
class Call:
    """One OpenAI call as costcap sees it: what to admit, and how to shape and meter it."""

    kind: Kind
    admission: dict[str, Any]  # keyword arguments for ``guard.admit``
    stream: bool
    choices: int = 1  # chat ``n``: max_tokens bounds each choice, the reservation all of them
    usage_injected: bool = False  # costcap asked for the usage chunk; the caller did not
    kept: Any = None  # a cache miss's Keeper, which the stream's Tap ends once settled


def _who(kwargs: dict[str, Any], default: Attribution) -> dict[str, str | None]:
    """Who pays, and the service tier the call asks for (``auto`` or none: the client's)."""
    who = pop_call_attribution(kwargs, default)
    user = who.user_id if who.user_id is not None else metadata_user(kwargs)
    tier = _requested(kwargs, ("service_tier",))
    if tier is None or tier == "auto":
        tier = who.service_tier
    return {"user_id": user, "feature": who.feature, "api_key": who.api_key,
            "endpoint": who.endpoint, "service_tier": tier, "routing": who.route}  # fmt: skip


def _model(kwargs: Mapping[str, Any]) -> str:
    model = kwargs.get("model")
    if not isinstance(model, str) or not model:
        raise TypeError("costcap needs model= (a string) to price and admit the call")
    return model


def _as_list(kwargs: dict[str, Any], name: str) -> Any:
    """The argument, made a list when it is a one-shot iterable the admission would consume."""
    value = kwargs.get(name)
    if type(value) is list:  # the common case
        return value
    if not given(value):
        return None
    if isinstance(value, Iterable) and not isinstance(value, list | tuple | str | bytes | Mapping):
        value = kwargs[name] = list(value)
    return value


def _requested(kwargs: Mapping[str, Any], names: Iterable[str]) -> Any:
    """The caller's output cap: ``extra_body`` wins on the wire, then the fields in order."""
    extra = kwargs.get("extra_body")
    for source in (extra if isinstance(extra, Mapping) else {}, kwargs):
        for name in names:
            if given(source.get(name)):
                return source[name]
    return None


def chat_call(kwargs: dict[str, Any], default: Attribution) -> Call:
    """Read a ``chat.completions.create`` call (``kwargs`` loses its ``costcap_*`` entries)."""
    who = _who(kwargs, default)
    n = kwargs.get("n")
    choices = n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1
    requested = _requested(kwargs, CHAT_MAX)
    if isinstance(requested, int) and not isinstance(requested, bool):
        requested *= choices
    admission = {
        "model": _model(kwargs),
        "messages": _as_list(kwargs, "messages"),
        "tools": _as_list(kwargs, "tools"),
        "max_tokens": requested,
        "modalities": _requested(kwargs, ("modalities",)),  # ["text", "audio"]: audio output
        **who,
    }
    return Call("chat", admission, kwargs.get("stream") is True, choices)


def responses_call(kwargs: dict[str, Any], default: Attribution) -> Call:
    """Read a ``responses.create`` call (``kwargs`` loses its ``costcap_*`` entries)."""
    if kwargs.get("background") is True:
        raise NotImplementedError(
            "costcap cannot meter a background response (its usage is only known later): "
            "call responses.create without background=True, or guard it with guard.admit/settle"
        )
    who = _who(kwargs, default)
    instructions = kwargs.get("instructions")
    admission = {
        "model": _model(kwargs),
        "input": _as_list(kwargs, "input") or "",
        "instructions": instructions if isinstance(instructions, str) else None,
        "tools": _as_list(kwargs, "tools"),
        "max_tokens": _requested(kwargs, (RESPONSES_MAX,)),
        **who,
    }
    return Call("responses", admission, kwargs.get("stream") is True)


def _add_to_body(kwargs: dict[str, Any], fields: Mapping[str, object]) -> None:
    """Send ``fields`` in the request body through ``extra_body`` (merged over the caller's own).

    Fields the caller did not pass go there rather than into the SDK's keyword arguments: the
    wire is the same, but the SDK validates and transforms every keyword argument through its
    type hints, which costs more than all of costcap's own work on the call (measured in
    ``benchmarks/results/wrap.md``)."""
    extra = kwargs.get("extra_body")
    kwargs["extra_body"] = {**extra, **fields} if isinstance(extra, Mapping) else dict(fields)


def _write_cap(kwargs: dict[str, Any], names: tuple[str, ...], value: int) -> None:
    """Set the cap in the fields the caller used (``extra_body``'s too: it wins on the wire),
    else send the first of ``names`` in the body."""
    extra = kwargs.get("extra_body")
    in_extra = [n for n in names if n in extra] if isinstance(extra, Mapping) else []
    if in_extra:
        _add_to_body(kwargs, dict.fromkeys(in_extra, value))
    own = [n for n in names if given(kwargs.get(n))]
    for name in own:
        kwargs[name] = value
    if not own and not in_extra:
        _add_to_body(kwargs, {names[0]: value})


def chat_cap(call: Call, max_tokens: int) -> int:
    """The cap a chat request carries for ``max_tokens`` admitted: per choice (``n``)."""
    return max(1, max_tokens // call.choices)


def _stream_options(kwargs: Mapping[str, Any]) -> tuple[bool, dict[str, Any]]:
    """Whether the caller passed ``stream_options`` as a keyword argument (else ``extra_body``
    may carry it), and a copy of the options they sent."""
    own = given(kwargs.get("stream_options"))
    extra = kwargs.get("extra_body")
    source = kwargs if own else extra if isinstance(extra, Mapping) else {}
    options = source.get("stream_options")
    return own, dict(options) if isinstance(options, Mapping) else {}


def asks_usage(kwargs: Mapping[str, Any]) -> bool:
    """Whether a streamed chat call asks for the usage chunk itself (``include_usage``)."""
    return _stream_options(kwargs)[1].get("include_usage") is True


def apply_chat(kwargs: dict[str, Any], call: Call, ticket: Ticket) -> None:
    """The request carries the admitted cap (per choice) and, streamed, asks for usage."""
    _write_cap(kwargs, CHAT_MAX, chat_cap(call, ticket.max_tokens))
    if call.stream:
        own, merged = _stream_options(kwargs)
        call.usage_injected = merged.get("include_usage") is not True
        merged["include_usage"] = True
        if own:
            kwargs["stream_options"] = merged
        else:
            _add_to_body(kwargs, {"stream_options": merged})


def apply_responses(kwargs: dict[str, Any], call: Call, ticket: Ticket) -> None:
    """The request carries the admitted cap (the Responses API reports usage in its last event)."""
    _write_cap(kwargs, (RESPONSES_MAX,), ticket.max_tokens)


def _counted_input(ticket: Ticket) -> int:
    return ticket.input_tokens


def counted_usage(ticket: Ticket, text: str) -> Usage:
    """The input costcap counted at admission plus ``text`` counted as output: for an answer
    that carries no usage (some OpenAI-compatible servers), never priced as $0."""
    return Usage(input_tokens=_counted_input(ticket), output_tokens=count_text(text, ticket.model))


def interrupted_usage(ticket: Ticket, *, stream: bool) -> Usage:
    """What to charge a call interrupted (cancelled, KeyboardInterrupt) while in flight.

    A provider finishes — and bills — a non-streamed generation whose client went away, so
    it is charged its worst case; a streamed one stops generating, so its prompt alone.
    """
    return Usage(
        input_tokens=_counted_input(ticket), output_tokens=0 if stream else ticket.max_tokens
    )


def result_usage(result: Any, ticket: Ticket, kind: Kind) -> object:
    """The usage a non-streamed answer reports, else costcap's count of its text."""
    usage = getattr(result, "usage", None)
    if usage is not None:
        return usage
    log.warning("call %s answered without usage; settling costcap's count", ticket.id)
    text = chat_text(result) if kind == "chat" else getattr(result, "output_text", "") or ""
    return counted_usage(ticket, text)


def served_tier(response: Any) -> str | None:
    """The service tier an OpenAI response (chat completion, chunk or Responses ``Response``)
    says it was served at."""
    tier = getattr(response, "service_tier", None)
    return tier if isinstance(tier, str) else None


def chat_text(completion: Any) -> str:
    """Every generated text of a ChatCompletion (content, refusals, tool-call arguments)."""
    parts: list[str] = []
    for choice in getattr(completion, "choices", None) or ():
        message = choice.message
        parts.extend(t for t in (message.content, message.refusal) if t)
        for tool_call in message.tool_calls or ():
            function = getattr(tool_call, "function", None)
            if function is not None:
                parts.extend(t for t in (function.name, function.arguments) if t)
    return "".join(parts)
