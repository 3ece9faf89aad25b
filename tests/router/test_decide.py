"""Router.decide, next_in_chain and escalate: tier rules, pressure, model budgets, fallbacks."""

from __future__ import annotations

import logging
from decimal import Decimal
from fractions import Fraction

import pytest

from costcap.errors import ConfigError
from costcap.router import (
    Classification,
    Content,
    Decision,
    FeatureRoutes,
    NoRoutes,
    Pressure,
    RouteError,
    Router,
    RouterConfig,
    UnknownTier,
)

THREE = {"simple": "gpt-4o-mini", "complex": "gpt-4o", "critical": "o3"}
HARD = {"messages": [{"role": "user", "content": "Prove it rigorously, step by step, and "
                                                  "analyze the security trade-offs"}]}  # fmt: skip
EASY = {"messages": [{"role": "user", "content": "hello there"}]}


def router(**settings: object) -> Router:
    routes = FeatureRoutes(tiers=THREE, **settings)  # type: ignore[arg-type]
    return Router(RouterConfig(features={"chat": routes}))


def decide(r: Router, model: str = "costcap:auto", **kwargs: object) -> Decision:
    return r.decide("chat", model, **kwargs)  # type: ignore[arg-type]


def test_a_real_model_is_sent_as_asked() -> None:
    assert decide(router(), "gpt-4o") == Decision("chat", "gpt-4o", "gpt-4o", None, "as asked")


def test_a_real_model_is_sent_as_asked_even_for_a_feature_without_routes() -> None:
    assert Router().decide("x", "claude-haiku-4-5").model == "claude-haiku-4-5"


def test_a_route_name_for_a_feature_without_routes_is_refused() -> None:
    with pytest.raises(NoRoutes, match=r"\[router\.features\.search\]"):
        router().decide("search", "costcap:auto")


def test_a_tier_route_name_picks_that_tier() -> None:
    d = decide(router(), "costcap:critical", request=EASY)
    assert (d.model, d.tier, d.reason) == ("o3", "critical", "explicit")


def test_an_unknown_tier_route_name_is_refused() -> None:
    with pytest.raises(UnknownTier, match="unknown tier 'huge' for feature 'chat'"):
        decide(router(), "costcap:huge")


def test_the_call_s_complexity_wins_over_the_classifier() -> None:
    d = decide(router(), complexity="simple", request=HARD)
    assert (d.tier, d.reason) == ("simple", "explicit")


def test_the_call_s_complexity_wins_over_the_attribute_block_s() -> None:
    d = decide(router(), complexity="simple", attribute_complexity="critical")
    assert (d.tier, d.reason) == ("simple", "explicit")


def test_the_attribute_block_s_complexity_is_used() -> None:
    d = decide(router(), attribute_complexity="critical", request=EASY)
    assert (d.tier, d.reason) == ("critical", "attribute")


def test_an_unknown_complexity_is_refused() -> None:
    with pytest.raises(UnknownTier):
        decide(router(), complexity="medium")


def test_a_built_in_complexity_maps_onto_other_tier_names() -> None:
    r = Router(RouterConfig(routes=FeatureRoutes(tiers={"fast": "gpt-4o-mini", "big": "o3"})))
    assert r.decide("any", "costcap:auto", complexity="critical").model == "o3"


def test_without_complexity_the_classifier_decides() -> None:
    d = decide(router(), request=HARD)
    assert (d.tier, d.reason) == ("critical", "auto")
    assert d.classification is not None
    assert d.reasons == d.classification.reasons


def test_a_content_is_read_as_is() -> None:
    assert decide(router(), request=Content(prompt="hi")).tier == "simple"


def test_without_content_the_default_tier_is_used() -> None:
    d = decide(router(default="simple"))
    assert (d.model, d.tier, d.reason) == ("gpt-4o-mini", "simple", "default")


def test_with_auto_off_the_default_tier_is_used() -> None:
    d = decide(router(auto=False), request=HARD)
    assert (d.tier, d.reason) == ("complex", "default")


def test_a_user_classifier_replaces_the_heuristic() -> None:
    def mine(content: Content) -> Classification:
        return Classification("critical", ("mine",))

    d = decide(router(classify=mine), request=EASY)
    assert (d.tier, d.reasons) == ("critical", ("mine",))


def test_a_user_classifier_may_return_a_tier_name() -> None:
    assert decide(router(classify=lambda content: "simple"), request=HARD).tier == "simple"


def test_a_user_classifier_that_raises_gives_the_default_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(content: Content) -> str:
        raise RuntimeError("model offline")

    with caplog.at_level(logging.WARNING, logger="costcap.router"):
        d = decide(router(classify=broken), request=EASY)
    assert (d.tier, d.reason) == ("complex", "default")
    assert "raised RuntimeError: model offline" in caplog.text


def test_a_user_classifier_naming_no_tier_gives_the_default() -> None:
    assert decide(router(classify=lambda content: "huge"), request=EASY).reason == "default"


# -- pressure ----------------------------------------------------------------------------------


def test_below_the_pressure_share_the_tier_stays() -> None:
    d = decide(router(pressure=0.8), complexity="complex",
               pressure=Pressure(feature_share=Decimal("0.7999")))  # fmt: skip
    assert (d.tier, d.reason) == ("complex", "explicit")


def test_at_the_pressure_share_exactly_one_tier_down() -> None:
    d = decide(router(pressure=0.8), complexity="complex", pressure=Pressure(feature_share=0.8))
    assert (d.model, d.tier, d.reason) == ("gpt-4o-mini", "simple", "pressure")


def test_an_exact_fraction_at_the_share_counts_as_at_it() -> None:
    spent = Pressure(feature_share=Fraction(800_000, 1_000_000))
    assert decide(router(pressure=0.8), complexity="complex", pressure=spent).tier == "simple"


def test_the_user_s_budget_applies_pressure_too() -> None:
    d = decide(router(pressure=0.8), complexity="critical", pressure=Pressure(user_share=0.95))
    assert (d.tier, d.reasons[-1]) == (
        "complex", "user budget 95 % spent (pressure at 80 %): critical → complex",
    )  # fmt: skip


def test_pressure_at_the_lowest_tier_leaves_it() -> None:
    d = decide(router(pressure=0.8), complexity="simple", pressure=Pressure(feature_share=1))
    assert (d.tier, d.reason) == ("simple", "explicit")


def test_no_pressure_setting_means_no_pressure() -> None:
    assert decide(router(), complexity="complex", pressure=Pressure(feature_share=1)).tier == (
        "complex"
    )


def test_a_negative_share_is_refused() -> None:
    with pytest.raises(ConfigError, match="feature_share"):
        Pressure(feature_share=-0.1)


# -- model budgets, fallbacks, cascades --------------------------------------------------------


def test_a_model_whose_budget_is_exhausted_goes_to_the_next_in_the_chain() -> None:
    d = decide(router(), complexity="complex", pressure=Pressure(exhausted={"gpt-4o"}))
    assert (d.model, d.tier, d.reason) == ("o3", "critical", "model budget")


def test_the_default_chain_goes_up_then_down() -> None:
    d = decide(router(), complexity="complex")
    assert router().chain(d) == ("o3", "gpt-4o-mini")


def test_exhausted_models_are_skipped_along_the_chain() -> None:
    d = decide(router(), complexity="complex", pressure=Pressure(exhausted={"gpt-4o", "o3"}))
    assert (d.model, d.tier) == ("gpt-4o-mini", "simple")


def test_with_every_model_exhausted_the_choice_stays_for_admission_to_refuse() -> None:
    d = decide(router(), complexity="simple", pressure=Pressure(exhausted=set(THREE.values())))
    assert (d.model, d.reason) == ("gpt-4o-mini", "explicit")


def test_a_configured_chain_is_followed_in_its_order() -> None:
    r = router(chain=["gpt-4.1", "gpt-4o-mini"])
    d = decide(r, complexity="complex")
    assert r.chain(d) == ("gpt-4.1", "gpt-4o-mini")


def test_next_in_chain_after_a_failure() -> None:
    r = router()
    first = decide(r, complexity="complex")
    second = r.next_in_chain(first, "gpt-4o")
    assert second is not None
    assert (second.model, second.tier, second.reason, second.tried) == (
        "o3", "critical", "fallback", ("gpt-4o",),
    )  # fmt: skip


def test_next_in_chain_does_not_return_to_a_model_tried() -> None:
    r = router()
    first = decide(r, complexity="complex")
    second = r.next_in_chain(first, "gpt-4o")
    assert second is not None
    third = r.next_in_chain(second, "o3")
    assert third is not None
    assert third.model == "gpt-4o-mini"
    assert r.next_in_chain(third, "gpt-4o-mini") is None


def test_next_in_chain_keeps_to_the_client_s_provider() -> None:
    r = router(chain=["claude-haiku-4-5", "gpt-4o-mini"])
    first = decide(r, complexity="complex")
    second = r.next_in_chain(first, "gpt-4o", provider="openai")
    assert second is not None
    assert second.model == "gpt-4o-mini"


def test_next_in_chain_skips_exhausted_models() -> None:
    r = router()
    second = r.next_in_chain(decide(r, complexity="complex"), "gpt-4o", exhausted={"o3"})
    assert second is not None
    assert second.model == "gpt-4o-mini"


def test_a_call_not_routed_has_no_fallback() -> None:
    r = router()
    assert r.next_in_chain(decide(r, "gpt-4o"), "gpt-4o") is None


def test_escalate_goes_one_tier_up() -> None:
    r = router()
    up = r.escalate(decide(r, complexity="simple"))
    assert up is not None
    assert (up.model, up.tier, up.reason, up.tried) == ("gpt-4o", "complex", "cascade",
                                                        ("gpt-4o-mini",))  # fmt: skip


def test_escalate_at_the_top_tier_gives_none() -> None:
    r = router()
    assert r.escalate(decide(r, complexity="critical")) is None


def test_escalate_skips_a_tier_with_the_same_model() -> None:
    routes = FeatureRoutes(tiers={"simple": "gpt-4o-mini", "complex": "gpt-4o-mini",
                                  "critical": "o3"})  # fmt: skip
    r = Router(RouterConfig(routes=routes))
    up = r.escalate(r.decide(None, "costcap:simple"))
    assert up is not None
    assert up.tier == "critical"


def test_a_route_to_another_provider_s_model_is_refused() -> None:
    with pytest.raises(
        RouteError, match=r"\(provider openai\): this anthropic client cannot send it"
    ):
        decide(router(), complexity="simple", provider="anthropic")


def test_a_router_refuses_an_unpriced_model_when_built() -> None:
    with pytest.raises(ConfigError, match=r"tiers\.simple: unknown model"):
        Router(RouterConfig(routes=FeatureRoutes(tiers={"simple": "gpt-11"})))
