"""Model selection: the cheapest model that works for each call.

In the life of a call the router comes after the policy and before the cache and admission, so
budgets reserve for the model actually sent.

* :mod:`costcap.router._config` — :class:`RouterConfig`, :class:`FeatureRoutes`,
  :class:`Cascade`: tiers, default, fallback chain, cascade, budget pressure (in code);
* :mod:`costcap.router._table` — the ``[router]`` table of ``costcap.toml``
  (:func:`parse_router_table`, :func:`load_router`);
* :mod:`costcap.router._names` — route names: ``costcap:auto``, ``costcap:<tier>``.
"""

from __future__ import annotations

from costcap.router._config import (
    BUILTIN_TIERS,
    BUILTIN_VALIDATORS,
    Cascade,
    Classifier,
    FeatureRoutes,
    RouterConfig,
    Validator,
    check_models,
)
from costcap.router._errors import NoRoutes, RouteError, UnknownTier
from costcap.router._names import AUTO, ROUTE_PREFIX, is_route_name, parse_route_name
from costcap.router._table import catalog_for, load_router, parse_router_table

__all__ = [
    "AUTO",
    "BUILTIN_TIERS",
    "BUILTIN_VALIDATORS",
    "ROUTE_PREFIX",
    "Cascade",
    "Classifier",
    "FeatureRoutes",
    "NoRoutes",
    "RouteError",
    "RouterConfig",
    "UnknownTier",
    "Validator",
    "catalog_for",
    "check_models",
    "is_route_name",
    "load_router",
    "parse_route_name",
    "parse_router_table",
]
