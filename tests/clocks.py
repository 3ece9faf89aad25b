"""A clock a test sets by hand, for ``Guard(clock=…)``: time moves only when the test says."""

from __future__ import annotations

from datetime import datetime, timedelta


class Clock:
    """Returns ``now``; ``advance`` moves it on."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
