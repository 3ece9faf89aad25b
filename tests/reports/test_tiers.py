"""Spend per model and service tier (``Reports.by_model_tier``), from a ledger small enough to
work its figures out by hand, on SQLite and PostgreSQL; and ledgers older than service tiers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from costcap.errors import ConfigError
from costcap.reports import ModelTierEfficiency, Reports
from tests.ledger.older import make_older
from tests.reports.conftest import LEDGER_BACKENDS, ledger_url, reports_over
from tests.reports.ledger import _CENT, DAY_2, EVENTS, TIERED, _tiered, cost, group, select, usd
from tests.services import drop_postgres_schema


def row(  # noqa: PLR0917 - every field of a row, worked out by hand
    model: str,
    tier: str | None,
    calls: int,
    answered: int,
    tokens: tuple[int, int],
    per_answered: tuple[str, str],
    cost_usd: str,
    avg_usd: str,
    per_1k_usd: str | None,
) -> ModelTierEfficiency:
    return ModelTierEfficiency(
        model=model,
        service_tier=tier,
        calls=calls,
        answered=answered,
        refused=calls - answered,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        input_tokens_per_answered=Decimal(per_answered[0]),
        output_tokens_per_answered=Decimal(per_answered[1]),
        cost_usd=Decimal(cost_usd),
        cost_per_answered_usd=Decimal(avg_usd),
        cost_per_1k_output_usd=None if per_1k_usd is None else Decimal(per_1k_usd),
    )


# gpt-4o ($0.50 in all) ranks before gpt-4o-mini ($0.03 + $0.02 + $0.015 = $0.065); each
# model's tiers follow it, the most expensive first.
PRIORITY = row("gpt-4o", "priority", 2, 2, (2000, 1000), ("1000", "500"), "0.5", "0.25", "0.5")
GPT_4O_NONE = row("gpt-4o", None, 1, 1, (300, 0), ("300", "0"), "0", "0", None)
# $0.03 for 100 output tokens: $0.30 per 1k
MINI_PRIORITY = row(
    "gpt-4o-mini", "priority", 1, 1, (200, 100), ("200", "100"), "0.03", "0.03", "0.3"
)
# 2 x $0.01 over 2 x 50 output tokens: $0.20 per 1k
MINI_NONE = row("gpt-4o-mini", None, 2, 2, (200, 100), ("100", "50"), "0.02", "0.01", "0.2")
# 3 x $0.005 = $0.015 over 3 answered (one more refused) and 120 output tokens: $0.125 per 1k
FLEX = row("gpt-4o-mini", "flex", 4, 3, (300, 120), ("100", "40"), "0.015", "0.005", "0.125")


@pytest.fixture(scope="module", params=LEDGER_BACKENDS)
def reports(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Reports]:
    """Reports over TIERED (read through the writing sink: the current schema)."""
    yield from reports_over(TIERED, request.param, tmp_path_factory)


def test_one_row_per_model_and_tier(reports: Reports) -> None:
    """Every (model, tier) with its hand-computed sums and averages, in report order."""
    assert reports.by_model_tier() == [PRIORITY, GPT_4O_NONE, MINI_PRIORITY, MINI_NONE, FLEX]


def test_the_tiers_of_a_model_add_up_to_its_row(reports: Reports) -> None:
    """by_model's gpt-4o-mini row is the sum of its three tiers: 7 calls, 6 answered, $0.065."""
    (mini,) = [r for r in reports.by_model() if r.model == "gpt-4o-mini"]
    assert (mini.calls, mini.answered, mini.cost_usd) == (7, 6, Decimal("0.065"))


@pytest.mark.parametrize(
    ("filters", "rows"),
    [
        ({"feature": "triage"}, [FLEX]),
        ({"model": "gpt-4o"}, [PRIORITY, GPT_4O_NONE]),
        ({"since": date(2026, 3, 3)}, [FLEX]),
        ({"until": date(2026, 3, 2)}, [PRIORITY, GPT_4O_NONE, MINI_PRIORITY, MINI_NONE]),
        ({"user": "bob"}, [FLEX, GPT_4O_NONE]),  # $0.015 before $0
        ({"user": "alice", "model": "gpt-4o-mini"}, [MINI_PRIORITY, MINI_NONE]),
        ({"user": "bob", "until": date(2026, 3, 2)}, [GPT_4O_NONE]),
        ({"user": "carol"}, []),
    ],
    ids=str,
)
def test_filters_and_ranges(
    reports: Reports, filters: dict[str, str | date], rows: list[ModelTierEfficiency]
) -> None:
    """Feature, model and user filters and date ranges select their calls (a user's are read
    from the events: no rollup keeps users by tier)."""
    assert reports.by_model_tier(**filters) == rows  # type: ignore[arg-type]


def test_an_instant_range_counts_part_of_a_day(reports: Reports) -> None:
    """From 10:01 on March 3rd: the last two flex calls ($0.005 each, 40 output tokens) and the
    refused one — $0.01 over 2 answered, $0.01 x 1000 / 80 = $0.125 per 1k output."""
    since = DAY_2 + timedelta(minutes=1)
    assert reports.by_model_tier(since=since) == [
        row("gpt-4o-mini", "flex", 3, 2, (200, 80), ("100", "40"), "0.01", "0.005", "0.125")
    ]
    assert reports.by_model_tier(since=since, user="bob") == reports.by_model_tier(since=since)


@pytest.fixture(scope="module", params=LEDGER_BACKENDS)
def random_reports(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Reports]:
    """Reports over the random test ledger (service tiers in turn)."""
    yield from reports_over(EVENTS, request.param, tmp_path_factory)


@pytest.mark.parametrize("user", [None, "user-03"])
def test_rows_match_the_events(random_reports: Reports, user: str | None) -> None:
    """Over the random test ledger (tiers in turn), each row's calls, answered calls, tokens and
    cost are those of its events, with or without a user."""
    since = datetime(2026, 3, 2, 13, 30, tzinfo=UTC)
    chosen = select(EVENTS, since=since, user=user)
    expected = {}
    for key, es in group(chosen, lambda e: (e.model, e.service_tier)).items():
        answered = [e for e in es if e.status != "refused"]
        tokens = (sum(e.input_tokens for e in es), sum(e.output_tokens for e in es))
        expected[key] = (len(es), len(answered), tokens, usd(cost(es)))
    found: dict[object, tuple[int, int, tuple[int, int], Decimal]] = {
        (r.model, r.service_tier): (r.calls, r.answered, (r.input_tokens, r.output_tokens),
                                    r.cost_usd)
        for r in random_reports.by_model_tier(since=since, user=user)
    }  # fmt: skip
    assert found == expected
    assert {r.service_tier for r in random_reports.by_model_tier()} == {None, "flex", "priority"}


# -- ledgers from before service tiers ------------------------------------------------------------


@pytest.fixture(params=[(backend, v) for backend in LEDGER_BACKENDS for v in (2, 3)], ids=str)
def older_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A ledger of schema version 2 or 3 holding TIERED: no service-tier column nor rollup."""
    backend, version = request.param
    url = ledger_url(backend, tmp_path_factory)
    make_older(url, version, TIERED)
    yield url
    if backend == "postgres":
        drop_postgres_schema(url)


def test_a_ledger_older_than_tiers_says_so(older_url: str) -> None:
    """Opened read-only, a version 2 or 3 ledger answers by model, and by model and tier with a
    ConfigError that names its version (not an SQL error), with or without a user."""
    with Reports.open(older_url) as reports:
        assert [r.model for r in reports.by_model()] == ["gpt-4o", "gpt-4o-mini"]
        for user in (None, "bob"):
            with pytest.raises(ConfigError, match=r"version [23], which predates service tiers"):
                reports.by_model_tier(user=user)


def test_the_standard_price_under_any_name_is_one_row(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """No tier, OpenAI's ``default`` and Anthropic's ``standard`` are all the standard price:
    one row ($0.01 + $0.02 + $0.03 over 3 calls of 50 output tokens: $0.40 per 1k)."""
    events = [
        *_tiered("a", 1, DAY_2, "gpt-4o-mini", None, "al", "chat", (10, 50), _CENT),
        *_tiered("b", 1, DAY_2, "gpt-4o-mini", "default", "al", "chat", (10, 50), 2 * _CENT),
        *_tiered("c", 1, DAY_2, "gpt-4o-mini", "standard", "al", "chat", (10, 50), 3 * _CENT),
    ]
    for reports in reports_over(events, "sqlite", tmp_path_factory):
        assert reports.by_model_tier() == [
            row("gpt-4o-mini", None, 3, 3, (30, 150), ("10", "50"), "0.06", "0.02", "0.4")
        ]
