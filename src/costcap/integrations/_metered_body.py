"""``with_streaming_response``: the SDK's streaming ``APIResponse``, its body metered as it is read.

Whatever the caller reads it with (``iter_lines()``, ``iter_bytes()``, ``iter_text()``,
``read()``, ``json()``, ``text()``, ``parse()``), the SDK's response reads its body through
``http_response.stream``. :func:`meter_body` puts a :class:`MeteredBytes` (or
:class:`AsyncMeteredBytes`) there, which shows every piece to a
:class:`~costcap.integrations._body_account.BodyAccount` before passing it on, and settles the
call exactly once, when the body ends:

========================================== ==================================================
how the body ends                          settled as
========================================== ==================================================
read to its end                            ``ok``: the provider's usage
its output would pass the reservation      ``cut``: upstream closed, partial cost, StreamCut
(an SSE body)                              raised to the reader
closed before its end (leaving the         SSE: as a plain stream left early (what was read;
``with`` block, ``close()``)               under a strict guard the reservation). JSON: its
                                           rest is read first (the provider generated and
                                           billed all of it) and settled at its usage
the provider or the network failed         ``error``: partial cost (SSE), the reservation (JSON)
========================================== ==================================================

The upstream is closed BEFORE the settle. ``with_streaming_response.create(...)`` returns an
:class:`~costcap.integrations._opening.Opening` (``AsyncOpening``): entering it admits the call
and sends it; leaving it closes the response, which settles the call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping
from typing import Any, TypeVar

import anyio
import httpx
import httpx2

from costcap.integrations._body_account import BodyAccount, Ending
from costcap.integrations._meter import StreamCut

__all__ = [
    "AsyncMeteredBytes",
    "MeteredBytes",
    "ask_plain_body",
    "meter_body",
]

log = logging.getLogger("costcap.integrations")

R = TypeVar("R")


def ask_plain_body(kwargs: dict[str, Any]) -> None:
    """Ask for the body without a content encoding (``extra_headers``), unless the caller named
    one: the bytes the caller reads are then the bytes costcap meters."""
    headers = kwargs.get("extra_headers")
    headers = dict(headers) if isinstance(headers, MutableMapping) else {}
    if not any(name.lower() == "accept-encoding" for name in headers):
        headers["Accept-Encoding"] = "identity"
    kwargs["extra_headers"] = headers


def meter_body(response: R, guard: Any, account_for: Callable[[bool, str], BodyAccount]) -> R:
    """Meter the body of the SDK's streaming ``response`` (sync or async);
    ``account_for(sse, content_encoding)`` builds its account. Returns ``response``."""
    http = response.http_response  # type: ignore[attr-defined]
    sse = http.headers.get("content-type", "").startswith("text/event-stream")
    account = account_for(sse, http.headers.get("content-encoding", ""))
    if isinstance(http.stream, httpx2.AsyncByteStream | httpx.AsyncByteStream):
        http.stream = AsyncMeteredBytes(http.stream, guard, account)
    else:
        http.stream = MeteredBytes(http.stream, guard, account)
    return response


class _Metered:
    """What the sync and async metered streams share: their source, their account, settling."""

    def __init__(self, inner: Any, guard: Any, account: BodyAccount) -> None:
        self._inner = inner
        self._guard = guard
        self._account = account
        self.done = False  # settled, or being settled: never twice

    @property
    def elapsed(self) -> Any:
        """The response's elapsed time, which httpx keeps on its own stream."""
        return getattr(self._inner, "elapsed", None)

    @elapsed.setter
    def elapsed(self, value: Any) -> None:
        self._inner.elapsed = value

    def _claim(self, ending: Ending) -> Ending | None:
        """The ending to settle with, once; None when already settled."""
        if self.done:
            return None
        self.done = True
        return ending


# -- sync -------------------------------------------------------------------------------------


class MeteredBytes(_Metered, httpx2.SyncByteStream, httpx.SyncByteStream):
    """The response's byte stream, each piece metered on its way to the reader."""

    def __init__(self, inner: Any, guard: Any, account: BodyAccount) -> None:
        super().__init__(inner, guard, account)
        self._source: Iterator[bytes] | None = None

    def _pieces(self) -> Iterator[bytes]:
        if self._source is None:
            self._source = iter(self._inner)
        return self._source

    def __iter__(self) -> Iterator[bytes]:
        if self.done:
            return
        account, lease_due = self._account, self._account.meter.lease_due
        try:
            for piece in self._pieces():
                account.feed(piece)
                if lease_due():
                    self._renew()
                yield piece
            account.end()
        except GeneratorExit:  # the reader went away: the response's close() settles
            raise
        except StreamCut:
            self._finish("cut", quiet=True)
            raise
        except Exception:  # the provider or the network failed mid-body
            self._finish("failed", quiet=True)
            raise
        self._finish("completed", quiet=False)

    def close(self) -> None:
        """Close the body (the response's ``close()``) and settle what was read."""
        self._finish("stopped", quiet=False)

    def _renew(self) -> None:
        ticket = self._account.meter.ticket
        try:
            self._guard.extend(ticket)
        except Exception:  # read on; at worst the lease expires and charges it in full
            log.warning("could not renew the lease of call %s", ticket.id, exc_info=True)

    def _rest(self) -> Ending:
        """Read the rest of a JSON body (its usage is at its end)."""
        try:
            for piece in self._pieces():
                self._account.feed(piece)
            self._account.end()
        except Exception:
            log.warning("could not read the rest of the body of call %s",
                        self._account.meter.ticket.id, exc_info=True)  # fmt: skip
            return "stopped"
        return "completed"

    def _finish(self, ending: Ending, *, quiet: bool) -> None:
        claimed = self._claim(ending)
        if claimed is None:
            return
        try:
            if claimed == "stopped" and self._account.needs_rest:
                claimed = self._rest()
            self._inner.close()
        finally:
            self._settle(claimed, quiet=quiet)

    def _settle(self, ending: Ending, *, quiet: bool) -> None:
        account = self._account
        ticket = account.meter.ticket
        try:
            s = account.settlement(ending)
            self._guard.settle(ticket, s.usage, stream=account.sse, status=s.status,
                               service_tier=s.service_tier)  # fmt: skip
        except Exception:
            if not quiet:
                raise
            log.exception("could not settle call %s; its lease will charge it in full", ticket.id)

    def __del__(self) -> None:
        if not getattr(self, "done", True):  # dropped unclosed: last resort
            self._finish("stopped", quiet=True)


# -- async ------------------------------------------------------------------------------------


class AsyncMeteredBytes(_Metered, httpx2.AsyncByteStream, httpx.AsyncByteStream):
    """The async twin of :class:`MeteredBytes`."""

    def __init__(self, inner: Any, guard: Any, account: BodyAccount) -> None:
        super().__init__(inner, guard, account)
        self._source: AsyncIterator[bytes] | None = None
        self._finished: anyio.Event | None = None  # set once the settle has ended
        self._finisher: int | None = None  # the task settling

    def _pieces(self) -> AsyncIterator[bytes]:
        if self._source is None:
            self._source = self._inner.__aiter__()
        return self._source

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.done:
            return
        account, lease_due = self._account, self._account.meter.lease_due
        try:
            async for piece in self._pieces():
                account.feed(piece)
                if lease_due():
                    await self._renew()
                yield piece
            account.end()
        except GeneratorExit:  # the reader went away: the response's aclose() settles
            raise
        except StreamCut:
            await self._finish("cut", quiet=True)
            raise
        except Exception:
            await self._finish("failed", quiet=True)
            raise
        except BaseException:  # the reading task was cancelled
            await self._finish("stopped", quiet=True)
            raise
        await self._finish("completed", quiet=False)

    async def aclose(self) -> None:
        """Close the body (the response's ``close()``) and settle what was read."""
        await self._finish("stopped", quiet=False)

    async def _renew(self) -> None:
        ticket = self._account.meter.ticket
        try:
            await self._guard.extend(ticket)
        except Exception:  # as MeteredBytes._renew
            log.warning("could not renew the lease of call %s", ticket.id, exc_info=True)

    async def _rest(self) -> Ending:
        try:
            async for piece in self._pieces():
                self._account.feed(piece)
            self._account.end()
        except Exception:
            log.warning("could not read the rest of the body of call %s",
                        self._account.meter.ticket.id, exc_info=True)  # fmt: skip
            return "stopped"
        return "completed"

    async def _finish(self, ending: Ending, *, quiet: bool) -> None:
        claimed = self._claim(ending)
        if claimed is None:  # settled, or being settled by another task: wait for it, so that
            # leaving ``async with`` returns with the call settled and recorded
            if self._finished is not None and self._finisher != anyio.get_current_task().id:
                with anyio.CancelScope(shield=True):
                    await self._finished.wait()
            return
        self._finished, self._finisher = anyio.Event(), anyio.get_current_task().id
        # Shielded: a cancelled reader still closes the upstream and settles.
        with anyio.CancelScope(shield=True):
            try:
                if claimed == "stopped" and self._account.needs_rest:
                    claimed = await self._rest()
                await self._inner.aclose()
            finally:
                try:
                    await self._settle(claimed, quiet=quiet)
                finally:
                    self._finished.set()

    async def _settle(self, ending: Ending, *, quiet: bool) -> None:
        account = self._account
        ticket = account.meter.ticket
        try:
            s = account.settlement(ending)
            await self._guard.settle(ticket, s.usage, stream=account.sse, status=s.status,
                                     service_tier=s.service_tier)  # fmt: skip
        except Exception:
            if not quiet:
                raise
            log.exception("could not settle call %s; its lease will charge it in full", ticket.id)

    def __del__(self) -> None:
        if getattr(self, "done", True):
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            log.warning("the body of call %s was dropped unclosed outside its event loop; its "
                        "lease will charge it in full", self._account.meter.ticket.id)  # fmt: skip
            return
        self._guard._in_background(self._finish("stopped", quiet=True))
