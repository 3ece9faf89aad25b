"""What the close-order tests of both SDKs share: a SQLite store and a SQLite Ledger under the
test's directory, an AsyncGuard recording into that ledger, a wrapped async SDK client — closed
in the natural order — and a way to wait until the event loop has nothing else left to run.
(The ``loop_errors`` fixture is in ``tests/integrations/conftest.py``.)"""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from costcap import AsyncGuard, Budget
from costcap.integrations.wrap import wrap
from costcap.ledger import Ledger


class Setup:
    """``sdk_client`` wrapped, its AsyncGuard on ``tmp_path/store.db`` recording into a Ledger on
    ``tmp_path/ledger.db``."""

    def __init__(self, sdk_client: Any, tmp_path: Path) -> None:
        self.ledger_path = tmp_path / "ledger.db"
        self.ledger = Ledger(f"sqlite:///{self.ledger_path}", spool_dir=tmp_path / "spool")
        self.guard = AsyncGuard(
            f"sqlite:///{tmp_path / 'store.db'}",
            budgets=[Budget(scope="global", period="day", limit_usd=100)],
            notifiers=[],
            observers=[self.ledger],
        )
        self.client: Any = wrap(sdk_client, guard=self.guard)

    async def close_all(self) -> None:
        """The natural order: the client, the guard, the ledger."""
        await self.client.close()
        await self.guard.close()
        self.ledger.close()

    def recorded(self) -> list[tuple[str, int]]:
        """``(status, cost_pico)`` of every event in the ledger's database."""
        with closing(sqlite3.connect(self.ledger_path)) as db:
            return db.execute("SELECT status, cost_pico FROM costcap_events").fetchall()


async def break_after(stream: Any, items: int) -> None:
    """Iterate ``stream`` in a plain ``async for`` and break out after ``items`` items."""
    seen = 0
    async for _ in stream:
        seen += 1
        if seen == items:
            break


async def quiet_loop() -> None:
    """Wait until no task but this one is left on the event loop: whatever the clean-up left
    running (a stream settled where nobody waited for it) has ended."""
    current = asyncio.current_task()
    while others := [task for task in asyncio.all_tasks() if task is not current]:
        await asyncio.wait(others)
