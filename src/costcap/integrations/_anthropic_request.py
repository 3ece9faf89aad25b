"""What one Anthropic messages call asks for: its SDK arguments, who pays, what to admit."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from anthropic import APIConnectionError, APIStatusError, NotGiven, Omit

from costcap.integrations._attribution import Attribution, metadata_user, pop_call_attribution
from costcap.integrations._routing import Sdk
from costcap.pricing import Usage
from costcap.ticket import Ticket

__all__ = ["SDK", "Call", "interrupted", "read_call"]

#: What routing falls back from on the Anthropic SDK: a provider that failed.
SDK = Sdk("anthropic", (APIStatusError, APIConnectionError))


@dataclass(slots=True)
class Call:
    """One call's SDK keyword arguments and what the guard is asked to admit."""

    kwargs: dict[str, Any]
    admission: dict[str, Any]
    stream: bool

    def bound(self, ticket: Ticket) -> dict[str, Any]:
        """The SDK keyword arguments, carrying the ticket's ``max_tokens``."""
        self.kwargs["max_tokens"] = ticket.max_tokens
        return self.kwargs


# Body fields the SDK lets extra_body override, taken as the call's own: what is admitted, bounded
# and priced is what is sent.
_OWN = ("max_tokens", "model", "speed")


def _given(value: Any) -> Any:
    """``None`` for an argument the SDK leaves out (``omit`` / ``NOT_GIVEN`` / ``None``)."""
    return None if value is None or isinstance(value, (NotGiven, Omit)) else value


def read_call(kwargs: dict[str, Any], default: Attribution, *, stream: bool = False) -> Call:
    """Resolve who pays (removing ``costcap_*`` arguments) and what to admit, from a copy of
    the call's keyword arguments; ``stream`` marks a ``messages.stream(...)`` call."""
    kwargs = dict(kwargs)
    kwargs.pop("costcap_cache", None)  # a client without a cache has nothing to bypass
    who = pop_call_attribution(kwargs, default)
    user = who.user_id if who.user_id is not None else metadata_user(kwargs)
    extra = kwargs.get("extra_body")
    if isinstance(extra, Mapping) and not extra.keys().isdisjoint(_OWN):
        extra = dict(extra)
        kwargs.update({key: extra.pop(key) for key in _OWN if key in extra})
        kwargs["extra_body"] = extra
    for key in ("messages", "tools"):
        if isinstance(kwargs.get(key), Iterator):  # a one-shot iterable: counted, then sent
            kwargs[key] = list(kwargs[key])
    model = kwargs.get("model")
    if not isinstance(model, str) or not model:
        raise TypeError(f"an Anthropic messages call needs model= (a model name), not {model!r}")
    admission = {
        "model": model,
        "messages": _given(kwargs.get("messages")),
        "max_tokens": _given(kwargs.get("max_tokens")),
        "system": _given(kwargs.get("system")),
        "tools": _given(kwargs.get("tools")),
        "user_id": user,
        "feature": who.feature,
        "api_key": who.api_key,
        "endpoint": who.endpoint,
        "service_tier": "fast" if kwargs.get("speed") == "fast" else None,  # fast mode's price
        "routing": who.route,  # set on a call the router sent (costcap.integrations._routing)
    }
    return Call(kwargs, admission, stream or kwargs.get("stream") is True)


def interrupted(ticket: Ticket, call: Call) -> Usage:
    """What a call interrupted in flight may have cost: its prompt as counted at admission, and
    ``max_tokens`` of output when not streamed (the provider finishes the generation)."""
    counted = ticket.input_tokens
    return Usage(input_tokens=counted, output_tokens=0 if call.stream else ticket.max_tokens)
