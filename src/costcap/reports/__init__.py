"""Ledger analytics: spend reports, budget pacing and anomalies (pure functions over ledger rows).

::

    from costcap.reports import Reports

    with Reports.open("sqlite:///costcap-ledger.db") as reports:
        reports.by_feature(since=date(2026, 3, 1), until=date(2026, 3, 31))
        reports.top_users(limit=10, feature="chat")
        reports.over_time(granularity="week", model="gpt-4o")
        reports.over_time_by(by="feature", top=8)          # stacked: per bucket and feature
        reports.cache_use(rules=CacheRules(useful_hit_rate=Decimal("0.3")))
        reports.routes()                                   # per feature, routing tier, reason
        reports.whatif(Scenario(routes={"chat": "gpt-4o-mini"}))
        reports.alerts(kind="exhausted", limit=20)         # the alerts that fired, newest first

Reports read the rollups (the narrowest one that can answer), so they stay fast at any volume;
refusals have rollups of their own, and anomalies read the minute rollup and the last day of
events (partial days of a datetime range also come from events, and so do the repeated requests
of the features without a response cache, the cascades, and a what-if's groups of calls).
Money is exact ``Decimal``.
"""

from __future__ import annotations

from costcap.reports._alerts import AlertRecord
from costcap.reports._anomalies import alert_anomalies
from costcap.reports._cache import ADVICE_OFF, ADVICE_ON, CacheRules, cache_use_total
from costcap.reports._detect import AnomalyRules, describe, robust_baseline
from costcap.reports._open import NoLedger
from costcap.reports._pacing import (
    BudgetPace,
    Pace,
    PaceStatus,
    alert_pacing,
    pace,
    pace_rolling,
    pacing,
)
from costcap.reports._range import GRANULARITIES, Granularity, TimeRange, parse_when
from costcap.reports._reports import ANOMALIES_EARLIEST, Query, Reports
from costcap.reports._routes import CASCADE_ASSUMPTION, CascadeSavings, RouteSpend
from costcap.reports._rows import (
    OTHER_GROUP,
    Anomaly,
    CacheSavings,
    CostPerUser,
    FeatureCache,
    FeatureSpend,
    ModelEfficiency,
    ModelTierEfficiency,
    RefusedCalls,
    SpendBucket,
    StackedBucket,
    Totals,
    UserSpend,
)
from costcap.reports._spend import cache_total
from costcap.reports._whatif import Scenario, TokenRatio, WhatIf, WhatIfRow

__all__ = [
    "ADVICE_OFF",
    "ADVICE_ON",
    "ANOMALIES_EARLIEST",
    "CASCADE_ASSUMPTION",
    "GRANULARITIES",
    "OTHER_GROUP",
    "AlertRecord",
    "Anomaly",
    "AnomalyRules",
    "BudgetPace",
    "CacheRules",
    "CacheSavings",
    "CascadeSavings",
    "CostPerUser",
    "FeatureCache",
    "FeatureSpend",
    "Granularity",
    "ModelEfficiency",
    "ModelTierEfficiency",
    "NoLedger",
    "Pace",
    "PaceStatus",
    "Query",
    "RefusedCalls",
    "Reports",
    "RouteSpend",
    "Scenario",
    "SpendBucket",
    "StackedBucket",
    "TimeRange",
    "TokenRatio",
    "Totals",
    "UserSpend",
    "WhatIf",
    "WhatIfRow",
    "alert_anomalies",
    "alert_pacing",
    "cache_total",
    "cache_use_total",
    "describe",
    "pace",
    "pace_rolling",
    "pacing",
    "parse_when",
    "robust_baseline",
]
