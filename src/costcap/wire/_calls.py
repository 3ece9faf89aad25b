"""Reading one guarded request's JSON body: what to admit, and the body to send instead.

The wire twin of the SDK wrappers' request shaping (``costcap.integrations._openai_request``,
``_anthropic_request``), over the JSON a client sends rather than an SDK's keyword arguments:

* Chat Completions — ``model``, ``messages``, ``tools``, the cap the caller used
  (``max_completion_tokens``, else ``max_tokens``; with ``n``, each choice gets its share of
  what was admitted), ``service_tier``; sent with the admitted cap in the field(s) the caller
  used, else ``max_completion_tokens``; a stream asks for ``stream_options.include_usage`` (the
  extra usage chunk is hidden from a caller who did not ask for it).
* Responses — ``input``, ``instructions``, ``tools``, ``max_output_tokens``; ``background``
  is refused (its usage is only known later).
* Anthropic Messages — ``messages``, ``system``, ``tools``, ``max_tokens``, fast mode
  (``speed="fast"``).

Who pays: ``x-costcap-user`` / ``x-costcap-feature`` headers, else a ``costcap.attribute``
block, else the client's defaults; the user falls back to the body's own ``user`` /
``safety_identifier`` (OpenAI) or ``metadata.user_id`` (Anthropic). A body naming a route keeps
it until the routing step sends it to a model (:meth:`WireCall.send_to`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from costcap.integrations._attribution import Attribution, metadata_user, pop_call_attribution
from costcap.integrations._routing import asks_route
from costcap.ticket import Routing, Ticket
from costcap.wire._context import WireContext
from costcap.wire._refusals import MalformedRequest
from costcap.wire._routes import Api

__all__ = [
    "CACHE_HEADER",
    "COMPLEXITY_HEADER",
    "COSTCAP_HEADERS",
    "FEATURE_HEADER",
    "USER_HEADER",
    "WireCall",
    "read_call",
]

USER_HEADER = "x-costcap-user"
FEATURE_HEADER = "x-costcap-feature"
#: The tier a request naming ``costcap:auto`` asks for (a tier name: ``simple``, ``complex``…).
COMPLEXITY_HEADER = "x-costcap-complexity"
#: ``x-costcap-cache: bypass``: the response cache neither answers the request nor keeps it.
CACHE_HEADER = "x-costcap-cache"
#: Every ``x-costcap-*`` request header costcap reads (taken off the request before it is sent).
COSTCAP_HEADERS = (USER_HEADER, FEATURE_HEADER, COMPLEXITY_HEADER, CACHE_HEADER)

#: Chat Completions' output caps, in the order the API prefers them.
_CHAT_MAX = ("max_completion_tokens", "max_tokens")
_CAP_FIELD: dict[Api, tuple[str, ...]] = {
    "chat": _CHAT_MAX,
    "responses": ("max_output_tokens",),
    "messages": ("max_tokens",),
}


@dataclass(slots=True)
class WireCall:
    """One guarded request: its API, its parsed body, what to admit, how to meter it."""

    api: Api
    body: dict[str, Any]
    admission: dict[str, Any]  # keyword arguments for ``guard.admit``
    stream: bool
    choices: int = 1  # chat ``n``: the admitted cap is shared by the choices
    usage_injected: bool = False  # costcap asked for the usage chunk; the caller did not
    rewritten: bool = False  # the body differs from the caller's (a routed model)

    @property
    def kind(self) -> Api:
        """The API (as the response cache's keeper names it)."""
        return self.api

    def per_choice(self, cap: int) -> int:
        """The cap a request carries for ``cap`` admitted: chat shares it among its ``n``."""
        return max(1, cap // self.choices)

    def asks_usage(self) -> bool:
        """Whether a chat stream asks for the usage chunk itself (``include_usage``)."""
        options = self.body.get("stream_options")
        return isinstance(options, Mapping) and options.get("include_usage") is True

    def send_to(self, model: str, routing: Routing) -> None:
        """Send the call to ``model``, the router's choice for the route its body names
        (``routing``: the route, which its Ticket carries)."""
        self.body["model"] = model
        self.admission["model"] = model
        self.admission["routing"] = routing
        self.rewritten = True

    def bound(self, ticket: Ticket) -> bytes | None:
        """The body to send: the caller's, carrying the admitted cap (and, for a chat stream,
        ``include_usage``) — or None when the caller's already says exactly that."""
        body = self.body
        names = _CAP_FIELD[self.api]
        cap = self.per_choice(ticket.max_tokens)
        fields = [name for name in names if body.get(name) is not None] or names[:1]
        edits: dict[str, Any] = {name: cap for name in fields if body.get(name) != cap}
        if self.api == "chat" and self.stream:
            self.usage_injected = not self.asks_usage()
            if self.usage_injected:
                options = body.get("stream_options")
                merged = dict(options) if isinstance(options, Mapping) else {}
                edits["stream_options"] = {**merged, "include_usage": True}
        return _dumps({**body, **edits}) if edits or self.rewritten else None


def _dumps(body: Mapping[str, Any]) -> bytes:
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in the JSON): keep it escaped
        return json.dumps(body, separators=(",", ":")).encode("ascii")


def _parse(raw: bytes, api: Api) -> dict[str, Any]:
    try:
        # decoded strictly first: json.loads(bytes) would let a surrogate encoded as bytes
        # (ED A0 80, not UTF-8) through; JSON on the wire is UTF-8 (RFC 8259)
        body = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedRequest(
            f"the body of this {_API_NAMES[api]} request is not JSON ({exc}): costcap cannot "
            "read its model and size, so it is not sent"
        ) from None
    except RecursionError:  # nested deeper than Python's json reads (10,000 × "[")
        raise MalformedRequest(
            f"the body of this {_API_NAMES[api]} request is JSON nested too deeply to read: "
            "costcap cannot read its model and size, so it is not sent"
        ) from None
    if not isinstance(body, dict):
        raise MalformedRequest(
            f"the body of this {_API_NAMES[api]} request is JSON {type(body).__name__}, "
            "not an object: costcap cannot read its model and size, so it is not sent"
        )
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise MalformedRequest(
            f'this {_API_NAMES[api]} request names no model (its body\'s "model" is '
            f"{model!r:.80}): costcap cannot price it, so it is not sent"
        )
    return body


_API_NAMES: dict[Api, str] = {
    "chat": "Chat Completions",
    "responses": "Responses",
    "messages": "Anthropic Messages",
}


def _who(body: Mapping[str, Any], headers: Mapping[str, str], default: Attribution) -> Attribution:
    said: dict[str, Any] = {}
    user, feature = headers.get(USER_HEADER), headers.get(FEATURE_HEADER)
    if user:
        said["costcap_user_id"] = user
    if feature:
        said["costcap_feature"] = feature
    who = pop_call_attribution(said, default)
    if who.user_id is None:
        user = metadata_user(body)
        if user is not None:
            who = Attribution(user_id=user).over(who)
    return who


def read_call(
    api: Api,
    raw: bytes,
    headers: Mapping[str, str],
    default: Attribution,
    context: WireContext | None = None,
) -> WireCall:
    """What the request ``raw`` (its JSON body) asks for, and who pays; ``headers`` are the
    request's (lower-case names); ``context`` a gateway's (who pays, the key's budgets, limits
    and models). Raises :class:`MalformedRequest` for a body costcap cannot read."""
    body = _parse(raw, api)
    who = _who(body, headers, default)
    stream = body.get("stream") is True
    admission: dict[str, Any] = {}
    if context is not None:
        if not asks_route(body):  # a route name: the model it routes to is checked
            context.allow(body["model"])
        who = context.who.over(who)
        if context.budgets:
            admission["budgets"] = context.budgets
        if context.limits:
            admission["limits"] = context.limits
    admission |= {
        "model": body["model"],
        "tools": body.get("tools"),
        "user_id": who.user_id,
        "feature": who.feature,
        "api_key": who.api_key,
        "endpoint": who.endpoint,
        "routing": None,  # a routed call's route (see ``WireCall.send_to``)
    }
    if api == "messages":
        admission.update(
            messages=body.get("messages"), system=body.get("system"),
            max_tokens=body.get("max_tokens"),
            service_tier="fast" if body.get("speed") == "fast" else None,
        )  # fmt: skip
        return WireCall(api, body, admission, stream)
    tier = body.get("service_tier")
    admission["service_tier"] = who.service_tier if tier is None or tier == "auto" else tier
    if api == "responses":
        if body.get("background") is True:
            raise MalformedRequest(
                "costcap cannot meter a background response (its usage is only known later): "
                "send it without background=true"
            )
        instructions = body.get("instructions")
        admission.update(
            input=body.get("input") or "",
            instructions=instructions if isinstance(instructions, str) else None,
            max_tokens=body.get("max_output_tokens"),
        )  # fmt: skip
        return WireCall(api, body, admission, stream)
    n = body.get("n")
    choices = n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1
    requested = next((body[k] for k in _CHAT_MAX if body.get(k) is not None), None)
    if isinstance(requested, int) and not isinstance(requested, bool):
        requested *= choices
    admission.update(messages=body.get("messages"), max_tokens=requested)
    return WireCall(api, body, admission, stream, choices)
