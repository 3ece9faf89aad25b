"""Route names: costcap:auto and costcap:<tier>; any other model is sent as asked."""

from __future__ import annotations

import pickle

import pytest

from costcap.policy import PolicyViolation
from costcap.router import UnknownTier, is_route_name, parse_route_name


def test_a_real_model_name_is_not_a_route() -> None:
    assert parse_route_name("gpt-4o-mini") is None


def test_costcap_auto_is_auto() -> None:
    assert parse_route_name("costcap:auto") == "auto"


def test_costcap_tier_is_the_tier() -> None:
    assert parse_route_name("costcap:simple", ("simple", "complex")) == "simple"


def test_without_tiers_to_check_against_any_tier_is_returned() -> None:
    assert parse_route_name("costcap:fast") == "fast"


def test_a_tier_the_feature_lacks_is_an_unknown_tier() -> None:
    with pytest.raises(UnknownTier, match="unknown tier 'huge' for feature 'chat'"):
        parse_route_name("costcap:huge", ("simple", "complex"), feature="chat")


def test_an_empty_tier_is_an_unknown_tier() -> None:
    with pytest.raises(UnknownTier):
        parse_route_name("costcap:")


def test_an_unknown_tier_is_a_policy_violation() -> None:
    """Refused before anything is reserved or sent, answered 400 like any policy refusal."""
    assert issubclass(UnknownTier, PolicyViolation)


def test_an_unknown_tier_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(UnknownTier("huge", "chat", ("simple",))))
    assert (error.tier, error.feature, error.known) == ("huge", "chat", ("simple",))


def test_a_provider_prefixed_model_is_not_a_route() -> None:
    assert not is_route_name("openai:gpt-4o")


def test_is_route_name_spots_the_prefix() -> None:
    assert is_route_name("costcap:auto")
