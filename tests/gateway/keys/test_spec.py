"""Key specs from the command line's spellings, and the VirtualKey record."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from costcap.errors import ConfigError
from costcap.gateway.keys import KeySpec, VirtualKey, parse_expiry, parse_key_spec

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_a_spec_keeps_the_spellings_given() -> None:
    spec = parse_key_spec(
        user="alice", feature="chat", models=" gpt-4o , o3,gpt-4o", budgets=[" $5/day "],
        limits=["100000 tokens/hour", "$2/day"],
    )  # fmt: skip
    assert spec.models == ("gpt-4o", "o3")
    assert spec.budgets == ("$5/day",)
    assert spec.limits == ("100000 tokens/hour", "$2/day")


@pytest.mark.parametrize(
    ("spelling", "period", "micros"),
    [("$5/day", "day", 5_000_000), ("$20/week", "week", 20_000_000),
     ("100/month", "month", 100_000_000), ("$2.50/rolling:24h", "rolling:1d", 2_500_000),
     ("$0.000001 / rolling:90m", "rolling:90m", 1)],
)  # fmt: skip
def test_budget_spellings(spelling: str, period: str, micros: int) -> None:
    key = VirtualKey("ck_1", None, None, None, None, NOW, budget_specs=(spelling,))
    (budget,) = key.budgets
    assert (budget.window.label, budget.limit_micros, budget.mode) == (period, micros, "hard")
    assert budget.name == f"key:ck_1:{period}"


@pytest.mark.parametrize(
    ("limit", "kind", "amount", "window_s"),
    [("20/minute", "requests", 20, 60.0), ("100000 tokens/hour", "tokens", 100_000, 3600.0),
     ("$2/day", "dollars", 2_000_000, 86400.0), ("5 concurrent", "concurrent", 5, 0.0)],
)  # fmt: skip
def test_limit_spellings(limit: str, kind: str, amount: int, window_s: float) -> None:
    key = VirtualKey("ck_1", None, None, None, None, NOW, limit_specs=(limit,))
    (rule,) = key.limits
    assert (rule.kind, rule.limit, rule.window_s, rule.identity) == (
        kind, amount, window_s, ("key",),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [("90m", NOW + timedelta(minutes=90)), ("12h", NOW + timedelta(hours=12)),
     ("30d", NOW + timedelta(days=30)), ("2w", NOW + timedelta(days=14)),
     ("2027-01-01", datetime(2027, 1, 1, tzinfo=UTC)),
     ("2027-01-01T09:00:00+02:00", datetime(2027, 1, 1, 7, tzinfo=UTC)),
     ("2027-01-01T09:00:00", datetime(2027, 1, 1, 9, tzinfo=UTC))],
)  # fmt: skip
def test_expiry_spellings(spelling: str, expected: datetime) -> None:
    assert parse_expiry(spelling, NOW) == expected


@pytest.mark.parametrize(
    ("options", "message"),
    [({"budgets": ["$5/fortnight"]}, "budget '$5/fortnight': 'fortnight' is not a period"),
     ({"budgets": ["$5"]}, "budget '$5': write it as $AMOUNT/PERIOD"),
     ({"budgets": ["$five/day"]}, "budget '$five/day': amount is not a dollar amount"),
     ({"budgets": ["$-1/day"]}, "must not be negative"),
     ({"budgets": ["$0.0000001/day"]}, "budget '$0.0000001/day': limit_usd is finer than a micro"),
     ({"budgets": ["$2000000000/day"]}, "above the largest limit"),
     ({"budgets": ["$5/day", "$9/daily"]}, "budget '$9/daily': the key has another budget per day"),
     ({"budgets": ["$1/rolling:400d"]}, "at most 366 days"),
     ({"limits": ["20/fortnight"]}, "rate limit '20/fortnight': 'fortnight' is not a time window"),
     ({"limits": ["lots"]}, "rate limit 'lots': not a rate"),
     ({"limits": ["5/minute", " 5/minute"]}, "given twice"),
     ({"models": ","}, "each must be a non-empty name"),
     ({"models": "gpt-4o,,o3"}, "each must be a non-empty name"),
     ({"user": ""}, "a key's user must be non-empty text"),
     ({"feature": "a\x00b"}, "control character"),
     ({"name": "x" * 300}, "longer than 256"),
     ({"expires": "0d"}, "at least 1"),
     ({"expires": "soon"}, "not a duration (30d, 12h, 90m, 2w) nor a date"),
     ({"expires": "2020-01-01"}, "is not in the future"),
     ({"expires": "99999d"}, "more than a century")],
)  # fmt: skip
def test_bad_spellings_are_config_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_key_spec(now=NOW, **options)  # type: ignore[arg-type]
    assert message in str(caught.value)


def test_a_spec_built_directly_is_checked_too() -> None:
    with pytest.raises(ConfigError, match="not a period"):
        KeySpec(budgets=("$5/fortnight",))
    with pytest.raises(ConfigError, match="list of spellings"):
        KeySpec(budgets="$5/day")  # type: ignore[arg-type]


def test_states_in_order_revoked_before_expired() -> None:
    key = VirtualKey("ck_1", None, None, None, None, NOW, expires_at=NOW + timedelta(hours=1))
    assert key.state(NOW) == "active"
    assert key.state(NOW + timedelta(hours=1)) == "expired"
    revoked = VirtualKey("ck_1", None, None, None, None, NOW, NOW + timedelta(hours=1), NOW)
    assert revoked.state(NOW - timedelta(days=1)) == "revoked"


def test_models_none_allows_every_model() -> None:
    anything = VirtualKey("ck_1", None, None, None, None, NOW)
    some = VirtualKey("ck_1", None, None, None, ("gpt-4o",), NOW)
    assert anything.allows_model("o3")
    assert some.allows_model("gpt-4o")
    assert not some.allows_model("o3")


def test_to_json_holds_every_field_and_round_trips() -> None:
    key = VirtualKey("ck_1", "n", "u", "f", ("m",), NOW, NOW + timedelta(days=1), None,
                     ("$5/day",), ("20/minute",))  # fmt: skip
    data = json.loads(json.dumps(key.to_json(NOW)))
    assert data == {
        "id": "ck_1", "name": "n", "user": "u", "feature": "f", "models": ["m"],
        "budgets": ["$5/day"], "limits": ["20/minute"], "created_at": NOW.isoformat(),
        "expires_at": (NOW + timedelta(days=1)).isoformat(), "revoked_at": None,
        "state": "active",
    }  # fmt: skip
