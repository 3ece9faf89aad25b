"""Replaying the fake provider's answers, and counting the memory a process holds and the events
a Guard emitted.

For tests that make thousands of calls: the fake provider keeps a record of every request (its
memory grows with each), so they talk to it once per kind of request and replay its answer.
"""

from __future__ import annotations

import gc
import json
import sys

import httpx2

from costcap.ledger import CostEvent

Key = tuple[str, bool]
Answer = tuple[int, bytes, str]


def _key(request: httpx2.Request) -> Key:
    return request.url.path, json.loads(request.content).get("stream") is True


def _answer(response: httpx2.Response) -> Answer:
    return response.status_code, response.content, response.headers["content-type"]


def _replayed(answer: Answer) -> httpx2.Response:
    status, content, content_type = answer
    return httpx2.Response(status, content=content, headers={"content-type": content_type})


class Replay(httpx2.BaseTransport):
    """Answers each request with the fake provider's first answer to the same path and
    ``stream`` flag: the SDK's and costcap's work per call, without a server's."""

    def __init__(self) -> None:
        self.inner = httpx2.HTTPTransport()
        self.answers: dict[Key, Answer] = {}

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        key = _key(request)
        if key not in self.answers:
            response = self.inner.handle_request(request)
            try:
                response.read()
                self.answers[key] = _answer(response)
            finally:
                response.close()
        return _replayed(self.answers[key])

    def close(self) -> None:
        self.inner.close()


class AsyncReplay(httpx2.AsyncBaseTransport):
    """:class:`Replay` for an async client."""

    def __init__(self) -> None:
        self.inner = httpx2.AsyncHTTPTransport()
        self.answers: dict[Key, Answer] = {}

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        key = _key(request)
        if key not in self.answers:
            response = await self.inner.handle_async_request(request)
            try:
                await response.aread()
                self.answers[key] = _answer(response)
            finally:
                await response.aclose()
        return _replayed(self.answers[key])

    async def aclose(self) -> None:
        await self.inner.aclose()


def held_blocks() -> int:
    """The small objects this process holds (``sys.getallocatedblocks``, after a collection):
    steady from call to call when nothing is kept per call; an object kept per call adds at
    least one block."""
    gc.collect()
    return sys.getallocatedblocks()


class Tally:
    """An observer counting the events a Guard emits (keeping them would be a leak)."""

    def __init__(self) -> None:
        self.events = 0

    def on_event(self, event: CostEvent) -> None:
        self.events += 1
