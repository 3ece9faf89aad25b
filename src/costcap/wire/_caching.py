"""The response cache at the wire: a guarded request looked up before it is admitted, answered
from the cache on a hit, its answer kept on a miss (the guard's cache: ``guard.cache``).

The wrapped clients' cache (:mod:`costcap.integrations._cache_replay`) over a JSON body, with
the same key, policy, leases and keeper:

1. :func:`cache_ask` — the caller's directives (``x-costcap-cache: bypass``: neither read nor
   store; ``Cache-Control: no-store`` neither, ``no-cache`` store only), the output cap the
   policy gives (a refusal is recorded and raised, as admission would) and the request as the
   cache keys it: the body as sent — the routed model, the policy's cap under one name whichever
   field the caller used (per choice for a chat ``n``) — with an Anthropic request's
   ``anthropic-beta`` header as its ``betas``, as the SDK call names them;
2. the transport asks the cache (which holds identical misses behind the first: one fills,
   the others wait for it or, past ``wait_s``, go to the provider themselves);
3. a hit — :func:`replay`: counted on the request-count rate limits and recorded at $0 with what
   it saved (``guard.answer_cached``), answered with the stored bytes: the JSON body, or the
   stored event stream for a streamed request (a chat stream's usage chunk, which costcap asked
   for when it was stored, left out unless the caller asks for it);
4. a miss — :func:`keeper_for`: admitted as usual, its Ticket marked ``cache_miss``; the answer
   is kept as it is read and stored once its call settled: a JSON answer read whole, a stream
   read to its end and settled ``ok`` (never one cut, failed, or closed before its final
   usage); every other ending gives the lead up. A ``no-cache`` request is kept the same way,
   its Ticket not marked.

A gateway's :class:`~costcap.wire.WireContext` says how the cache answered (``context.cache``);
without one a hit carries the header ``x-costcap-cache: hit``, as the wrapped clients' replay.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from costcap.cache import CachedAnswer, CacheRequest, Lookup
from costcap.integrations._cache_answers import Keeper, without_usage_chunk
from costcap.integrations._cache_replay import (
    REPLAY_HEADER,
    Asked,
    cache_control,
    cache_request,
    policy_cap,
)
from costcap.ticket import Ticket
from costcap.wire._calls import CACHE_HEADER, WireCall
from costcap.wire._context import WireContext
from costcap.wire._exchange import module_of

if TYPE_CHECKING:
    import httpx2

    from costcap.guard import AsyncGuard, Guard

__all__ = ["CacheAsk", "admitted", "cache_ask", "keeper_for", "replay"]

_BETA_HEADER = "anthropic-beta"


@dataclass(slots=True)
class CacheAsk:
    """What to ask the cache for one attempt: the request as keyed, and the policy's cap."""

    call: WireCall
    request: CacheRequest
    cap: int
    started: float  # time.perf_counter() when the attempt began

    def asked(self, lookup: Lookup) -> Asked:
        return Asked(self.call, lookup, self.cap, self.started)


def directives(said: Mapping[str, str], headers: Mapping[str, str]) -> tuple[bool, bool]:
    """``(read, write)``: may the cache answer the request, may its answer be stored."""
    if said.get(CACHE_HEADER, "").strip().lower() == "bypass":
        return False, False
    control = headers.get("cache-control")
    return cache_control(control) if control else (True, True)


def cache_ask(
    guard: Guard | AsyncGuard, call: WireCall, said: Mapping[str, str], headers: Mapping[str, str]
) -> CacheAsk:
    """The cache lookup for ``call`` (``said``: its ``x-costcap-*`` headers, ``headers`` the
    rest); a policy refusal of the call is recorded and raised."""
    started = time.perf_counter()
    read, write = directives(said, headers)
    cap = policy_cap(guard, call.admission)
    body: Mapping[str, Any] = call.body
    betas = headers.get(_BETA_HEADER) if call.api == "messages" else None
    if betas:
        body = {**body, "betas": [beta.strip() for beta in betas.split(",") if beta.strip()]}
    request = cache_request(
        call.api, body, call.per_choice(cap), stream=call.stream, admission=call.admission,
        read=read, write=write,
    )  # fmt: skip
    return CacheAsk(call, request, cap, started)


def keeper_for(cache: Any, asked: Asked, context: WireContext | None) -> Keeper | None:
    """A miss's (or a ``no-cache`` request's) keeper; None for a bypass, which goes as without
    a cache. The gateway's context learns how the cache answered."""
    lookup = asked.lookup
    if context is not None:
        context.cache = "miss" if lookup.status == "miss" else "bypass"
    return Keeper(cache, asked) if lookup.key is not None and lookup.write else None


def admitted(keeper: Keeper, ticket: Ticket) -> None:
    """The kept call was admitted as ``ticket`` (a miss's marked ``cache_miss``)."""
    keeper.ticket = ticket
    ticket.cache_miss = keeper.asked.lookup.status == "miss"


def replay(
    request: httpx2.Request, call: WireCall, answer: CachedAnswer, context: WireContext | None
) -> httpx2.Response:
    """The answer to a hit: the stored bytes, as this caller asked for them."""
    body = answer.body
    if call.api == "chat" and answer.shape == "sse" and not call.asks_usage():
        body = without_usage_chunk(body)
    headers = {"content-type": answer.content_type}
    if context is None:
        headers[REPLAY_HEADER] = "hit"
    else:
        context.cache, context.ticket, context.model = "hit", None, call.body["model"]
    response: httpx2.Response = module_of(request).Response(
        200, headers=headers, content=body, request=request
    )
    return response
