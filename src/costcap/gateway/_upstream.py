"""The gateway's connections to the providers: aiohttp's client behind the ``httpx2`` transport
interface the guarded transport takes as its ``inner``.

Why not ``httpx2.AsyncHTTPTransport``: on the reference VM its request path (httpcore, h11, the
anyio socket layer) costs ≈ 0.8 ms a proxied request, against ≈ 0.45 ms for aiohttp's, whose
HTTP parser is compiled — measured with the same uvicorn front and fake provider
(``benchmarks/gateway/``). The guarded transport above it is unchanged: admission, the bound
body, stream metering and settling are the same code the SDK clients run.

The body is passed on as the provider sent it (aiohttp does not decompress; the ``httpx2``
response decodes as it is read). A response read to its end returns its connection to the pool;
one closed before its end (a client that went away, a stream cut at its reservation) closes the
connection, so the provider stops generating.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import httpx2

__all__ = ["UpstreamTransport"]

_NOT_FORWARDED = frozenset({"content-length", "transfer-encoding", "connection"})


def _timeout(extensions: Mapping[str, Any]) -> aiohttp.ClientTimeout:
    said = extensions.get("timeout") or {}
    return aiohttp.ClientTimeout(
        total=None, connect=said.get("connect"), sock_read=said.get("read")
    )


class _Body(httpx2.AsyncByteStream):
    """A provider's answer as it arrives."""

    __slots__ = ("_answer",)

    def __init__(self, answer: aiohttp.ClientResponse) -> None:
        self._answer = answer

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._answer.content.iter_any():
                yield chunk
        except TimeoutError as exc:
            raise httpx2.ReadTimeout(f"the provider went quiet: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise httpx2.ReadError(f"reading the provider's answer failed: {exc}") from exc

    async def aclose(self) -> None:
        answer = self._answer
        if answer.content.at_eof():
            answer.release()  # read to the end: the connection serves the next request
        else:
            answer.close()  # left early: close the connection, the provider stops


class UpstreamTransport(httpx2.AsyncBaseTransport):
    """An ``httpx2`` async transport over one ``aiohttp.ClientSession`` (opened on first use,
    in the running loop), keeping up to ``connections`` connections alive."""

    def __init__(self, *, connections: int = 1000) -> None:
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self._connections, limit_per_host=0)
        self._session = aiohttp.ClientSession(
            connector=connector, auto_decompress=False, skip_auto_headers=("Accept-Encoding",)
        )
        return self._session

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        session = self._session or self._open()
        headers = [(k, v) for k, v in request.headers.multi_items() if k not in _NOT_FORWARDED]
        body = await request.aread()
        try:
            answer = await session.request(
                request.method, str(request.url), headers=headers, data=body or None,
                timeout=_timeout(request.extensions), allow_redirects=False,
            )  # fmt: skip
        except TimeoutError as exc:
            raise httpx2.ConnectTimeout(f"the provider did not answer in time: {exc}") from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx2.ConnectError(f"cannot connect to the provider: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise httpx2.RemoteProtocolError(f"the provider's answer failed: {exc}") from exc
        return httpx2.Response(
            answer.status, headers=list(answer.raw_headers), stream=_Body(answer),
            request=request,
        )  # fmt: skip

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
