"""Every report's counts say what they count: ``calls`` (all, refused included), ``answered``,
``refused``; averages per call are per answered call. Figures worked out by hand on a small
ledger."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from costcap.reports import Reports
from tests.reports.conftest import LEDGER_BACKENDS, reports_over
from tests.reports.ledger import HAND_BUILT, HAND_BUILT_DAY


@pytest.fixture(scope="module", params=LEDGER_BACKENDS)
def reports(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Reports]:
    """Reports over the hand-built ledger."""
    yield from reports_over(HAND_BUILT, request.param, tmp_path_factory)


def test_users_cost_per_answered_call(reports: Reports) -> None:
    """Each user's calls are split into answered and refused, and the average is the spend
    over answered calls: alice $0.30 / 30 = $0.01, bob $0.20 / 5 = $0.04."""
    rows = {
        r.user: (r.calls, r.answered, r.refused, r.cost_usd, r.cost_per_answered_usd)
        for r in reports.top_users()
    }
    assert rows == {
        "alice": (55, 30, 25, Decimal("0.30"), Decimal("0.01")),
        "bob": (10, 5, 5, Decimal("0.20"), Decimal("0.04")),
    }


def test_features_count_calls_answered_and_refused(reports: Reports) -> None:
    """chat: 65 calls = 35 answered + 30 refused, $0.50."""
    ((feature, *counts),) = [
        (r.feature, r.calls, r.answered, r.refused, r.cost_usd) for r in reports.by_feature()
    ]
    assert (feature, *counts) == ("chat", 65, 35, 30, Decimal("0.50"))


def test_models_average_per_answered_call(reports: Reports) -> None:
    """gpt-4o-mini: 65 calls, 35 answered, 30 refused; 100 input and 50 output tokens per
    answered call; $0.50 / 35 = $0.014285714286 per answered call (to the picodollar)."""
    (row,) = reports.by_model()
    assert (row.calls, row.answered, row.refused) == (65, 35, 30)
    assert (row.input_tokens_per_answered, row.output_tokens_per_answered) == (
        Decimal(100),
        Decimal(50),
    )
    assert row.cost_per_answered_usd == Decimal("0.014285714286")


def test_time_buckets_count_calls_answered_and_refused(reports: Reports) -> None:
    """The day's bucket: 65 calls = 35 answered + 30 refused."""
    (row,) = reports.over_time(since=HAND_BUILT_DAY, until=HAND_BUILT_DAY)
    assert (row.start, row.calls, row.answered, row.refused) == (HAND_BUILT_DAY, 65, 35, 30)


def test_cache_hit_rate_is_per_answered_call(reports: Reports) -> None:
    """The cache savings count answered calls only (35), the base of their hit rate."""
    (row,) = reports.cache_savings()
    assert (row.answered, row.cache_hits, row.hit_rate) == (35, 0, Decimal(0))


def test_the_cache_reports_hit_rate_is_per_cacheable_call(reports: Reports) -> None:
    """The cache report's hit rate is over the calls the cache was asked about: of chat's 35
    answered calls none was, so it has no hit rate (not 0 %)."""
    (row,) = reports.cache_use()
    assert (row.cacheable, row.cache_hits, row.hit_rate) == (0, 0, None)
