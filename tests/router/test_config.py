"""Routes in code: FeatureRoutes, Cascade, RouterConfig and the model check."""

from __future__ import annotations

from decimal import Decimal

import pytest

from costcap.errors import ConfigError
from costcap.pricing import PriceCatalog
from costcap.router import Cascade, FeatureRoutes, RouterConfig, check_models

THREE = {"simple": "gpt-4o-mini", "complex": "gpt-4o", "critical": "o3"}


def test_tiers_keep_their_order_cheapest_first() -> None:
    routes = FeatureRoutes(tiers={"fast": "gpt-4o-mini", "strong": "gpt-4o"})
    assert routes.names == ("fast", "strong")


def test_the_default_tier_is_the_middle_one_when_not_set() -> None:
    assert FeatureRoutes(tiers=THREE).default == "complex"


def test_of_two_tiers_the_default_is_the_upper_one() -> None:
    assert FeatureRoutes(tiers={"a": "gpt-4o-mini", "b": "gpt-4o"}).default == "b"


def test_a_default_that_is_not_a_tier_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"FeatureRoutes\.default: 'huge' is not one of"):
        FeatureRoutes(tiers=THREE, default="huge")


def test_built_in_tiers_out_of_order_are_refused() -> None:
    with pytest.raises(ConfigError, match="cheapest first"):
        FeatureRoutes(tiers={"critical": "o3", "simple": "gpt-4o-mini"})


def test_no_tiers_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least one tier"):
        FeatureRoutes(tiers={})


@pytest.mark.parametrize("name", ["auto", "", "two words", "costcap:x"])
def test_a_tier_name_must_be_a_plain_word(name: str) -> None:
    with pytest.raises(ConfigError, match="is not a tier name"):
        FeatureRoutes(tiers={name: "gpt-4o"})


@pytest.mark.parametrize("share", [0, 1.01, -0.5, "0.8", True, Decimal("NaN")])
def test_pressure_is_a_share_above_0_up_to_1(share: object) -> None:
    with pytest.raises(ConfigError, match=r"FeatureRoutes\.pressure"):
        FeatureRoutes(tiers=THREE, pressure=share)  # type: ignore[arg-type]


def test_a_float_pressure_is_read_as_written() -> None:
    assert FeatureRoutes(tiers=THREE, pressure=0.8).pressure_share == Decimal("0.8")


def test_built_in_names_map_onto_a_feature_with_other_tier_names() -> None:
    routes = FeatureRoutes(tiers={"a": "gpt-4o-mini", "b": "gpt-4o", "c": "o3", "d": "o3-pro"})
    got = [routes.tier_for(name) for name in ("simple", "complex", "critical")]
    assert got == ["a", "c", "d"]  # ⌈rank × 3 / 2⌉: 0, 2, 3


def test_a_missing_built_in_tier_maps_to_the_one_above_it() -> None:
    routes = FeatureRoutes(tiers={"simple": "gpt-4o-mini", "critical": "o3"})
    assert routes.tier_for("complex") == "critical"


def test_a_feature_s_own_tier_name_wins_over_the_mapping() -> None:
    routes = FeatureRoutes(tiers={"simple": "gpt-4o-mini", "complex": "gpt-4o"})
    assert routes.tier_for("complex") == "complex"


def test_an_unknown_name_maps_to_nothing() -> None:
    assert FeatureRoutes(tiers=THREE).tier_for("huge") is None


def test_the_cascade_is_off_by_default_with_three_validators() -> None:
    cascade = FeatureRoutes(tiers=THREE).cascade
    assert (cascade.enabled, cascade.validators) == (False, ("empty", "refusal", "truncated"))


def test_a_json_schema_adds_its_validator() -> None:
    cascade = Cascade(enabled=True, validators=("empty",), json_schema={"type": "object"})
    assert cascade.validators == ("empty", "json_schema")


def test_the_json_schema_validator_without_a_schema_is_refused() -> None:
    with pytest.raises(ConfigError, match="needs a json_schema"):
        Cascade(validators=("json_schema",))


def test_an_invalid_json_schema_is_refused_when_built() -> None:
    with pytest.raises(ConfigError, match="not a valid JSON Schema"):
        Cascade(json_schema={"type": "nonsense"})


def test_an_unknown_validator_name_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"validators\[1\]: unknown validator 'nope'"):
        Cascade(validators=("empty", "nope"))


def test_a_user_validator_is_named_by_its_function_name() -> None:
    def has_citation(text: str, finish_reason: str | None) -> bool:
        return "[1]" in text

    assert Cascade(validators=("empty", has_citation)).names() == ("empty", "has_citation")


def test_a_feature_not_named_gets_the_general_routes() -> None:
    general = FeatureRoutes(tiers={"simple": "gpt-4o-mini"})
    config = RouterConfig(features={"chat": FeatureRoutes(tiers=THREE)}, routes=general)
    assert config.for_feature("search") is general


def test_without_general_routes_an_unnamed_feature_has_none() -> None:
    assert RouterConfig(features={"chat": FeatureRoutes(tiers=THREE)}).for_feature("x") is None


def test_check_models_gives_each_model_s_provider() -> None:
    config = RouterConfig(routes=FeatureRoutes(tiers=THREE, chain=["claude-haiku-4-5"]))
    providers = check_models(config, PriceCatalog())
    assert providers == {"gpt-4o-mini": "openai", "gpt-4o": "openai", "o3": "openai",
                         "claude-haiku-4-5": "anthropic"}  # fmt: skip


def test_check_models_names_the_feature_and_tier_of_an_unpriced_model() -> None:
    config = RouterConfig(features={"chat": FeatureRoutes(tiers={"simple": "gpt-9-nano"})})
    with pytest.raises(ConfigError, match=r"features\['chat'\]\.tiers\.simple: unknown model"):
        check_models(config, PriceCatalog())
