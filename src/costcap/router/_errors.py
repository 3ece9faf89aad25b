"""What a request can get wrong about routes.

A route is named by the request (``model="costcap:simple"``, ``costcap_complexity="simple"``), so
a route that does not exist is the caller's mistake, found at call time, like a model outside an
allow-list: a :class:`~costcap.policy.PolicyViolation`, refused before anything is reserved or
sent (400 at the wire and in the FastAPI limiter). A bad route in ``costcap.toml`` or in a
:class:`~costcap.router.RouterConfig` is a :class:`~costcap.errors.ConfigError`, raised when the
configuration is read.
"""

from __future__ import annotations

from collections.abc import Sequence

from costcap.policy import PolicyViolation

__all__ = ["NoRoutes", "RouteError", "UnknownTier"]


class RouteError(PolicyViolation):
    """A request names a route costcap cannot follow; nothing was sent."""


class UnknownTier(RouteError):
    """A tier that the feature does not have (``costcap:huge``, ``costcap_complexity="huge"``)."""

    def __init__(self, tier: str, feature: str | None, known: Sequence[str]) -> None:
        self.tier, self.feature, self.known = tier, feature, tuple(known)
        where = f"feature {feature!r}" if feature is not None else "calls with no feature"
        super().__init__(
            f"unknown tier {tier!r} for {where} (its tiers: {', '.join(self.known)}; "
            "'simple', 'complex' and 'critical' also work, mapped onto them)"
        )

    def __reduce__(self) -> tuple[type[UnknownTier], tuple[str, str | None, tuple[str, ...]]]:
        return (type(self), (self.tier, self.feature, self.known))


class NoRoutes(RouteError):
    """A route name (``costcap:auto``) for a feature that has no tiers configured."""

    def __init__(self, model: str, feature: str | None) -> None:
        self.model, self.feature = model, feature
        table = f"[router.features.{feature}]" if feature is not None else "[router]"
        who = f"feature {feature!r}" if feature is not None else "calls with no feature"
        super().__init__(
            f"model {model!r} is a route, but {who} has no tiers: name them under {table} "
            "(or [router]) in costcap.toml, or send a real model name"
        )

    def __reduce__(self) -> tuple[type[NoRoutes], tuple[str, str | None]]:
        return (type(self), (self.model, self.feature))
