"""A wrapped Anthropic client keeps nothing per call: a thousand calls later it holds what it
held."""

from __future__ import annotations

from pathlib import Path

import anthropic
import httpx2

from costcap import AsyncGuard
from costcap.integrations.wrap import wrap
from costcap.ledger import Ledger
from costcap.testing import FakeProviderServer
from tests.integrations.anthropic_sdk.conftest import MESSAGES, MODEL
from tests.integrations.replay import AsyncReplay, Tally, held_blocks

CALLS = 1_000
SLACK = 600  # see tests/integrations/openai_sdk/test_memory.py
WARM = 99


async def one_of_each(client: anthropic.AsyncAnthropic, i: int) -> None:
    match i % 3:
        case 0:
            await client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES)
        case 1:
            events = await client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES,
                                                  stream=True)  # fmt: skip
            async for _ in events:
                pass
        case _:
            async with client.messages.stream(model=MODEL, max_tokens=50,
                                              messages=MESSAGES) as stream:  # fmt: skip
                async for _ in stream:
                    pass


async def test_a_wrapped_client_holds_no_memory_per_call(
    fp: FakeProviderServer, tmp_path: Path
) -> None:
    """``messages.create``, plain and streamed, and ``messages.stream``, each admitted, settled
    and written to a real ledger: after 1,000 of them the process holds no more small objects
    than before (within what a collection leaves)."""
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    tally = Tally()
    guard = AsyncGuard("memory://", notifiers=[], observers=[ledger, tally])
    http = httpx2.AsyncClient(transport=AsyncReplay())
    sdk = anthropic.AsyncAnthropic(base_url=fp.anthropic_base_url, api_key="sk-ant-test",
                                   max_retries=0, http_client=http)  # fmt: skip
    async with wrap(sdk, guard=guard) as client:
        for i in range(WARM):  # every kind of call, every cache filled
            await one_of_each(client, i)
        assert ledger.flush()
        before = held_blocks()
        for i in range(CALLS):
            await one_of_each(client, i)
        assert ledger.flush()
        after = held_blocks()
    await guard.close()
    ledger.close()
    assert tally.events == WARM + CALLS
    assert after - before < SLACK
