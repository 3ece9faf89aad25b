"""``Router.decide``: which model a call is sent to, at which tier, and why — a pure function of
the configuration, the request and the budget facts it is given.

How a routed call (``model="costcap:auto"`` or ``"costcap:<tier>"``) gets its tier, first match:

1. ``costcap:<tier>`` — that tier (reason ``explicit``);
2. ``costcap:auto`` with ``costcap_complexity=…`` on the call (``explicit``), else with a
   ``costcap.attribute(complexity=…)`` block's (``attribute``);
3. the classifier — the feature's ``classify`` callable, else the heuristic — when the feature
   has ``auto`` on and the request has content to read (``auto``);
4. the feature's default tier (``default``).

A tier name may be the feature's own or a built-in one (``simple``, ``complex``, ``critical``:
mapped onto the feature's tiers by :meth:`FeatureRoutes.tier_for`); any other is
:class:`UnknownTier`. Then budget facts, when given:

5. **pressure** — when the share spent of the feature's or the user's budget is at least the
   feature's ``pressure`` (0.8: from 80 % exactly, not at 79.99 %), one tier down, if there is
   one (``pressure``);
6. **model budget** — when the chosen model's own budget has no room, the next model of the
   chain whose budget has (``model budget``).

A real model name is not routed: the Decision sends it as asked (reason ``as asked``, tier None).
:meth:`Router.next_in_chain` (``fallback``) and :meth:`Router.escalate` (``cascade``) give the
decisions of a retry after a failure and of a cascade's second call.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from costcap.errors import ConfigError
from costcap.pricing import PriceCatalog, default_catalog
from costcap.router._classify import Classification, classify
from costcap.router._config import FeatureRoutes, RouterConfig, check_models
from costcap.router._content import Content, request_content
from costcap.router._errors import NoRoutes, RouteError, UnknownTier
from costcap.router._names import AUTO, parse_route_name

__all__ = ["REASONS", "Decision", "Pressure", "Router"]

log = logging.getLogger("costcap.router")

#: Every ``Decision.reason`` (and ledger ``route_reason``).
REASONS = ("as asked", "explicit", "attribute", "auto", "default", "pressure", "model budget",
           "fallback", "cascade")  # fmt: skip

Share = Fraction | Decimal | float | int


def _fraction(value: Share | None, what: str) -> Fraction | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Fraction | Decimal | float | int):
        raise ConfigError(f"Pressure.{what}: a share spent (0.85 for 85 %), not {value!r}")
    share = Fraction(repr(value)) if isinstance(value, float) else Fraction(value)
    if share < 0:
        raise ConfigError(f"Pressure.{what}: a share spent (0.85 for 85 %), not {value!r}")
    return share


@dataclass(frozen=True, slots=True)
class Pressure:
    """Budget facts at decision time: the share spent (spent / limit, exact; a float is read as
    written) of the feature's and of the user's tightest budget, and the models whose own budget
    has no room for the call."""

    feature_share: Share | None = None
    user_share: Share | None = None
    exhausted: Collection[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "feature_share", _fraction(self.feature_share, "feature_share"))
        object.__setattr__(self, "user_share", _fraction(self.user_share, "user_share"))
        object.__setattr__(self, "exhausted", frozenset(self.exhausted))

    def over(self, threshold: Decimal) -> tuple[str, Fraction] | None:
        """Which budget (``feature`` or ``user``) is at or past ``threshold``, and its share."""
        limit = Fraction(threshold)
        for who, share in (("feature", self.feature_share), ("user", self.user_share)):
            if isinstance(share, Fraction) and share >= limit:
                return who, share
        return None


@dataclass(frozen=True, slots=True)
class Decision:
    """Where a call goes: ``model`` at ``tier`` (None: not routed), ``reason`` (one of
    :data:`REASONS`), ``reasons`` (the classifier's, then what pressure or a budget changed),
    the ``classification`` when one was made, and the models already ``tried`` (a fallback's and
    a cascade's earlier calls)."""

    feature: str | None
    requested_model: str
    model: str
    tier: str | None
    reason: str
    reasons: tuple[str, ...] = ()
    classification: Classification | None = None
    tried: tuple[str, ...] = field(default=())

    @property
    def routed(self) -> bool:
        return self.tier is not None


def _pct(share: Fraction) -> str:
    return f"{float(share) * 100:.4g} %"


class Router:
    """Routes from a :class:`RouterConfig`; every model is resolved against the price catalog
    when built (an unpriced one is a ConfigError naming it). Deciding does no I/O."""

    def __init__(
        self, config: RouterConfig | None = None, *, catalog: PriceCatalog | None = None
    ) -> None:
        self.config = config if config is not None else RouterConfig()
        self._providers = check_models(self.config, catalog or default_catalog())

    @classmethod
    def from_config(cls, path: str | Path, *, catalog: PriceCatalog | None = None) -> Router:
        """The router of ``costcap.toml``'s ``[router]``."""
        from costcap.router._table import load_router

        config = load_router(path)
        return cls(config, catalog=catalog or PriceCatalog.from_toml(path))

    def provider_of(self, model: str) -> str | None:
        """The provider of a model the routes name (None for any other)."""
        return self._providers.get(model)

    def routes(self, feature: str | None) -> FeatureRoutes | None:
        return self.config.for_feature(feature)

    # -- deciding -------------------------------------------------------------------------------

    def decide(
        self,
        feature: str | None,
        model: str,
        *,
        complexity: str | None = None,
        attribute_complexity: str | None = None,
        request: Mapping[str, Any] | Content | None = None,
        pressure: Pressure | None = None,
        provider: str | None = None,
    ) -> Decision:
        """The Decision for a call of ``feature`` asking for ``model``. ``complexity`` is the
        call's ``costcap_complexity``, ``attribute_complexity`` the ``costcap.attribute`` block's;
        ``request`` the request's keyword arguments (or its Content); ``pressure`` the budget
        facts; ``provider`` the wrapped client's (``openai``, ``anthropic``): a route to
        another provider's model is a RouteError."""
        route = parse_route_name(model)
        if route is None:
            return Decision(feature, model, model, None, "as asked")
        routes = self.config.for_feature(feature)
        if routes is None:
            raise NoRoutes(model, feature)
        reasons: tuple[str, ...] = ()
        classification = None
        if route != AUTO:
            tier, reason = self._tier(routes, route, feature), "explicit"
        elif complexity is not None:
            tier, reason = self._tier(routes, complexity, feature), "explicit"
        elif attribute_complexity is not None:
            tier, reason = self._tier(routes, attribute_complexity, feature), "attribute"
        elif routes.auto and request is not None:
            content = request if isinstance(request, Content) else request_content(request)
            classification = self._classify(routes, content)
            if classification is None:
                tier, reason = routes.default_tier, "default"
            else:
                tier, reason = self._tier(routes, classification.tier, feature), "auto"
                reasons = classification.reasons
        else:
            tier, reason = routes.default_tier, "default"
        decision = Decision(feature, model, routes.model(tier), tier, reason, reasons,
                            classification)  # fmt: skip
        if pressure is not None:
            decision = self._under_pressure(routes, decision, pressure)
        if provider is not None:
            self._check_provider(decision, provider)
        return decision

    def classify(self, feature: str | None, request: Mapping[str, Any] | Content) -> Classification:
        """The classification ``decide`` would make for ``feature`` (whether or not its ``auto``
        is on), its tier one of the feature's; when its classifier fails, the default tier."""
        routes = self.config.for_feature(feature)
        if routes is None:
            raise NoRoutes("costcap:auto", feature)
        content = request if isinstance(request, Content) else request_content(request)
        result = self._classify(routes, content)
        if result is None:
            return Classification(routes.default_tier, ("classifier failed: the default tier",))
        return replace(result, tier=self._tier(routes, result.tier, feature))

    def _tier(self, routes: FeatureRoutes, name: str, feature: str | None) -> str:
        tier = routes.tier_for(name) if isinstance(name, str) else None
        if tier is None:
            raise UnknownTier(str(name), feature, routes.names)
        return tier

    def _classify(self, routes: FeatureRoutes, content: Content) -> Classification | None:
        """The heuristic's classification, or the feature's classifier's mapped onto its tiers
        (None when the classifier raised or named no tier: logged, and the default is used)."""
        if routes.classify is None:
            return classify(content)
        try:
            result = routes.classify(content)
        except Exception as exc:  # noqa: BLE001 - a user's classifier: logged, the default is used
            log.warning("classifier %r raised %s: %s; the default tier is used",
                        routes.classify, type(exc).__name__, exc)  # fmt: skip
            return None
        if isinstance(result, str):
            result = Classification(result, ("classifier",))
        if not isinstance(result, Classification) or routes.tier_for(result.tier) is None:
            log.warning("classifier %r returned %r, not a tier of %s; the default tier is used",
                        routes.classify, result, ", ".join(routes.names))  # fmt: skip
            return None
        return result

    def _under_pressure(
        self, routes: FeatureRoutes, decision: Decision, pressure: Pressure
    ) -> Decision:
        assert decision.tier is not None
        threshold = routes.pressure_share
        over = pressure.over(threshold) if threshold is not None else None
        index = routes.names.index(decision.tier)
        if over is not None and index > 0:
            who, share = over
            lower = routes.names[index - 1]
            at = _pct(Fraction(threshold or 0))
            note = f"{who} budget {_pct(share)} spent (pressure at {at}): {decision.tier} → {lower}"
            decision = replace(decision, model=routes.model(lower), tier=lower, reason="pressure",
                               reasons=(*decision.reasons, note))  # fmt: skip
        if decision.model in pressure.exhausted:
            for model in self._chain(routes, decision):
                if model not in pressure.exhausted:
                    note = f"{decision.model}'s budget has no room: {model}"
                    tier = self._tier_of(routes, model, decision.tier)
                    return replace(decision, model=model, tier=tier, reason="model budget",
                                   reasons=(*decision.reasons, note))  # fmt: skip
        return decision

    def _check_provider(self, decision: Decision, provider: str) -> None:
        own = self._providers.get(decision.model)
        if own is not None and own != provider:
            raise RouteError(
                f"tier {decision.tier!r} of feature {decision.feature!r} is {decision.model!r} "
                f"(provider {own}): this {provider} client cannot send it (name {provider} "
                "models in its [router] tiers)"
            )

    # -- after a failure, and in a cascade --------------------------------------------------------

    def chain(self, decision: Decision) -> tuple[str, ...]:
        """The fallback models of a decision, in order (empty for a call not routed)."""
        routes = self.config.for_feature(decision.feature) if decision.routed else None
        return self._chain(routes, decision) if routes is not None else ()

    def next_in_chain(
        self,
        decision: Decision,
        failed_model: str,
        *,
        provider: str | None = None,
        exhausted: Collection[str] = (),
    ) -> Decision | None:
        """The decision after ``failed_model`` failed (429, 5xx, timeout): the next model of
        the chain not tried yet, of ``provider`` when given and whose budget is not
        ``exhausted``; None when there is none (or the call was not routed)."""
        tried = (*decision.tried, failed_model)
        routes = self.config.for_feature(decision.feature)
        if not decision.routed or routes is None:
            return None
        for model in self._chain(routes, decision):
            if model in tried or model in exhausted:
                continue
            if provider is not None and self._providers.get(model) != provider:
                continue
            note = f"{failed_model} failed: {model}"
            tier = self._tier_of(routes, model, decision.tier)
            return replace(decision, model=model, tier=tier, reason="fallback",
                           reasons=(*decision.reasons, note), tried=tried)  # fmt: skip
        return None

    def escalate(self, decision: Decision) -> Decision | None:
        """The cascade's next call: the next tier up with another model; None at the top (or
        for a call not routed)."""
        routes = self.config.for_feature(decision.feature)
        if not decision.routed or routes is None or decision.tier not in routes.tiers:
            return None
        names = routes.names
        for tier in names[names.index(decision.tier) + 1 :]:
            model = routes.model(tier)
            if model != decision.model:
                note = f"{decision.tier} answer rejected: {tier}"
                return replace(decision, model=model, tier=tier, reason="cascade",
                               reasons=(*decision.reasons, note),
                               tried=(*decision.tried, decision.model))  # fmt: skip
        return None

    @staticmethod
    def _chain(routes: FeatureRoutes, decision: Decision) -> tuple[str, ...]:
        """The configured chain, else the tiers above the decision's (lowest first), then those
        below it (highest first); the decision's own model left out."""
        if routes.chain is not None:
            models: list[str] = list(routes.chain)
        else:
            names = routes.names
            at = names.index(decision.tier) if decision.tier in names else len(names) - 1
            order = [*names[at + 1 :], *reversed(names[:at])]
            models = [routes.model(tier) for tier in order]
        return tuple(dict.fromkeys(m for m in models if m != decision.model))

    @staticmethod
    def _tier_of(routes: FeatureRoutes, model: str, fallback: str | None) -> str | None:
        """The tier whose model is ``model`` (the lowest of several), else ``fallback``."""
        for tier, own in routes.tiers.items():
            if own == model:
                return tier
        return fallback
