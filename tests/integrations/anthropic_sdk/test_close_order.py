"""Leaving an async stream early, then closing everything at once, records the partial cost.

Whatever the loop left (a ``create(stream=True)`` stream, a ``messages.stream()`` manager
iterated directly, its ``text_stream``), ``break`` starts the settle at once, in a task the
AsyncGuard holds; closing the wrapped client, the AsyncGuard, then the Ledger waits for it and
loses nothing. Each test reads the ledger's own SQLite file afterwards and compares its event
with what the fake provider billed (its record of the request), to the picodollar.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anthropic
import pytest

from costcap.testing import FakeProviderServer
from tests.integrations.anthropic_sdk.conftest import (
    MESSAGES,
    MODEL,
    SLOW,
    async_sdk_client,
    billed_pico,
    served,
)
from tests.integrations.close_order import Setup, break_after, quiet_loop

Leave = Callable[[anthropic.AsyncAnthropic], Awaitable[None]]


async def raw_stream(client: anthropic.AsyncAnthropic) -> None:
    stream = await client.messages.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, stream=True, extra_headers=SLOW
    )
    await break_after(stream, 5)


async def manager(client: anthropic.AsyncAnthropic) -> None:
    await break_after(
        client.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES, extra_headers=SLOW),
        5,
    )


async def text_stream(client: anthropic.AsyncAnthropic) -> None:
    manager = client.messages.stream(
        model=MODEL, max_tokens=50, messages=MESSAGES, extra_headers=SLOW
    )
    stream = await manager.__aenter__()  # never left: only the text loop's break closes it
    await break_after(stream.text_stream, 3)


async def raw_dropped(client: anthropic.AsyncAnthropic) -> None:
    stream = await client.messages.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, stream=True, extra_headers=SLOW
    )
    del stream  # its last reference: dropped before it was ever read


@pytest.fixture
def setup(fp: FakeProviderServer, tmp_path: Path) -> Setup:
    return Setup(async_sdk_client(fp), tmp_path)


@pytest.mark.parametrize("leave", [raw_stream, manager, text_stream, raw_dropped])
async def test_break_then_close_everything_records_the_cut(
    setup: Setup, fp: FakeProviderServer, leave: Leave
) -> None:
    """Break out of the stream's loop early (or drop it unread), close the client, the guard
    and the ledger at once: the ledger holds one ``cut`` event at exactly what the provider
    billed."""
    await leave(setup.client)
    await setup.close_all()
    await asyncio.to_thread(served, fp)
    assert fp.last.disconnect == "client"
    [(status, cost_pico)] = setup.recorded()
    assert status == "cut"
    assert cost_pico == billed_pico(fp) > 0


async def test_break_then_close_everything_reports_no_error(
    setup: Setup, loop_errors: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    """The same clean-up logs no error and leaves no task exception unretrieved (no "Task
    exception was never retrieved … the SQLite store is closed"), even once every task ended."""
    with caplog.at_level(logging.WARNING):
        await raw_stream(setup.client)
        await setup.close_all()
        await quiet_loop()
        gc.collect()  # an unretrieved task exception is reported when its task is collected
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert [c["message"] for c in loop_errors] == []


async def test_async_with_exit_returns_with_the_call_settled(
    setup: Setup, fp: FakeProviderServer
) -> None:
    """``async with stream: async for … break`` on a raw ``create(stream=True)`` stream: when
    the block exits, the abandoned call is settled (its event emitted)."""
    stream = await setup.client.messages.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, stream=True, extra_headers=SLOW
    )
    async with stream:
        await break_after(stream, 3)
    assert stream.ticket.done
    await setup.close_all()
