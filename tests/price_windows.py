"""A model priced by time of day, for tests that must not depend on the shipped price data.

``acme-offpeak`` costs $3 / $15 per million input / output tokens, and half that, $1.50 / $7.50,
from 20:00 to 04:00 UTC: an off-peak window of 8 of the day's 24 hours that crosses midnight.
It is added to genai-prices' bundled data for the duration of :func:`offpeak_prices`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest

MODEL = "acme-offpeak"
PEAK = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # standard prices in force
OFF_PEAK = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)  # half prices in force


@contextmanager
def offpeak_prices() -> Iterator[str]:
    """genai-prices' data with ``acme-offpeak`` added; yields the model's name."""
    from genai_prices import data_snapshot, types

    model = types.ModelInfo(
        id=MODEL,
        match=types.ClauseEquals(equals=MODEL),
        prices=[
            types.ConditionalPrice(
                prices=types.ModelPrice(input_mtok=Decimal("3"), output_mtok=Decimal("15"))
            ),
            types.ConditionalPrice(
                constraint=types.TimeOfDateConstraint(
                    start_time=time(20, 0, tzinfo=UTC), end_time=time(4, 0, tzinfo=UTC)
                ),
                prices=types.ModelPrice(input_mtok=Decimal("1.5"), output_mtok=Decimal("7.5")),
            ),
        ],
    )
    acme = types.Provider(
        id="acme", name="Acme", api_pattern=r"https://api\.acme\.test", models=[model]
    )
    bundled = data_snapshot.get_snapshot()
    data_snapshot.set_custom_snapshot(
        data_snapshot.DataSnapshot(providers=[*bundled.providers, acme], from_auto_update=False)
    )
    try:
        yield MODEL
    finally:
        data_snapshot.set_custom_snapshot(None)


def cli_with_offpeak(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> Iterator[str]:
    """For ``costcap`` run in-process: ``acme-offpeak`` priced, no costcap.toml found unless
    passed (``workdir`` is the working directory), and the command run at :data:`PEAK`."""
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("COSTCAP_CONFIG", raising=False)
    runs_at(monkeypatch, PEAK)
    with offpeak_prices() as name:
        yield name


def runs_at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """The minute a ``costcap`` command runs."""
    from costcap.cli import price_timing

    monkeypatch.setattr(price_timing, "now", lambda: moment)
