"""Policy: every call leaves with max_tokens; allow-lists; per-request dollar caps."""

from __future__ import annotations

from decimal import Decimal

import pytest

from costcap.errors import ConfigError
from costcap.policy import (
    CostCapExceeded,
    MaxTokensExceeded,
    ModelNotAllowed,
    Policy,
    PolicyViolation,
    Rule,
)


def test_missing_max_tokens_is_injected() -> None:
    """A call without max_tokens gets the policy default, and says so."""
    bounds = Policy(default_max_tokens=700).bound(model="gpt-4o", feature=None, max_tokens=None)
    assert (bounds.max_tokens, bounds.injected, bounds.clamped) == (700, True, False)


def test_feature_default_wins_over_global() -> None:
    """A feature's default max_tokens overrides the global default."""
    policy = Policy(default_max_tokens=700, features={"chat": Rule(default_max_tokens=300)})
    assert policy.bound(model="gpt-4o", feature="chat", max_tokens=None).max_tokens == 300


def test_request_above_cap_is_clamped_visibly() -> None:
    """max_tokens above the cap becomes the cap, and the bounds say it was clamped."""
    bounds = Policy(max_tokens_cap=1000).bound(model="gpt-4o", feature=None, max_tokens=5000)
    assert (bounds.max_tokens, bounds.clamped, bounds.requested_max_tokens) == (1000, True, 5000)


def test_request_above_cap_can_be_refused() -> None:
    """With on_over_cap="refuse" an oversized request raises MaxTokensExceeded."""
    policy = Policy(max_tokens_cap=1000, on_over_cap="refuse")
    with pytest.raises(MaxTokensExceeded, match="above the cap of 1000"):
        policy.bound(model="gpt-4o", feature=None, max_tokens=5000)


def test_model_cap_applies() -> None:
    """A per-model cap clamps requests for that model only."""
    policy = Policy(models={"gpt-4o": Rule(max_tokens_cap=200)})
    assert policy.bound(model="gpt-4o", feature=None, max_tokens=900).max_tokens == 200
    assert policy.bound(model="gpt-4o-mini", feature=None, max_tokens=900).max_tokens == 900


def test_model_maximum_output_caps_the_default() -> None:
    """An injected default never exceeds what the model can produce."""
    bounds = Policy(default_max_tokens=10_000).bound(
        model="m", feature=None, max_tokens=None, model_max_output=4096
    )
    assert bounds.max_tokens == 4096


def test_model_outside_the_feature_allow_list_is_refused() -> None:
    """A feature limited to cheap models refuses an expensive one, naming what is allowed."""
    policy = Policy(features={"chat": Rule(allowed_models=["gpt-4o-mini"])})
    with pytest.raises(ModelNotAllowed, match="gpt-4o-mini"):
        policy.bound(model="gpt-4o", feature="chat", max_tokens=100)


@pytest.mark.parametrize("bad", [0, -5, True, "100"])
def test_bad_max_tokens_is_refused(bad: object) -> None:
    """max_tokens must be a positive integer."""
    with pytest.raises(PolicyViolation, match="positive integer"):
        Policy().bound(model="gpt-4o", feature=None, max_tokens=bad)  # type: ignore[arg-type]


def test_dollar_cap_comes_from_the_feature() -> None:
    """A feature's max_cost_usd overrides the global one."""
    policy = Policy(max_cost_usd="1", features={"chat": Rule(max_cost_usd="0.05")})
    bounds = policy.bound(model="gpt-4o", feature="chat", max_tokens=100)
    assert bounds.max_cost_usd == Decimal("0.05")


@pytest.mark.parametrize(
    "settings",
    [{"max_tokens_cap": -4}, {"default_max_tokens": 0}, {"max_tokens_cap": True}],
)
def test_rule_refuses_bad_token_settings(settings: dict[str, object]) -> None:
    """A Rule's token setting that is not a positive whole number is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=f"{next(iter(settings))} must be a whole number"):
        Rule(**settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "settings",
    [{"max_tokens_cap": -4}, {"default_max_tokens": 0}, {"default_max_tokens": -1}],
)
def test_policy_refuses_bad_token_settings(settings: dict[str, object]) -> None:
    """The policy's own token settings are checked as a Rule's are (a cap of -4 was kept)."""
    with pytest.raises(ConfigError, match=f"{next(iter(settings))} must be a whole number"):
        Policy(**settings)  # type: ignore[arg-type]


@pytest.mark.parametrize("make", [Policy, Rule])
def test_negative_dollar_cap_is_a_config_error(make: type[Policy] | type[Rule]) -> None:
    """``max_cost_usd=-1`` is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="max_cost_usd must not be negative"):
        make(max_cost_usd=-1)


def test_allow_list_must_be_a_list_of_names() -> None:
    """A bare string is not an allow-list (``"gpt-4o" in "gpt-4o-mini"`` would be a substring)."""
    with pytest.raises(ConfigError, match="allowed_models must be a list"):
        Rule(allowed_models="gpt-4o")


def test_feature_rules_must_be_rules() -> None:
    """``features={"chat": {...}}`` (a dict, not a Rule) is refused when the Policy is built."""
    with pytest.raises(ConfigError, match=r"features\['chat'\] must be a Rule"):
        Policy(features={"chat": {"max_tokens_cap": 5}})  # type: ignore[dict-item]


def test_absurd_max_tokens_is_refused() -> None:
    """A call asking for 10**30 tokens is refused before any worst case is computed."""
    with pytest.raises(PolicyViolation, match="positive integer up to 1,000,000,000"):
        Policy().bound(model="gpt-4o", feature=None, max_tokens=10**30)


def test_dollar_cap_refusal_prints_plain_dollars() -> None:
    """A $20 worst case over a $10 cap reads "$20" and "$10", never 2E+1."""
    error = CostCapExceeded(Decimal("2E+1"), Decimal("1E+1"))
    assert str(error) == "worst-case cost $20 is above the per-request cap of $10"
