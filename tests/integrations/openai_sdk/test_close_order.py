"""Leaving an async stream early, then closing everything at once, records the partial cost.

``async for chunk in stream: … break`` starts the settle of the abandoned stream at once, in a
task the AsyncGuard holds; the natural clean-up that follows — close the wrapped client, the
AsyncGuard, then the Ledger — waits for that settle and loses nothing. Each test reads the
ledger's own SQLite file afterwards and compares its event with what the fake provider billed
(its record of the request), to the picodollar.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import openai
import pytest

from costcap.testing import FakeProviderServer
from tests.integrations.close_order import Setup, break_after, quiet_loop
from tests.integrations.openai_sdk.conftest import (
    MESSAGES,
    MODEL,
    SLOW,
    async_sdk_client,
    billed_pico,
    served,
)

PACED = {**SLOW, "x-fake-output-tokens": "50"}
Leave = Callable[[openai.AsyncOpenAI], Awaitable[None]]


async def chat(client: openai.AsyncOpenAI) -> Any:
    return await client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, extra_headers=PACED
    )


async def chat_break(client: openai.AsyncOpenAI) -> None:
    await break_after(await chat(client), 3)


async def responses_break(client: openai.AsyncOpenAI) -> None:
    stream = await client.responses.create(
        model=MODEL, input="Say hello.", stream=True, extra_headers=PACED
    )
    await break_after(stream, 3)


async def chat_dropped(client: openai.AsyncOpenAI) -> None:
    stream = await chat(client)
    del stream  # its last reference: dropped before it was ever read


@pytest.fixture
def setup(fp: FakeProviderServer, tmp_path: Path) -> Setup:
    return Setup(async_sdk_client(fp), tmp_path)


@pytest.mark.parametrize("leave", [chat_break, responses_break, chat_dropped])
async def test_break_then_close_everything_records_the_cut(
    setup: Setup, fp: FakeProviderServer, leave: Leave
) -> None:
    """Break out of the stream after three items (or drop it unread), close the client, the
    guard and the ledger at once: the ledger holds one ``cut`` event at exactly what the
    provider billed."""
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
    """The same clean-up logs no error (no "could not settle") and leaves no task exception
    unretrieved (no "Task exception was never retrieved"), even once every task has ended."""
    with caplog.at_level(logging.WARNING):
        await chat_break(setup.client)
        await setup.close_all()
        await quiet_loop()
        gc.collect()  # an unretrieved task exception is reported when its task is collected
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert [c["message"] for c in loop_errors] == []


async def test_async_with_exit_returns_with_the_call_settled(
    setup: Setup, fp: FakeProviderServer
) -> None:
    """``async with stream: async for … break``: when the block exits, the abandoned call is
    settled (its event emitted), not left to a task still running."""
    stream = await chat(setup.client)
    async with stream:
        await break_after(stream, 3)
    assert stream.costcap_ticket.done
    await setup.close_all()
