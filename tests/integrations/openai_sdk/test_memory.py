"""A wrapped OpenAI client keeps nothing per call: a thousand calls later it holds what it held."""

from __future__ import annotations

from pathlib import Path

import httpx2
import openai

from costcap import Guard
from costcap.integrations.wrap import wrap
from costcap.ledger import Ledger
from costcap.testing import FakeProviderServer
from tests.integrations.openai_sdk.conftest import MESSAGES, MODEL
from tests.integrations.replay import Replay, Tally, held_blocks

CALLS = 1_000
# An object kept per call would add ≥ 1,000 blocks. A process that keeps nothing per call still
# varies between two counts, by the bounded caches it refills (the ISO text of recent seconds,
# token counts of recent texts): seen within −170 … +190 over 1,000 calls, and within +430 of
# the first count over 16,000 calls.
SLACK = 600
WARM = 100


def one_of_each(client: openai.OpenAI, i: int) -> None:
    match i % 4:
        case 0:
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
        case 1:
            with client.chat.completions.create(model=MODEL, messages=MESSAGES,
                                                stream=True) as chunks:  # fmt: skip
                for _ in chunks:
                    pass
        case 2:
            client.responses.create(model=MODEL, input="Say hello.")
        case _:
            with client.responses.create(model=MODEL, input="Say hello.", stream=True) as events:
                for _ in events:
                    pass


def test_a_wrapped_client_holds_no_memory_per_call(fp: FakeProviderServer, tmp_path: Path) -> None:
    """Chat and Responses calls, plain and streamed, each admitted, settled and written to a real
    ledger: after 1,000 of them the process holds no more small objects than before (within
    what a collection leaves). No budget: the memory store's lease heap keeps a bounded
    saw-tooth of settled entries, tested in ``tests/stores/test_memory.py``."""
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    tally = Tally()
    guard = Guard("memory://", notifiers=[], observers=[ledger, tally])
    http = httpx2.Client(transport=Replay())
    sdk = openai.OpenAI(base_url=fp.openai_base_url, api_key="sk-test", max_retries=0,
                        http_client=http)  # fmt: skip
    with wrap(sdk, guard=guard) as client:
        for i in range(WARM):  # every kind of call, every cache filled
            one_of_each(client, i)
        assert ledger.flush()
        before = held_blocks()
        for i in range(CALLS):
            one_of_each(client, i)
        assert ledger.flush()
        after = held_blocks()
    guard.close()
    ledger.close()
    assert tally.events == WARM + CALLS
    assert after - before < SLACK
