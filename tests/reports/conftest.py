"""The two ledger backends every report test runs on, each holding the test ledger."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from costcap.ledger import CostEvent, open_sink
from costcap.reports import Reports
from tests.reports.ledger import EVENTS
from tests.services import drop_postgres_schema, postgres_url

LEDGER_BACKENDS = ["sqlite", "postgres"]


def ledger_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.db'}"
    return postgres_url()


def reports_over(
    events: Sequence[CostEvent], backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Reports]:
    """Reports over a fresh ledger on ``backend`` holding ``events`` (for a fixture to yield
    from: the ledger goes afterwards)."""
    url = ledger_url(backend, tmp_path_factory)
    sink = open_sink(url)
    sink.write(events)
    yield Reports(sink)
    sink.close()
    if backend == "postgres":
        drop_postgres_schema(url)


@pytest.fixture(scope="module", params=LEDGER_BACKENDS)
def reports(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Reports]:
    """Reports over the test ledger, written through the sink in three batches (the last one
    replays the first: rollups must not count it twice)."""
    url = ledger_url(request.param, tmp_path_factory)
    sink = open_sink(url)
    third = len(EVENTS) // 3
    sink.write(EVENTS[:third])
    sink.write(EVENTS[third:])
    sink.write(EVENTS[:third])
    yield Reports(sink)
    sink.close()
    if request.param == "postgres":
        drop_postgres_schema(url)


@pytest.fixture(params=LEDGER_BACKENDS)
def empty_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh, empty ledger on each backend (its schema made by a sink: reports never create
    one)."""
    url = ledger_url(request.param, tmp_path_factory)
    open_sink(url).close()
    yield url
    if request.param == "postgres":
        drop_postgres_schema(url)
