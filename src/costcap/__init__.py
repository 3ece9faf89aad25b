"""costcap keeps LLM spend bounded.

::

    from costcap import Budget, Guard

    guard = Guard(budgets=[Budget(scope="user:*", period="day", limit_usd=5)])
    ticket = guard.admit(model="gpt-4o", messages=messages, max_tokens=500, user_id="alice")
    response = client.chat.completions.create(
        model="gpt-4o", messages=messages, max_tokens=ticket.max_tokens
    )
    guard.settle(ticket, response.usage)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from costcap.alerts import Alert, CallableNotifier, LogNotifier, Notifier, WebhookNotifier
from costcap.budgets import Budget, allocate
from costcap.costguard import CostGuard
from costcap.errors import (
    BudgetExceeded,
    ConfigError,
    CostcapError,
    StoreUnavailable,
    UncountableContent,
    UnknownModel,
    UnpricedModality,
    UsageError,
)
from costcap.guard import AsyncGuard, Guard, Ticket
from costcap.integrations._attribution import attribute
from costcap.integrations._meter import StreamCut
from costcap.integrations.wrap import wrap
from costcap.limits import RateLimit, RateLimited
from costcap.policy import (
    CostCapExceeded,
    MaxTokensExceeded,
    ModelNotAllowed,
    Policy,
    PolicyViolation,
    Rule,
)
from costcap.pricing import Cost, PriceCatalog, Usage, default_catalog
from costcap.service_tiers import UnknownServiceTier
from costcap.worst_case import WorstCase, worst_case_cost

if TYPE_CHECKING:
    from costcap.cache import AsyncResponseCache, CachePolicy, FeatureCache, ResponseCache
    from costcap.wire import AsyncGuardedTransport, GuardedTransport, async_http_client, http_client

__all__ = [
    "Alert",
    "AsyncGuard",
    "AsyncGuardedTransport",
    "AsyncResponseCache",
    "Budget",
    "BudgetExceeded",
    "CachePolicy",
    "CallableNotifier",
    "ConfigError",
    "Cost",
    "CostCapExceeded",
    "CostGuard",
    "CostcapError",
    "FeatureCache",
    "Guard",
    "GuardedTransport",
    "LogNotifier",
    "MaxTokensExceeded",
    "ModelNotAllowed",
    "Notifier",
    "Policy",
    "PolicyViolation",
    "PriceCatalog",
    "RateLimit",
    "RateLimited",
    "ResponseCache",
    "Rule",
    "StoreUnavailable",
    "StreamCut",
    "Ticket",
    "UncountableContent",
    "UnknownModel",
    "UnknownServiceTier",
    "UnpricedModality",
    "Usage",
    "UsageError",
    "WebhookNotifier",
    "WorstCase",
    "__version__",
    "allocate",
    "async_http_client",
    "attribute",
    "default_catalog",
    "http_client",
    "worst_case_cost",
    "wrap",
]

__version__ = "0.1.0"

#: Names imported when first used: the wire guard loads httpx2 (the SDKs' HTTP client); the
#: response cache is loaded by those who use it.
_LAZY = {
    **dict.fromkeys(
        ("AsyncGuardedTransport", "GuardedTransport", "async_http_client", "http_client"),
        "costcap.wire",
    ),
    **dict.fromkeys(
        ("AsyncResponseCache", "CachePolicy", "FeatureCache", "ResponseCache"), "costcap.cache"
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
