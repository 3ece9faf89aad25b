"""A ledger in another process, for the crash and sharing tests (run with ``-m``).

``burst URL SPOOL``  record events in a tight loop; after each ``record`` returns, write its
                     request_id and a newline to stdout (one ``os.write``: what was acknowledged).
``hold URL SPOOL N`` record N events, never drain them, print ``ready`` and wait to be killed.
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


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "burst":
        burst(*args)
    else:
        hold(args[0], args[1], int(args[2]))
