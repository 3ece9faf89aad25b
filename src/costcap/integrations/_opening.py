"""Context managers that open what they give when entered and close it when left.

What ``messages.stream(...)`` and ``with_streaming_response.create(...)`` return: nothing is
admitted or sent until the block is entered (a refusal sends nothing); entering admits the call
and opens the stream or response; leaving closes it, which settles the call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

__all__ = ["AsyncOpening", "Opening"]

S = TypeVar("S")


def _once(opened: object) -> None:
    if opened is not None:
        raise RuntimeError(
            "already entered: each call opens one stream, entered once (call again for another)"
        )


class Opening(Generic[S]):
    """``with`` opens (``open_it()``), leaving closes what was opened."""

    def __init__(self, open_it: Callable[[], S]) -> None:
        # An SDK manager's __init__, when a subclass is one, is not called: opening is costcap's.
        self._open = open_it
        self._opened: S | None = None

    def __enter__(self) -> S:
        _once(self._opened)
        self._opened = self._open()
        return self._opened

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        if self._opened is not None:
            opened: Any = self._opened
            opened.close()


class AsyncOpening(Generic[S]):
    """``async with`` opens (``await open_it()``), leaving closes what was opened."""

    def __init__(self, open_it: Callable[[], Awaitable[S]]) -> None:
        self._open = open_it
        self._opened: S | None = None

    async def __aenter__(self) -> S:
        _once(self._opened)
        self._opened = await self._open()
        return self._opened

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        if self._opened is not None:
            opened: Any = self._opened
            await opened.close()
