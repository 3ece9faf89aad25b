"""Rate limits per user, key, feature, model, endpoint or globally — enforced in the same atomic
admission step as budgets."""

from __future__ import annotations

from costcap.limits._applied import AppliedLimit, limit_charges, settled_amount
from costcap.limits._errors import RateLimited
from costcap.limits._rule import IDENTITY_KINDS, Kind, RateLimit
from costcap.limits._window import BUCKETS, SlidingWindow, retry_after_s, sliding_window

__all__ = [
    "BUCKETS",
    "IDENTITY_KINDS",
    "AppliedLimit",
    "Kind",
    "RateLimit",
    "RateLimited",
    "SlidingWindow",
    "limit_charges",
    "retry_after_s",
    "settled_amount",
    "sliding_window",
]
