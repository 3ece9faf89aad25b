"""Rate-limit rules in their familiar string form."""

from __future__ import annotations

import pytest

from costcap.errors import ConfigError
from costcap.limits import RateLimit


@pytest.mark.parametrize(
    ("rate", "kind", "limit", "window"),
    [
        ("20/minute", "requests", 20, 60),
        ("100 per hour", "requests", 100, 3600),
        ("5/2 minutes", "requests", 5, 120),
        ("100000 tokens/hour", "tokens", 100_000, 3600),
        ("1_000_000 tokens/day", "tokens", 1_000_000, 86400),
        ("$2/day", "dollars", 2_000_000, 86400),
        ("$0.50 per hour", "dollars", 500_000, 3600),
        ("5 concurrent", "concurrent", 5, 0),
    ],
)
def test_rates_parse(rate: str, kind: str, limit: int, window: float) -> None:
    """Each form becomes its kind, its limit in units (micro-dollars for $) and its window."""
    rule = RateLimit(rate)
    assert (rule.kind, rule.limit, rule.window_s) == (kind, limit, window)


def test_per_combines_identities() -> None:
    """``per="user,endpoint"`` keys the limit on both."""
    assert RateLimit("20/minute", per="user,endpoint").identity == ("user", "endpoint")


@pytest.mark.parametrize(
    ("rate", "per", "message"),
    [
        ("twenty/minute", "user", "not a rate"),
        ("20/fortnight", "user", "not a time window"),
        ("0/minute", "user", "must be positive"),
        ("1.5/minute", "user", "whole number"),
        ("$0.0000001/day", "user", "finer than a micro-dollar"),
        ("20/minute", "team", "per must be"),
        ("100/0 minutes", "user", "'0 minutes' is an empty window"),
        ("1/minute, 5/hour", "user", "is not a time window"),
        ("1/2 years", "user", "a window is at most 366 days"),
        ("1000000000000001 tokens/hour", "user", "above 1,000,000,000,000,000"),
        ("$1000000000.000001/day", "user", r"above \$1,000,000,000"),
    ],
)
def test_bad_rules_name_the_problem(rate: str, per: str, message: str) -> None:
    """A rule that cannot be enforced is a ConfigError saying why."""
    with pytest.raises(ConfigError, match=message):
        RateLimit(rate, per=per)


def test_policy_header_follows_the_ietf_draft() -> None:
    """The rule renders as a RateLimit-Policy item with quota, window and unit."""
    assert RateLimit("20/minute", name="chat").policy_header == '"chat";q=20;w=60;qu="requests"'


def test_longest_window_and_largest_limit_are_accepted() -> None:
    """A year of the ``limits`` grammar is 360 days (under 366) and 10**15 tokens is allowed."""
    rule = RateLimit("1000000000000000 tokens/year")
    assert (rule.limit, rule.window_s) == (10**15, 360 * 86400)


@pytest.mark.parametrize(
    ("rate", "per", "message"),
    [
        (None, "user", "rate must be a non-empty string"),
        ("20/minute", None, "per must be a string"),
    ],
)
def test_arguments_of_the_wrong_type_are_named(rate: object, per: object, message: str) -> None:
    """None is a ConfigError naming the argument, not a TypeError from the regex."""
    with pytest.raises(ConfigError, match=message):
        RateLimit(rate, per=per)  # type: ignore[arg-type]
