"""The seed's SQL runs as written on the ``cost_logs`` view, over events the Ledger wrote."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from costcap.ledger import Ledger
from tests.ledger.conftest import event, fetch

SEED_POSTGRES = (
    "SELECT user_id, SUM(cost_usd) FROM cost_logs "
    "WHERE date >= date_trunc('month', NOW()) GROUP BY user_id"
)
SEED_SQLITE = (
    "SELECT user_id, SUM(cost_usd) FROM cost_logs "
    "WHERE date >= date('now', 'start of month') GROUP BY user_id"
)


def test_monthly_spend_per_user_from_the_seed_sql(ledger_url: str) -> None:
    """This month's spend per user, in dollars, excluding last month's events."""
    old = datetime.now(UTC) - timedelta(days=40)
    with Ledger(ledger_url) as ledger:
        ledger.record(event(1, user_id="alice", cost_pico=1_500_000_000_000))  # $1.50
        ledger.record(event(2, user_id="alice", cost_pico=250_000_000))  # $0.00025
        ledger.record(event(3, user_id="bob", cost_pico=3_000_000_000_000))  # $3
        ledger.record(event(4, user_id="bob", cost_pico=9_000_000_000_000, ts=old))
        assert ledger.flush()
    postgres = ledger_url.startswith("postgresql")
    rows = dict(fetch(ledger_url, SEED_POSTGRES if postgres else SEED_SQLITE))
    if postgres:  # exact NUMERIC
        assert rows == {"alice": Decimal("1.50025"), "bob": Decimal("3")}
    else:  # REAL on SQLite (sum cost_pico for exact figures)
        assert rows == {"alice": pytest.approx(1.50025), "bob": pytest.approx(3.0)}
