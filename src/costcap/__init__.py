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

__all__ = [
    "Alert",
    "AsyncGuard",
    "Budget",
    "BudgetExceeded",
    "CallableNotifier",
    "ConfigError",
    "Cost",
    "CostCapExceeded",
    "CostGuard",
    "CostcapError",
    "Guard",
    "LogNotifier",
    "MaxTokensExceeded",
    "ModelNotAllowed",
    "Notifier",
    "Policy",
    "PolicyViolation",
    "PriceCatalog",
    "RateLimit",
    "RateLimited",
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
    "attribute",
    "default_catalog",
    "worst_case_cost",
    "wrap",
]

__version__ = "0.1.0"
