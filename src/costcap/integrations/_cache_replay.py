"""The response cache in the wrapped clients: the request as the cache keys it, the caller's
cache directives, and answers replayed as the SDK's own objects.

A hit is replayed by running the SDK's own method on a copy of the client (``with_options``)
whose HTTP transport answers every request with the cached bytes: ``create`` / ``parse`` give
the SDK's ``ChatCompletion`` / ``Response`` / ``Message``, ``stream=True`` the SDK's stream
class over the stored event sequence, ``with_raw_response`` / ``with_streaming_response`` the
SDK's raw classes — whatever the SDK builds from those bytes, as it would from the provider's.
The copy sends nothing anywhere: its transport only ever answers from the cache.

A guarded call on a client with a cache goes (sync and async alike):

1. ``read, write = directives(kwargs)``; the call is read as without a cache (who pays, …);
2. ``cap = guard.cache_cap(...)``: the output cap the policy gives (the key holds it);
3. ``lookup = cache.lookup(CacheRequest(provider, endpoint, cache_body(kwargs, (field, cap)),
   shape="sse" if streamed else "json", feature, user_id, api_key, read, write))``;
4. a hit: ``guard.answer_cached(lookup.answer, …)`` (request-count rate limits still count it;
   no budget is reserved), then the caller's own path run on :func:`replay_client` inside
   :func:`replaying` — the caller gets what an uncached call would have given them for their
   request (a usage chunk costcap asked for on their behalf stays hidden);
5. a miss: admitted as usual with ``ticket.cache_miss`` set; a complete answer (a plain call
   settled ``ok``, a stream read to its natural end) is stored with
   ``cache.store(lookup, CachedAnswer(…, cost_pico=<its settled cost>))``; every other ending
   (an error, a refusal, a stream cut, left early or dropped, a cancellation) calls
   ``cache.abandon(lookup)``, so identical requests waiting on it go on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx2

from costcap.cache import CachedAnswer, CacheRequest, Lookup

if TYPE_CHECKING:
    from costcap.guard import AsyncGuard, Guard

__all__ = [
    "KEYED",
    "REPLAY_HEADER",
    "SDK_OPTIONS",
    "Asked",
    "answer_hit",
    "answer_hit_async",
    "cache_body",
    "cache_control",
    "cache_request",
    "directives",
    "policy_cap",
    "replay_client",
    "replaying",
    "sse_event",
]

#: The SDK call options that are not part of the request body.
SDK_OPTIONS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout"})
#: The header a replayed answer carries (``raw.headers["x-costcap-cache"] == "hit"``).
REPLAY_HEADER = "x-costcap-cache"

_ANSWER: ContextVar[CachedAnswer | None] = ContextVar("costcap_cached_answer", default=None)


@dataclass(slots=True)
class Asked:
    """A call on a client with a cache: what was asked (the SDK's call as costcap read it:
    its ``admission`` keyword arguments and ``stream`` flag), and what the cache said."""

    call: Any
    lookup: Lookup
    cap: int  # the output cap the policy gives the call: the key holds it
    started: float  # time.perf_counter() when the call began


def policy_cap(guard: Guard | AsyncGuard, admission: Mapping[str, Any]) -> int:
    """The output cap the policy gives the call ``admission`` describes (a refusal is recorded
    and raised)."""
    return guard.cache_cap(
        model=admission["model"], max_tokens=admission["max_tokens"],
        user_id=admission["user_id"], feature=admission["feature"],
        api_key=admission["api_key"], endpoint=admission["endpoint"],
        routing=admission["routing"],
    )  # fmt: skip


def _hit_kwargs(asked: Asked) -> dict[str, Any]:
    a = asked.call.admission
    return {
        "requested_model": a["model"], "user_id": a["user_id"], "feature": a["feature"],
        "api_key": a["api_key"], "endpoint": a["endpoint"], "stream": asked.call.stream,
        "started": asked.started, "routing": a["routing"], "limits": a.get("limits", ()),
    }  # fmt: skip


def answer_hit(guard: Guard, asked: Asked) -> CachedAnswer:
    """Count a hit on the request-count rate limits (``RateLimited`` propagates) and record it
    at $0; the answer to replay."""
    answer = asked.lookup.answer
    assert answer is not None
    guard.answer_cached(answer, **_hit_kwargs(asked))
    return answer


async def answer_hit_async(guard: AsyncGuard, asked: Asked) -> CachedAnswer:
    """:func:`answer_hit` for an async client."""
    answer = asked.lookup.answer
    assert answer is not None
    await guard.answer_cached(answer, **_hit_kwargs(asked))
    return answer


def cache_body(kwargs: Mapping[str, Any], cap: tuple[str, int] | None) -> dict[str, Any]:
    """The request body an SDK call sends, as the cache keys it: its keyword arguments
    without the SDK's call options, ``extra_body`` merged in (it wins on the wire), and the
    output cap the policy gives (``cap``: the field and its value) in place of the caller's."""
    body = {name: value for name, value in kwargs.items() if name not in SDK_OPTIONS}
    extra = kwargs.get("extra_body")
    if isinstance(extra, Mapping):
        body.update(extra)
    if cap is not None:
        for name in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
            body.pop(name, None)
        body[cap[0]] = cap[1]
    return body


#: Per API: the provider and endpoint the cache keys a call under, and the name the key gives
#: its output cap whichever field the caller used (the wrapped clients and the guarded HTTP
#: transports key one request alike).
KEYED: dict[str, tuple[str, str, str]] = {
    "chat": ("openai", "chat.completions", "max_completion_tokens"),
    "responses": ("openai", "responses", "max_output_tokens"),
    # messages and beta.messages: one wire format (``betas`` is in the key)
    "messages": ("anthropic", "messages", "max_tokens"),
}


def cache_request(
    api: str, kwargs: Mapping[str, Any], cap: int, *, stream: bool,
    admission: Mapping[str, Any], read: bool, write: bool,
) -> CacheRequest:  # fmt: skip
    """The request of an ``api`` call (``chat``, ``responses``, ``messages``) as the cache keys
    it: its body (``kwargs``, see :func:`cache_body`) carrying ``cap``, the answer's shape, and
    who asks (``admission``: the call's keyword arguments for ``guard.admit``)."""
    provider, endpoint, cap_field = KEYED[api]
    return CacheRequest(
        provider=provider, endpoint=endpoint, body=cache_body(kwargs, (cap_field, cap)),
        shape="sse" if stream else "json", feature=admission["feature"],
        user_id=admission["user_id"], api_key=admission["api_key"], read=read, write=write,
    )  # fmt: skip


def directives(kwargs: dict[str, Any]) -> tuple[bool, bool]:
    """``(read, write)``: may the cache answer this call, may its answer be stored. The
    caller's ``costcap_cache=False`` (removed from ``kwargs``) says neither;
    ``Cache-Control: no-store`` in ``extra_headers`` neither, ``no-cache`` store only."""
    own = kwargs.pop("costcap_cache", True)
    if own is False:
        return False, False
    headers = kwargs.get("extra_headers")
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            if isinstance(name, str) and name.lower() == "cache-control" and isinstance(value, str):
                return cache_control(value)
    return True, True


def cache_control(value: str) -> tuple[bool, bool]:
    """``(read, write)`` for a ``Cache-Control`` header: ``no-store`` neither, ``no-cache``
    store only (the provider is asked, its answer kept)."""
    words = {w.strip().lower() for w in value.split(",")}
    if "no-store" in words:
        return False, False
    if "no-cache" in words:
        return False, True
    return True, True


def sse_event(data: Mapping[str, Any] | str, event: str | None = None) -> bytes:
    """One server-sent event, as the providers write them."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {text}\n\n".encode()


@contextmanager
def replaying(answer: CachedAnswer) -> Iterator[None]:
    """Within the block, the replay clients answer with ``answer``."""
    token = _ANSWER.set(answer)
    try:
        yield
    finally:
        _ANSWER.reset(token)


def _response(request: httpx2.Request) -> httpx2.Response:
    answer = _ANSWER.get()
    if answer is None:  # only the cache's own code sends through a replay client
        raise RuntimeError("a costcap replay client was asked for an answer outside replaying()")
    headers = {"content-type": answer.content_type, REPLAY_HEADER: "hit"}
    return httpx2.Response(200, headers=headers, content=answer.body, request=request)


class _ReplayTransport(httpx2.BaseTransport):
    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        return _response(request)


class _AsyncReplayTransport(httpx2.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return _response(request)


def replay_client(client: Any) -> Any:
    """A copy of the SDK ``client`` that answers every request from :func:`replaying`'s answer
    (no retries, no network)."""
    http: httpx2.Client | httpx2.AsyncClient
    if type(client).__name__.startswith("Async"):
        http = httpx2.AsyncClient(transport=_AsyncReplayTransport())
    else:
        http = httpx2.Client(transport=_ReplayTransport())
    return client.with_options(http_client=http, max_retries=0)
