"""Shared pieces of the observability tests: a recording observer and a request."""

from __future__ import annotations

import pytest

from costcap.ledger import CostEvent

HELLO = [{"role": "user", "content": "Hello"}]


class Recorder:
    """Keeps every event the Guard reports, to compare telemetry against."""

    def __init__(self) -> None:
        self.events: list[CostEvent] = []

    def on_event(self, event: CostEvent) -> None:
        self.events.append(event)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
