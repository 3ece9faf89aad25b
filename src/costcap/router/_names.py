"""Route names: a request whose model is ``costcap:auto`` or ``costcap:<tier>`` is routed; any
other model name is sent as asked."""

from __future__ import annotations

from collections.abc import Collection

from costcap.router._errors import UnknownTier

__all__ = ["AUTO", "ROUTE_PREFIX", "is_route_name", "parse_route_name"]

ROUTE_PREFIX = "costcap:"
AUTO = "auto"


def is_route_name(model: object) -> bool:
    """Whether ``model`` is a route name (cheap: the hot path asks it of every call)."""
    return isinstance(model, str) and model.startswith(ROUTE_PREFIX)


def parse_route_name(
    model: str, tiers: Collection[str] | None = None, *, feature: str | None = None
) -> str | None:
    """None for a real model name; ``"auto"`` for ``costcap:auto``; the tier for
    ``costcap:<tier>``. With ``tiers`` (the names a feature understands), a tier not among them
    raises :class:`UnknownTier`; so does an empty one (``costcap:``). Case and surrounding
    spaces of the tier are kept as written: tier names are case-sensitive."""
    if not model.startswith(ROUTE_PREFIX):
        return None
    tier = model[len(ROUTE_PREFIX) :]
    if tier == AUTO:
        return AUTO
    if not tier or (tiers is not None and tier not in tiers):
        raise UnknownTier(tier, feature, tuple(tiers or ()))
    return tier
