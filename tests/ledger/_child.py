"""A ledger in another process, for the crash and sharing tests (run with ``-m``).

``burst URL SPOOL``  record events in a tight loop; after each ``record`` returns, write its
                     request_id and a newline to stdout (one ``os.write``: what was acknowledged).
``hold URL SPOOL N`` record N events, never drain them, print ``ready`` and wait to be killed.
``call URL SPOOL BASE_URL`` make one wrapped OpenAI chat call (alice, chat, gpt-4o-mini, "hi",
                     max_tokens 100) to the fake provider at BASE_URL, answered after a minute:
                     the call stays in flight until the process is killed.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime

from costcap.ledger import CostEvent, Ledger


def _event(rid: str, n: int) -> CostEvent:
    return CostEvent(
        request_id=rid,
        ts=datetime.now(UTC),
        status="ok",
        model="gpt-4o-mini",
        user_id=f"u{n % 7}",
        input_tokens=10,
        output_tokens=5,
        cost_pico=1000 + n % 13,
    )


def burst(url: str, spool: str) -> None:
    # small segments, so the burst also rotates, drains and deletes segments when it is killed
    ledger = Ledger(url, spool_dir=spool, segment_bytes=64 * 1024, flush_interval_s=0.02)
    n = 0
    while True:
        rid = f"{os.getpid()}-{n}"
        ledger.record(_event(rid, n))
        os.write(1, f"{rid}\n".encode())
        n += 1


def hold(url: str, spool: str, count: int) -> None:
    ledger = Ledger(url, spool_dir=spool, flush_interval_s=3600, batch_size=10**6)
    for n in range(count):
        ledger.record(_event(f"held-{n}", n))
    os.write(1, b"ready\n")
    time.sleep(3600)


def call(url: str, spool: str, base_url: str) -> None:
    import openai

    from costcap import Budget, Guard, wrap

    ledger = Ledger(url, spool_dir=spool, flush_interval_s=3600)  # drains nothing: killed first
    guard = Guard("memory://", budgets=[Budget(scope="global", period="day", limit_usd=10)],
                  observers=[ledger])  # fmt: skip
    client = wrap(openai.OpenAI(base_url=base_url, api_key="test", max_retries=0), guard=guard,
                  user_id="alice", feature="chat")  # fmt: skip
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=100,
        extra_headers={"x-fake-latency-ms": "60000"},
    )


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "burst":
        burst(*args)
    elif mode == "call":
        call(*args)
    else:
        hold(args[0], args[1], int(args[2]))
