"""Model selection: the cheapest model that works for each call.

In the life of a call the router comes after the policy and before the cache and admission, so
budgets reserve for the model actually sent.

* :mod:`costcap.router._config` — :class:`RouterConfig`, :class:`FeatureRoutes`,
  :class:`Cascade`: tiers, default, fallback chain, cascade, budget pressure (in code);
* :mod:`costcap.router._table` — the ``[router]`` table of ``costcap.toml``
  (:func:`parse_router_table`, :func:`load_router`);
* :mod:`costcap.router._names` — route names: ``costcap:auto``, ``costcap:<tier>``;
* :mod:`costcap.router._content` / :mod:`costcap.router._classify` — what the classifier reads of
  a request, and the heuristic (:func:`classify`: tier, reasons, score);
* :mod:`costcap.router._decide` — :class:`Router`: ``decide``, ``next_in_chain``, ``escalate``;
* :mod:`costcap.router._validators` — the cascade's validators (:func:`check_answer`).

Routing is pure: no I/O, no clock; the wrapped clients feed it the request and the budget facts.
"""

from __future__ import annotations

from costcap.router._classify import Classification, classify, level_tier
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
from costcap.router._content import Content, request_content
from costcap.router._decide import REASONS, Decision, Pressure, Router
from costcap.router._errors import NoRoutes, RouteError, UnknownTier
from costcap.router._names import AUTO, ROUTE_PREFIX, is_route_name, parse_route_name
from costcap.router._table import catalog_for, load_router, parse_router_table, parse_tiers
from costcap.router._validators import (
    Verdict,
    check_answer,
    is_empty,
    is_refusal,
    is_truncated,
)

__all__ = [
    "AUTO",
    "BUILTIN_TIERS",
    "BUILTIN_VALIDATORS",
    "REASONS",
    "ROUTE_PREFIX",
    "Cascade",
    "Classification",
    "Classifier",
    "Content",
    "Decision",
    "FeatureRoutes",
    "NoRoutes",
    "Pressure",
    "RouteError",
    "Router",
    "RouterConfig",
    "UnknownTier",
    "Validator",
    "Verdict",
    "catalog_for",
    "check_answer",
    "check_models",
    "classify",
    "is_empty",
    "is_refusal",
    "is_route_name",
    "is_truncated",
    "level_tier",
    "load_router",
    "parse_route_name",
    "parse_router_table",
    "parse_tiers",
    "request_content",
]
